"""MuJoCo twin arm: drives the in-process `postbc_ros.sim` Twin (same joints, limits and
servo-rate limits as the real arm), advancing physics in step with the wall clock (or one
control period per command with realtime=False, for deterministic tests)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from postbc_ros.drivers.arm.base import ArmInterface, ArmState


class MujocoArm(ArmInterface):
    """Arm backed by a Twin. Pass `twin` to share one with a camera/sim, else one is built
    for `robot` (and `task`, default none: just the arm)."""

    name = "mujoco"

    def __init__(self, robot: str, twin=None, task: str | None = None, realtime: bool = True,
                 control_dt: float | None = None, max_catchup: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(robot)
        self._twin = twin
        self._task = task
        self._control_dt = control_dt
        self.realtime = bool(realtime)
        self.max_catchup = float(max_catchup)
        self._clock = clock
        self._t_wall = 0.0
        self._connected = False
        self._g_target = 0.0

    @property
    def twin(self):
        return self._twin

    def connect(self) -> None:
        if self._twin is None:
            from postbc_ros.sim.twin import Twin

            kw = {} if self._control_dt is None else {"control_dt": float(self._control_dt)}
            self._twin = Twin(self.robot, self._task, **kw)
        if self._twin.spec.name != self.robot:
            raise ValueError(f"mujoco arm: twin is a {self._twin.spec.name}, backend asked for {self.robot}")
        self._t_wall = self._clock()
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def is_connected(self) -> bool:
        return self._connected

    def _catch_up(self) -> None:
        """Advance the simulation to the wall clock (bounded, so a paused process does not
        make the twin fast-forward minutes at once)."""
        if not self.realtime:
            return
        now = self._clock()
        behind = min(now - self._t_wall, self.max_catchup)
        n = int(behind / self._twin.control_dt)
        if n > 0:
            self._twin.step(n * self._twin.n_substeps)
            self._t_wall += n * self._twin.control_dt
        if now - self._t_wall > self.max_catchup:
            self._t_wall = now

    def read_state(self) -> ArmState:
        self._require_connected()
        self._catch_up()
        tw = self._twin
        return ArmState(q=tw.joint_positions(), dq=tw.joint_velocities(), gripper=tw.gripper_position(), stamp=self._clock())

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        self._catch_up()
        if gripper is not None:
            self._g_target = gripper
        self._twin.set_joint_targets(q, self._g_target)
        if not self.realtime:
            self._twin.step()

    def hold(self) -> None:
        self._require_connected()
        self._catch_up()
        self._twin.set_joint_targets(self._twin.joint_positions(), self._g_target)
