"""Kinematic fake arm: a first-order integrator toward the commanded setpoint, limited by the
spec's joint velocities. No physics; deterministic with an injected clock. For tests and
for dry-running the ROS graph without hardware or MuJoCo."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmInterface, ArmState


class FakeArm(ArmInterface):
    """q' = (target - q)/tau, |q'| <= velocity limit; the gripper follows with the same tau."""

    name = "fake"

    def __init__(self, robot: str, tau: float = 0.05, initial_q=None, clock: Callable[[], float] = time.monotonic,
                 control_dt: float | None = None) -> None:
        super().__init__(robot)
        if not tau > 0:
            raise ArmError(f"fake arm: tau must be > 0 seconds, got {tau!r}")
        self.tau = float(tau)
        self._clock = clock
        self._q = self.spec.home.copy() if initial_q is None else np.asarray(initial_q, float).copy()
        self._dq = np.zeros_like(self._q)
        self._target = self._q.copy()
        self._g = 0.0
        self._g_target = 0.0
        self._t = clock()
        self._connected = False
        self.commands: list[tuple[np.ndarray, float | None]] = []  # everything that was sent

    def connect(self) -> None:
        self._t = self._clock()
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def is_connected(self) -> bool:
        return self._connected

    def _advance(self) -> None:
        now = self._clock()
        dt = now - self._t
        self._t = now
        if dt <= 0:
            return
        alpha = 1.0 - np.exp(-dt / self.tau)
        step = np.clip((self._target - self._q) * alpha, -self.spec.velocity_limits * dt, self.spec.velocity_limits * dt)
        self._q = self._q + step
        self._dq = step / dt
        self._g += (self._g_target - self._g) * alpha

    def read_state(self) -> ArmState:
        self._require_connected()
        self._advance()
        return ArmState(q=self._q.copy(), dq=self._dq.copy(), gripper=float(self._g), stamp=self._t)

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        self._advance()
        self._target = self.spec.clip(q)
        if gripper is not None:
            self._g_target = gripper
        self.commands.append((q.copy(), gripper))

    def hold(self) -> None:
        self._require_connected()
        self._advance()
        self._target = self._q.copy()
