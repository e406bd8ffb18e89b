"""The command side of a ros2_control joint_trajectory_controller, without ROS (sim_node's twin).

`JointTrajectoryController.command(...)` takes a received trajectory: empty = hold the measured
position (keeping the gripper setpoint); header stamp 0 = start now; points already past are
dropped; joints in any order, the gripper optional (it keeps its current setpoint). A trajectory
whose joint names do not cover the arm, or with a non-finite or malformed point, is rejected whole
and the reason returned. `setpoint(t)` is the (arm, gripper) target to servo to at time t:
linear interpolation through the points, the last point once they are all past.

Two guards stand behind the arm node's safety filter (only the arm node may command the
hardware, docs/fault_policy.md):

* `publishers(names, q)`: the nodes now publishing the command topic; while any of them is not
  `command_source` (the arm node), the controller holds and refuses every trajectory;
* a trajectory whose first point lies further than JUMP_STEPS x `max_step` from the reference (the
  last accepted point, or the measured position after a hold / reset, as the filter references
  its previous command) is refused and the controller holds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from postbc_ros.core.joint_mapping import command_rows, joint_names_problem
from postbc_ros.core.trajectory_follower import TrajectoryFollower

GRIPPER_RANGE = (0.0, 1.0)  # normalised gripper: 0 open .. 1 closed
# a first point may lie this many max_steps from the reference: the filter allows one; the arm's
# reference after a hold is the measured state it last received, up to one period behind ours
JUMP_STEPS = 2.0
JUMP_TOLERANCE = 1e-9  # rad: float slack on that bound


class JointTrajectoryController:
    def __init__(self, arm_joints: Sequence[str], gripper_joint: str, max_step=None,
                 command_source: str | None = None):
        """`max_step`: the arm's per-command step bound (rad per joint; None = no jump check);
        `command_source`: the fully qualified name of the only node allowed to publish
        trajectories (None = no publisher check)."""
        self.arm_joints = list(arm_joints)
        self.gripper_joint = gripper_joint
        self.n = len(self.arm_joints)
        self.max_step = None if max_step is None else np.broadcast_to(np.asarray(max_step, dtype=float), (self.n,))
        self.command_source = command_source
        self.intruders: tuple[str, ...] = ()  # publishers other than command_source, seen last
        self.refused = 0  # trajectories refused by the two guards
        self.follower = TrajectoryFollower(self.n + 1)
        self.target = np.zeros(self.n + 1)  # [q_1..q_n, gripper] servoed to when no trajectory runs
        self.reference: np.ndarray | None = None  # last accepted arm point; None: the measured position

    def reset(self, q, gripper: float = 0.0) -> None:
        """Forget any trajectory and servo to (q, gripper)."""
        self.follower.clear()
        self.target = np.append(np.asarray(q, dtype=float), float(gripper))
        self.reference = None

    def publishers(self, names: Sequence[str], q_measured) -> str | None:
        """The nodes publishing the command topic now. Returns a report when the set of intruders
        changed (None otherwise); holds at `q_measured` when one appears."""
        if self.command_source is None:
            return None
        intruders = tuple(sorted(set(names) - {self.command_source}))
        if intruders == self.intruders:
            return None
        self.intruders = intruders
        if intruders:
            self.reset(q_measured, self.target[-1])
            return (f"holding: publisher(s) other than {self.command_source}: {', '.join(intruders)}; "
                    "every trajectory is refused until they leave")
        return f"only {self.command_source} publishes again; trajectories accepted"

    def command(self, stamp: float, names: Sequence[str], positions: Sequence[Sequence[float]],
                times: np.ndarray, now: float, q_measured) -> str | None:
        """Install a trajectory (point times absolute, or relative to now when `stamp` is 0).
        Returns why it was rejected, or None."""
        if self.intruders:
            self.refused += 1
            return (f"trajectory refused: publisher(s) other than {self.command_source} on the command topic: "
                    f"{', '.join(self.intruders)}; holding")
        if len(positions) == 0:
            self.reset(q_measured, self.target[-1])
            return None
        problem = joint_names_problem(names, self.arm_joints, self.gripper_joint)
        if problem:
            return f"trajectory rejected: {problem}"
        rows = command_rows(positions, names, self.arm_joints, self.gripper_joint, self.n + 1, self.target[-1])
        if any(r.shape != (self.n + 1,) or not np.all(np.isfinite(r)) for r in rows):
            return "trajectory rejected: non-finite or malformed positions"
        jump = self._jump(rows[0][:-1], q_measured)
        if jump:
            self.refused += 1
            self.reset(q_measured, self.target[-1])
            return jump
        times = np.asarray(times, dtype=float) + (now if stamp == 0.0 else 0.0)
        self.follower.replace(times, np.vstack(rows), now, self.target.copy())
        self.reference = rows[-1][:-1].copy()
        return None

    def _jump(self, first, q_measured) -> str | None:
        """Why the first point jumps too far from the reference, or None."""
        if self.max_step is None:
            return None
        ref = np.asarray(q_measured, dtype=float) if self.reference is None else self.reference
        excess = np.abs(first - ref) - (JUMP_STEPS * self.max_step + JUMP_TOLERANCE)
        if not np.any(excess > 0):
            return None
        i = int(np.argmax(excess))
        return (f"trajectory rejected: first point moves {self.arm_joints[i]} by {abs(first[i] - ref[i]):.3f} rad "
                f"from {'the last commanded point' if self.reference is not None else 'the measured position'} "
                f"(at most {JUMP_STEPS:g} x max_step = {JUMP_STEPS * self.max_step[i]:.3f}); holding")

    def setpoint(self, t: float) -> tuple[np.ndarray, float]:
        """(arm joint targets, gripper target clipped to its range) to servo to at time t."""
        sp = self.follower.sample(t)
        if sp is not None:
            self.target = sp
        return self.target[:-1].copy(), float(np.clip(self.target[-1], *GRIPPER_RANGE))
