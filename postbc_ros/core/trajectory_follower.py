"""Time-parametrised setpoint following, the way a joint_trajectory_controller does it (ROS-free).

`TrajectoryFollower.replace(times, positions, now, current)` installs a new trajectory
(absolute times in seconds); `sample(now)` returns the setpoint to command now: linear
interpolation from the setpoint at the moment of replacement through the points, the last point
once they are all past. Points already in the past when the trajectory arrives are dropped
(the command would be stale), as a joint_trajectory_controller does. An empty trajectory means
hold the current position.
"""
from __future__ import annotations

import numpy as np


class TrajectoryFollower:
    def __init__(self, n: int):
        self.n = int(n)
        self._t = np.zeros(0)
        self._q = np.zeros((0, self.n))
        self.last_point_time: float | None = None

    @property
    def active(self) -> bool:
        return self._t.size > 0

    def clear(self) -> None:
        self._t = np.zeros(0)
        self._q = np.zeros((0, self.n))
        self.last_point_time = None

    def replace(self, times: np.ndarray, positions: np.ndarray, now: float, current: np.ndarray) -> int:
        """Install a trajectory; returns how many of its points were dropped as already past."""
        times = np.asarray(times, dtype=float).reshape(-1)
        positions = np.asarray(positions, dtype=float).reshape(len(times), self.n)
        keep = times > now
        dropped = int((~keep).sum())
        times, positions = times[keep], positions[keep]
        if times.size == 0:
            self.clear()
            return dropped
        start = self.sample(now)
        start = np.asarray(current, dtype=float) if start is None else start
        self._t = np.concatenate([[now], times])
        self._q = np.vstack([start[None], positions])
        self.last_point_time = float(times[-1])
        return dropped

    def sample(self, now: float) -> np.ndarray | None:
        """Setpoint at `now` (None when no trajectory is installed)."""
        if self._t.size == 0:
            return None
        if now >= self._t[-1]:
            return self._q[-1].copy()
        if now <= self._t[0]:
            return self._q[0].copy()
        i = int(np.searchsorted(self._t, now, side="right"))
        t0, t1 = self._t[i - 1], self._t[i]
        a = (now - t0) / (t1 - t0) if t1 > t0 else 1.0
        return (1 - a) * self._q[i - 1] + a * self._q[i]

    def finished(self, now: float) -> bool:
        return self._t.size == 0 or now >= self._t[-1]
