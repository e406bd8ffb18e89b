"""arm_node without ROS: an `ArmController` whose decisions are executed on an arm backend.

`ArmLoop` owns the backend (anything with the drivers' ArmInterface surface: name, connect(),
disconnect(), read_state() -> state with q, dq, gripper; send(q, gripper); hold()) and the one
lock under which commands, control periods, services and lifecycle changes run. arm_node
converts messages and calls `command`, `control`, `activate`, `enable`, `home`, `close`; the
interventions of every decision go to the `report` callback (the node publishes arm/safety).
arm/home succeeds once every joint is within HOME_TOLERANCE of home, and fails after
`home_deadline(planned duration)`.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

import numpy as np

from postbc_ros.core.arm_controller import ArmController, Decision

HOME_TOLERANCE = 0.02  # rad: arm/home succeeds once every joint is this close to home
HOME_DEADLINE_FACTOR = 3.0  # arm/home fails after this many times the planned move's duration ...
HOME_DEADLINE_MARGIN_S = 5.0  # ... plus this margin (s)
HOME_POLL_S = 0.05  # s between position checks while homing


def home_deadline(duration: float) -> float:
    """Seconds arm/home waits for a move planned to take `duration` s."""
    return duration * HOME_DEADLINE_FACTOR + HOME_DEADLINE_MARGIN_S


class ArmLoop:
    def __init__(self, controller: ArmController, home_q, report: Callable[[Decision], None], logger,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.ctl = controller
        self.home_q = np.asarray(home_q, dtype=float)
        self._report = report
        self._log = logger  # .info / .warning (an rclpy or a logging logger)
        self._clock, self._sleep = clock, sleep  # wall time for the arm/home wait
        self.lock = threading.RLock()
        self.backend = None

    def connect(self, backend) -> None:
        """Connect `backend` and execute decisions on it from now on (nothing on an exception)."""
        backend.connect()
        with self.lock:
            self.backend = backend
        self._log.info(f"connected ({backend.name})")

    def measured(self) -> tuple[np.ndarray, np.ndarray | None, float | None]:
        st = self.backend.read_state()
        return np.asarray(st.q, float), (None if st.dq is None else np.asarray(st.dq, float)), st.gripper

    def _apply(self, d: Decision | None) -> None:
        if d is None or self.backend is None:
            return
        if d.interventions:
            self._report(d)
        if d.hold:
            self.backend.hold()
            self._log.info(f"holding ({d.reason})")
        if d.command is not None:
            self.backend.send(*self.ctl.split(d.command))

    def command(self, stamp: float, names: Sequence[str], points: Sequence[Sequence[float]], times: np.ndarray,
                now: float) -> None:
        """A received trajectory (ignored while no backend is connected)."""
        with self.lock:
            if self.backend is None:
                return
            q, dq, g = self.measured()
            self._apply(self.ctl.trajectory(stamp, names, points, times, now, q, dq, g))

    def control(self, clock: Callable[[], float]) -> tuple[float, list[str], np.ndarray] | None:
        """One control period at `clock()` (read once the state is measured). Returns the measured
        joint state (t, joint names (+ gripper when the backend has one), positions), or None when
        no backend is connected or it has no state yet."""
        with self.lock:
            if self.backend is None:
                return None
            try:
                q, dq, g = self.measured()
            except RuntimeError:
                return None
            t = clock()
            self._apply(self.ctl.step(t, q, dq, g))
            if g is None:
                return t, list(self.ctl.names), q
            return t, self.ctl.names + [self.ctl.gripper_joint], np.append(q, g)

    def activate(self, on: bool) -> None:
        """Lifecycle activate (motion allowed) / deactivate (hold)."""
        with self.lock:
            self._apply(self.ctl.activate(on))
        if on:
            self._log.info("active: motion allowed")

    def enable(self, on: bool) -> str:
        """arm/enable (arm/stop = enable(False)); returns the service's reply."""
        with self.lock:
            self._apply(self.ctl.enable(on))
        return "enabled" if on else "disabled: holding; call arm/enable true to resume"

    def home(self, now: float, speed: float) -> tuple[bool, str]:
        """Move home at `speed` x the velocity limit and wait for it: (reached, message)."""
        with self.lock:
            if self.backend is None or not self.ctl.active:
                return False, "arm not active (configure + activate first)"
            q, _dq, g = self.measured()
            timeout = home_deadline(self.ctl.home(now, q, g, self.home_q, speed))
        deadline = self._clock() + timeout
        while self._clock() < deadline:
            if np.max(np.abs(self.measured()[0] - self.home_q)) < HOME_TOLERANCE:
                return True, "home"
            self._sleep(HOME_POLL_S)
        return False, f"did not reach home within {timeout:.1f} s"

    def close(self) -> None:
        """Hold and disconnect (a failure is logged: closing must finish)."""
        with self.lock:
            if self.backend is None:
                return
            try:
                self._apply(self.ctl.activate(False))
                self.backend.disconnect()
            except Exception as e:
                self._log.warning(f"disconnect: {e}")
            self.backend = None
