"""End to end on the twin: the finetune graph as separate processes over DDS (loopback).

Two twin robots in separate namespaces feed one replay buffer and one learner. Checks: episodes
run with a reset-service call between every two of them; transitions reach the replay store
(both robots); the learner publishes new weight versions and both policy nodes load one; then
the policy node of one robot is killed mid-episode and its arm holds within the watchdog timeout.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .harness import Probe, launched, unique_domain

EPISODES = 2  # per robot (a reset between every two; the protocol itself: tests/core/test_episode_protocol.py)
WATCHDOG = 0.3  # s (the WidowX entry's arm watchdog_timeout, postbc_ros/robots/widowx.py)


def _read_log(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# real processes over DDS on a 2-core CI machine: a descheduled process can miss a supervision bound
# (heartbeat, watchdog, settle timing) once; a failure that repeats on the reruns is a real one
@pytest.mark.flaky(reruns=2, reruns_delay=5)
def test_two_twins_finetune_reset_replay_weights_and_watchdog(tiny_checkpoint, tmp_path, monkeypatch):
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.core.replay_store import ReplayStore
    from postbc_ros.ros import qos
    from postbc_ros.ros.conversions import from_time

    out = tmp_path / "run"
    node_tmp = tmp_path / "node_tmp"  # the nodes' temporary files (TMPDIR is inherited by every node)
    node_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(node_tmp))
    dom = unique_domain()
    args = {"checkpoint": str(tiny_checkpoint / "policy"), "namespaces": "robot1,robot2", "output_dir": str(out),
            "episodes": str(EPISODES + 3), "camera_rate": "0", "domain_id": str(dom)}
    with launched("finetune", args, tmp_path / "launch") as sup:
        probe = Probe(dom, use_sim_time=True, clock_topic="/robot1/clock")
        try:
            status = {ns: probe.subscribe(String, f"/{ns}/policy/status", qos.LATCHED) for ns in ("robot1", "robot2")}
            weights_meta = probe.subscribe(String, "/learner/metrics", qos.LATCHED)
            ep_state = probe.subscribe(String, "/robot1/episode/state", qos.EVENTS)
            cmds = probe.subscribe(JointTrajectory, "/robot1/arm/command", qos.COMMAND)
            diag = probe.subscribe(DiagnosticArray, "/robot1/arm/safety", qos.STATE)

            def episodes(ns):
                return [r for r in _read_log(out / f"episodes_{ns}.jsonl") if r["event"] == "episode"]

            def loaded(ns):
                return [json.loads(m.data)["weights_version"] for m in status[ns]]

            # --- episodes with resets, weights flowing to both policies --------------------------
            probe.wait_for(lambda: all(len(episodes(ns)) >= EPISODES for ns in ("robot1", "robot2")), 120,
                           f"{EPISODES} episodes on each twin")
            probe.wait_for(lambda: all(max(loaded(ns)) >= 1 for ns in ("robot1", "robot2")), 30,
                           "both policy nodes to load a learner weight version")
            for ns in ("robot1", "robot2"):
                log = _read_log(out / f"episodes_{ns}.jsonl")
                kinds = [r["event"] for r in log if r["event"] in ("reset", "episode")]
                # reset before the first episode and between EVERY two episodes
                n_ep = kinds.count("episode")
                assert kinds[: 2 * n_ep] == ["reset", "episode"] * n_ep, kinds
                eps = [r for r in log if r["event"] == "episode"]
                for prev, nxt in zip(eps, eps[1:]):
                    resets = [r for r in log if r["event"] == "reset" and prev["t_end"] <= r["t"] <= nxt["t_start"]]
                    assert len(resets) == 1, (prev, nxt, log)
            m = json.loads(weights_meta[-1].data)
            assert m["version"] >= 1 and m["grad_steps"] > 0

            # --- transitions reached the replay buffer, from both robots -------------------------
            for ns in ("robot1", "robot2"):
                store = ReplayStore(out / "replay" / ns, mode="r")
                assert sum(e.num_steps for e in store.episodes()) > 0
                eps = store.episodes()
                assert sum(e.complete for e in eps) >= EPISODES - 1
                meta, arrays = store.read_step(eps[0].episode, 0)
                assert meta["info"]["robot"] == ns and "extra/noise" in arrays and "obs/state" in arrays and arrays["action"].shape[1] == 4 and 1 <= len(arrays["action"]) <= 4
            # one learner trained on both robots' transitions
            assert set(m["transitions_by_robot"]) == {"robot1", "robot2"}
            assert all(n > 0 for n in m["transitions_by_robot"].values())

            # --- a human takes over robot2 (teleop_node's protocol): steps flagged as interventions --
            from std_msgs.msg import Bool, Float32MultiArray

            st2 = probe.subscribe(String, "/robot2/episode/state", qos.EVENTS)
            take = probe.publisher(Bool, "/robot2/teleop/intervention", qos.STATE)
            act = probe.publisher(Float32MultiArray, "/robot2/teleop/action", qos.STATE)
            probe.wait_for(lambda: st2 and json.loads(st2[-1].data)["state"] == "running", 30, "robot2 running")
            take.publish(Bool(data=True))
            for _ in range(10):
                act.publish(Float32MultiArray(data=[0.2, 0.0, -0.1, -1.0]))
                time.sleep(0.1)
            take.publish(Bool(data=False))

            def interventions():
                store = ReplayStore(out / "replay" / "robot2", mode="r")
                return sum(e.num_interventions for e in store.episodes())
            probe.wait_for(interventions, 20, "intervention steps in robot2's replay store")

            # --- kill robot1's policy mid-episode: the arm must hold within the watchdog timeout --
            probe.wait_for(lambda: ep_state and json.loads(ep_state[-1].data)["state"] == "running", 30,
                           "an episode to run")
            n_cmds = len(cmds)
            probe.wait_for(lambda: len(cmds) >= n_cmds + 3, 10, "policy commands in this episode")
            n_diag = len(diag)
            os.killpg(sup.procs["/robot1/policy"].pid, signal.SIGKILL)
            t_kill = time.monotonic()
            last_cmd_wall = probe.arrivals["/robot1/arm/command"][-1]
            last_cmd_stamp = from_time(cmds[-1].header.stamp)

            def watchdog_hold():
                for a in diag[n_diag:]:
                    for s in a.status:
                        if any(kv.key == "kind" and kv.value == "watchdog" for kv in s.values):
                            return a
                return None

            hold = probe.wait_for(watchdog_hold, 10, "the arm's watchdog hold")
            t_hold = probe.arrivals["/robot1/arm/safety"][diag.index(hold)]
            wall_latency = t_hold - max(last_cmd_wall, t_kill)
            print(f"\nwatchdog: hold reported {t_hold - t_kill:.3f} s after the kill, "
                  f"{t_hold - last_cmd_wall:.3f} s after the last command (timeout {WATCHDOG} s)")
            # the hold must come after the timeout (never early) and within it plus one control period
            # of the arm (20 Hz) and message latency
            assert t_hold - last_cmd_wall >= WATCHDOG - 0.05
            assert wall_latency <= WATCHDOG + 0.05 + 0.5, wall_latency
            del last_cmd_stamp
        finally:
            probe.close()
    # every weight version was unpacked into a temporary directory and loaded: none outlives its
    # load (robot1's policy was SIGKILLed, so at most the one it might have been loading then)
    left = sorted(p.name for p in node_tmp.glob("postbc_policy_weights_*"))
    assert len(left) <= 1, left
