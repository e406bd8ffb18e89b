"""Latest measured positions of a node's joints, from `joint_states`.

A JointState that lacks some of the expected joints (a different arm driver, a renamed gripper
joint) leaves the last good positions in place; the node logs what is missing and how to fix
it once per distinct problem, instead of waiting silently for positions that never arrive.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


class JointTracker:
    def __init__(self, names: Sequence[str], warn: Callable[[str], None], hint: str = ""):
        self.names = list(names)
        self.warn = warn
        self.hint = hint
        self.q: np.ndarray | None = None
        self._reported: tuple[str, ...] | None = None

    def update(self, msg) -> None:
        """Subscription callback for sensor_msgs/JointState."""
        index = {n: i for i, n in enumerate(msg.name)}
        missing = tuple(n for n in self.names if n not in index)
        if missing:
            if missing != self._reported:
                self._reported = missing
                self.warn(f"joint_states lacks joints {list(missing)} (has {list(msg.name)}); "
                          f"ignoring it until they arrive. {self.hint}".rstrip())
            return
        if len(msg.position) < len(msg.name):
            if self._reported != ("<positions>",):
                self._reported = ("<positions>",)
                self.warn(f"joint_states has {len(msg.name)} names but {len(msg.position)} positions; ignoring it")
            return
        q = np.array([msg.position[index[n]] for n in self.names], dtype=float)
        if not np.all(np.isfinite(q)):
            if self._reported != ("<nonfinite>",):
                self._reported = ("<nonfinite>",)
                self.warn(f"joint_states carries non-finite positions {q.tolist()}; keeping the last finite ones")
            return
        self._reported = None
        self.q = q
