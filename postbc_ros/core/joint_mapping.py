"""Map JointTrajectory points (any joint order, optional gripper) to safety-filter command
vectors [q_1..q_n, gripper] (ROS-free).

A point whose joint names do not cover the arm exactly (missing, unknown or repeated joints) or
whose length differs from its joint names is passed through *unchanged*, so the safety filter
rejects it with an `invalid_shape` intervention -- never silently dropped or padded here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def command_rows(points: Sequence[Sequence[float]], names: Sequence[str], arm_joints: Sequence[str],
                 gripper_joint: str, command_length: int, gripper_now: float | None) -> list[np.ndarray]:
    full = list(arm_joints) + [gripper_joint]
    names = list(names)
    names_ok = set(arm_joints) <= set(names) <= set(full) and len(names) == len(set(names))
    n = len(arm_joints)
    rows = []
    for pt in points:
        raw = np.asarray(pt, dtype=float)
        if not names_ok or raw.shape != (len(names),):
            rows.append(raw)
            continue
        cmd = np.zeros(command_length)
        if command_length > n:
            cmd[n] = gripper_now if gripper_now is not None else 0.0
        for j, name in enumerate(names):
            k = full.index(name)
            if k < command_length:
                cmd[k] = raw[j]
        rows.append(cmd)
    return rows
