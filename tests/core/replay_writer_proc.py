"""Subprocess for the crash test: appends steps forever, printing each committed index."""
import sys

import numpy as np

from postbc_ros.core.replay_store import ReplayStore

root = sys.argv[1]
store = ReplayStore(root, mode="a", fsync="step")
store.begin_episode("online", {"writer": "crash-test"})
i = 0
while True:
    obs = {"state": np.full(7, i, np.float32), "scene": np.full((16, 16, 3), i % 255, np.uint8)}
    store.add_step(obs, np.full(4, i, np.float32), reward=float(i % 2), intervention=i % 3 == 0, extra={"noise": np.full((4, 4), i, np.float32)})
    print(i, flush=True)
    i += 1
