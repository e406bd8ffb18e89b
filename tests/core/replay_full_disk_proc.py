"""Subprocess for the full-disk tests: writes a replay store while the OS refuses to let files grow
(RLIMIT_FSIZE, the same EFBIG/partial-write path as a full disk), then lifts the limit and goes on.
Prints one JSON line per event. argv: ROOT FSYNC SCENARIO (store: ReplayStore itself; stream: the
EpisodeStreamWriter the replay_buffer node uses)."""
import json
import resource
import signal
import sys
from pathlib import Path

import numpy as np

from postbc_ros.core.episode_stream import EpisodeStreamWriter
from postbc_ros.core.replay_store import ReplayStore, ReplayStoreError
from postbc_ros.core.transition import Transition

UNLIMITED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


def obs(t):
    return {"state": np.full(5, t, np.float32), "image": np.full((8, 8, 3), t, np.uint8)}


def limit_to(nbytes):
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))


def attempt(what, fn):
    try:
        out = fn()
        print(json.dumps({"event": what, "ok": True, "result": out}), flush=True)
    except ReplayStoreError as e:
        print(json.dumps({"event": what, "ok": False, "error": str(e)}), flush=True)


def store_scenario(store):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
    store.begin_episode("online")
    for t in range(5):
        store.add_step(obs(t), np.full(4, t, np.float32))
    seg = Path(store.root) / "episodes" / "ep_00000000" / "seg_000000.rec"  # the layout the store documents
    print(json.dumps({"event": "segment size before the failures", "bytes": seg.stat().st_size}), flush=True)
    limit_to(seg.stat().st_size + 100)  # room for the first 100 bytes of the next record only
    for t in (5, 6):
        attempt(f"step {t}", lambda: store.add_step(obs(t), np.full(4, t, np.float32)))
    print(json.dumps({"event": "segment size after the failures", "bytes": seg.stat().st_size}), flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, UNLIMITED)  # space freed
    for t in (7, 8, 9):
        attempt(f"step {t}", lambda: store.add_step(obs(t), np.full(4, t, np.float32)))
    attempt("end", lambda: store.end_episode(True, final_obs=obs(10)).num_steps)
    limit_to(1)  # not even a begin record fits in a new segment file
    attempt("begin while full", lambda: store.begin_episode("online"))
    resource.setrlimit(resource.RLIMIT_FSIZE, UNLIMITED)
    attempt("begin after", lambda: store.begin_episode("online"))
    attempt("step 0 of the next episode", lambda: store.add_step(obs(0), np.full(4, 0, np.float32)))
    attempt("end of the next episode", lambda: store.end_episode(False).num_steps)
    store.close()


def stream_scenario(store):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    w = EpisodeStreamWriter(store, {"robot": "r1"})

    def step(episode, t, end=False, success=None):
        return Transition(obs=obs(t), next_obs=obs(t + 1), action=np.full((1, 4), t, np.float32), reward=0.0,
                          discount=0.9, done=False, steps=1, robot="r1", episode=episode, episode_end=end,
                          success=success)

    w.write(step(0, 0))
    w.write(step(0, 1))
    limit_to(1)  # full: neither the last step of episode 0 nor its end record fits
    attempt("last step of episode 0", lambda: w.write(step(0, 2, True, True)))
    resource.setrlimit(resource.RLIMIT_FSIZE, UNLIMITED)
    attempt("first step of episode 1", lambda: w.write(step(1, 0)))
    attempt("last step of episode 1", lambda: w.write(step(1, 1, True, False)))
    limit_to(1)
    attempt("first step of episode 2", lambda: w.write(step(2, 0)))  # its begin record does not fit
    resource.setrlimit(resource.RLIMIT_FSIZE, UNLIMITED)
    attempt("second step of episode 2", lambda: w.write(step(2, 1, True, True)))
    print(json.dumps({"event": "episodes begun", "n": w.episodes_begun}), flush=True)
    store.close()


def run(root_dir, fsync: str, scenario: str) -> dict[str, dict]:
    """For the tests: run a scenario in a subprocess; its events by name."""
    import os
    import subprocess

    repo = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, __file__, str(root_dir), fsync, scenario],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {e["event"]: e for e in map(json.loads, proc.stdout.splitlines())}


if __name__ == "__main__":
    root = sys.argv[1]
    store = ReplayStore(root, mode="a", fsync=sys.argv[2])
    {"store": store_scenario, "stream": stream_scenario}[sys.argv[3]](store)
