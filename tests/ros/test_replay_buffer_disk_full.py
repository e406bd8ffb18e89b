"""replay_buffer_node as its own process when its disk fills up mid-run: it stays up, says which
transitions were not stored and why, forwards only what is on disk, and stores again once there is
room. The full disk is the OS's own refusal to grow a file (RLIMIT_FSIZE set on the running node
with prlimit: a partial write, then EFBIG), not a patched store."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from postbc_ros.ros.bootstrap import dds_env

from .harness import Probe, stop_node_process, unique_domain

ROOT = Path(__file__).resolve().parents[2]


def _ignore_sigxfsz():  # in the node's process: a refused write fails with EFBIG instead of killing it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _transition(ep: int, t: int, end: bool = False):
    from postbc_ros.core.transition import Transition

    return Transition(obs={"state": np.full(13, t, np.float32)}, next_obs={"state": np.full(13, t + 1, np.float32)},
                      action=np.full((4, 4), t, np.float32), noise=np.zeros(16, np.float32), reward=float(end),
                      done=end, discount=0.96, steps=4, robot="robot1", episode=ep, policy_version=0,
                      t_obs=float(t), episode_end=end, success=True if end else None)


def test_replay_node_survives_a_full_disk_and_stores_again_when_there_is_room(tmp_path):
    from std_msgs.msg import String, UInt8MultiArray

    from postbc_ros.core import wire
    from postbc_ros.core.replay_store import ReplayStore
    from postbc_ros.core.transition import Transition
    from postbc_ros.ros import conversions as conv
    from postbc_ros.ros import qos

    dom = unique_domain()
    store_dir = tmp_path / "replay"
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/replay_buffer": {"ros__parameters": {"store_dir": str(store_dir)}}}))
    env = dds_env(domain_id=dom, base=dict(os.environ, PYTHONPATH=str(ROOT), ROS_LOG_DIR=str(tmp_path / "roslog")))
    proc = subprocess.Popen([sys.executable, "-m", "postbc_ros.nodes.replay_buffer_node", "--ros-args",
                             "--params-file", str(params)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, text=True, preexec_fn=_ignore_sigxfsz)
    probe = Probe(dom)
    try:
        stored = probe.subscribe(UInt8MultiArray, "/replay/stored", qos.STREAM)
        stats = probe.subscribe(String, "/replay/stats", qos.LATCHED)
        pub = probe.publisher(UInt8MultiArray, "/replay/transitions", qos.STREAM)
        probe.wait_for(lambda: stats and pub.get_subscription_count() > 0, 30, "the replay node")

        def send(ep, t, end=False, expect_stored=None):
            n = len(stored)
            pub.publish(conv.bytes_msg(_transition(ep, t, end).to_wire()))
            if expect_stored:
                probe.wait_for(lambda: len(stored) > n, 10, f"episode {ep} step {t} stored")

        def count(key):
            return json.loads(stats[-1].data)[key]

        # a message that is not a transition (a field missing) is counted as rejected, not stored
        tr = _transition(0, 0)
        pub.publish(conv.bytes_msg(wire.pack_transition(
            {k: v for k, v in tr.scalars().items() if k != "reward"}, tr.arrays())))
        for t in range(3):
            send(0, t, expect_stored=True)
        # the disk fills up: no file of the node may grow any more
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        n_stored = len(stored)
        for t in (3, 4):
            send(0, t)
        send(0, 5, end=True)
        probe.wait_for(lambda: count("not_stored") == 3, 10, "three transitions reported as not stored")
        assert len(stored) == n_stored  # the learner is never sent what is not on disk
        assert count("rejected") == 1
        assert proc.poll() is None, "the replay node died on a full disk"
        # room again: the next episode is stored, and episode 0 is closed with its label
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for t in range(2):
            send(1, t, end=t == 1, expect_stored=True)
        last = Transition.from_wire(conv.msg_bytes(stored[-1]))
        assert last.episode == 1 and last.store_step == 1 and last.seq == 5
        probe.wait_for(lambda: count("transitions") == 5 and count("episodes") == 2, 10, "stats")
    finally:
        probe.close()
        out = stop_node_process(proc, signal.SIGINT, 15)
    assert proc.returncode == 0, out
    assert "robot1: transition not stored (1 so far)" in out and "free space there" in out, out
    assert "dropped a message (missing_field): TransitionError: transition record: missing field(s) ['reward']" in out, out
    r = ReplayStore(store_dir / "robot1")
    assert not r.recovered
    got = [(e.meta["policy_episode"], e.num_steps, e.complete, e.success, e.lost_steps) for e in r.episodes()]
    assert got == [(0, 3, True, True, 3), (1, 2, True, True, 0)]
