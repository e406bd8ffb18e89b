"""Map JointTrajectory points (any joint order, optional gripper) to command vectors
[q_1..q_n, gripper] (ROS-free). Shared by arm_node's controller and sim_node's twin.

`joint_names_problem` says why a trajectory's joint names cannot be mapped (missing, unknown or
repeated joints). `command_rows` passes a point it cannot map (bad names, or a length that differs
from the joint names) through *unchanged*, so the safety filter rejects it with an
`invalid_shape` intervention -- never silently dropped or padded here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def joint_names_problem(names: Sequence[str], arm_joints: Sequence[str], gripper_joint: str) -> str | None:
    """Why `names` cannot be mapped onto the arm joints (+ optional gripper), or None when they can."""
    names = list(names)
    missing = [n for n in arm_joints if n not in names]
    unknown = [n for n in names if n not in list(arm_joints) + [gripper_joint]]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if not (missing or unknown or repeated):
        return None
    return (f"joints {names} must be {list(arm_joints)} (+ optional {gripper_joint!r}) in any order; "
            f"missing {missing}, unknown {unknown}, repeated {repeated}")


def command_rows(points: Sequence[Sequence[float]], names: Sequence[str], arm_joints: Sequence[str],
                 gripper_joint: str, command_length: int, gripper_now: float | None) -> list[np.ndarray]:
    """One command vector per point; a point without a gripper value gets `gripper_now` (0 if None)."""
    full = list(arm_joints) + [gripper_joint]
    names = list(names)
    names_ok = joint_names_problem(names, arm_joints, gripper_joint) is None
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
