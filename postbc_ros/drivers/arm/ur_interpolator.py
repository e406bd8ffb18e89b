"""Joint-space interpolation between the arm node's setpoints, sampled by the UR servo loop.

arm_node sends a setpoint every control period (20 Hz by default); the UR controller wants one
every robot step (500 Hz e-Series, 125 Hz CB3). Like Diffusion Policy's real-world RTDE controller
(`PoseTrajectoryInterpolator.drive_to_waypoint`, here for joints), each new setpoint starts a
straight segment from where the interpolated command is *now* to the setpoint, reached one arm
period later: with on-time setpoints the segment runs between the last two received targets; a
late one makes the command wait at the last target (never extrapolate), an early one bends the
path without a jump. A joint-speed bound stretches a segment that would be too fast.
"""
from __future__ import annotations

import numpy as np


class JointInterpolator:
    """Piecewise-linear command q(t): constant `q0` before `t0`, linear to `q1` at `t1`, constant after."""

    def __init__(self, t: float, q) -> None:
        q = np.asarray(q, dtype=float).reshape(-1)
        self.t0 = self.t1 = float(t)
        self.q0 = q.copy()
        self.q1 = q.copy()

    def __call__(self, t: float) -> np.ndarray:
        if t >= self.t1:
            return self.q1.copy()
        if t <= self.t0:
            return self.q0.copy()
        w = (t - self.t0) / (self.t1 - self.t0)
        return self.q0 + w * (self.q1 - self.q0)

    def drive_to(self, q, t_now: float, duration: float, max_speed=None) -> None:
        """New segment: from the command at `t_now` to `q` after `duration` s (longer if a joint
        would exceed `max_speed` rad/s, a scalar or one bound per joint)."""
        q = np.asarray(q, dtype=float).reshape(-1)
        start = self(t_now)
        if max_speed is not None:
            duration = max(duration, float(np.max(np.abs(q - start) / np.asarray(max_speed, dtype=float))))
        self.t0, self.q0 = float(t_now), start
        self.t1, self.q1 = float(t_now) + max(float(duration), 0.0), q.copy()

    def reset(self, t: float, q) -> None:
        """Hold `q` from `t` on (after a stop the command restarts from the measured position)."""
        self.__init__(t, q)

    @property
    def target(self) -> np.ndarray:
        """The last setpoint (where the command ends up)."""
        return self.q1.copy()
