"""Policy actions (the env's action space) -> joint setpoints for JointTrajectory (ROS-free).

Policies are trained on the twin env's actions: `ee_delta` [dx, dy, dz, gripper] (tool-point
steps through the env's IK layer) or `joint_delta` [dq_1..dq_6, gripper], gripper in [-1, 1].
The arm (real or twin) takes joint positions + a normalised gripper (0 open .. 1 closed).
`ActionAdapter` runs the env's own action -> setpoint code (TwinTaskEnv.apply_action:
commanded tool point, re-anchoring, ee box, damped-least-squares IK on the arm's MJCF model),
so a chunk executed over ROS moves the arm exactly as in training. Within a chunk the arm is
assumed to track its setpoints (the re-anchoring check uses the commanded pose for steps > 0).
"""
from __future__ import annotations

import numpy as np


class ActionAdapter:
    def __init__(self, robot: str, task: str, control: str = "ee_delta"):
        from postbc_ros.sim.envs import TwinTaskEnv

        self.env = TwinTaskEnv(robot, task, control=control)
        self.twin = self.env.twin
        self.control = control
        self.n = len(self.twin.joint_names)
        self.action_dim = int(self.env.action_space.shape[0])

    def _set_measured(self, q: np.ndarray) -> None:
        self.twin.set_joint_positions(q)  # kinematic: the model mirrors the measured arm

    def reset(self, q: np.ndarray, gripper: float = 0.0) -> None:
        """Start of an episode: commanded pose = measured pose (as env.reset does)."""
        self._set_measured(q)
        self.env.sync_commands(q, gripper)

    def targets(self, actions: np.ndarray, q_measured: np.ndarray) -> np.ndarray:
        """[k, action_dim] actions -> [k, n_joints + 1] setpoints (joints, gripper 0..1)."""
        acts = np.asarray(actions, dtype=float)
        if acts.ndim != 2 or acts.shape[1] != self.action_dim:
            raise ValueError(f"ActionAdapter({self.control}): actions must be [k, {self.action_dim}], got {acts.shape}")
        self._set_measured(q_measured)
        out = np.zeros((len(acts), self.n + 1))
        for i, a in enumerate(acts):
            q_cmd, grip = self.env.apply_action(np.clip(a, -1.0, 1.0))
            out[i, : self.n] = q_cmd
            out[i, self.n] = grip
            self._set_measured(q_cmd)  # assume tracking for the next step of the chunk
        return out
