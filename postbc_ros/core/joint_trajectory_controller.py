"""The command side of a ros2_control joint_trajectory_controller, without ROS (sim_node's twin).

`JointTrajectoryController.command(...)` takes a received trajectory: empty = hold the measured
position (keeping the gripper setpoint); header stamp 0 = start now; points already past are
dropped; joints in any order, the gripper optional (it keeps its current setpoint). A trajectory
whose joint names do not cover the arm, or with a non-finite or malformed point, is rejected whole
and the reason returned. `setpoint(t)` is the (arm, gripper) target to servo to at time t:
linear interpolation through the points, the last point once they are all past.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from postbc_ros.core.joint_mapping import command_rows, joint_names_problem
from postbc_ros.core.trajectory_follower import TrajectoryFollower

GRIPPER_RANGE = (0.0, 1.0)  # normalised gripper: 0 open .. 1 closed


class JointTrajectoryController:
    def __init__(self, arm_joints: Sequence[str], gripper_joint: str):
        self.arm_joints = list(arm_joints)
        self.gripper_joint = gripper_joint
        self.n = len(self.arm_joints)
        self.follower = TrajectoryFollower(self.n + 1)
        self.target = np.zeros(self.n + 1)  # [q_1..q_n, gripper] servoed to when no trajectory runs

    def reset(self, q, gripper: float = 0.0) -> None:
        """Forget any trajectory and servo to (q, gripper)."""
        self.follower.clear()
        self.target = np.append(np.asarray(q, dtype=float), float(gripper))

    def command(self, stamp: float, names: Sequence[str], positions: Sequence[Sequence[float]],
                times: np.ndarray, now: float, q_measured) -> str | None:
        """Install a trajectory (point times absolute, or relative to now when `stamp` is 0).
        Returns why it was rejected, or None."""
        if len(positions) == 0:
            self.reset(q_measured, self.target[-1])
            return None
        problem = joint_names_problem(names, self.arm_joints, self.gripper_joint)
        if problem:
            return f"trajectory rejected: {problem}"
        rows = command_rows(positions, names, self.arm_joints, self.gripper_joint, self.n + 1, self.target[-1])
        if any(r.shape != (self.n + 1,) or not np.all(np.isfinite(r)) for r in rows):
            return "trajectory rejected: non-finite or malformed positions"
        times = np.asarray(times, dtype=float) + (now if stamp == 0.0 else 0.0)
        self.follower.replace(times, np.vstack(rows), now, self.target.copy())
        return None

    def setpoint(self, t: float) -> tuple[np.ndarray, float]:
        """(arm joint targets, gripper target clipped to its range) to servo to at time t."""
        sp = self.follower.sample(t)
        if sp is not None:
            self.target = sp
        return self.target[:-1].copy(), float(np.clip(self.target[-1], *GRIPPER_RANGE))
