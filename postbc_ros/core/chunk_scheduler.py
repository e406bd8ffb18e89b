"""Timestamped action chunks for a policy that predicts H steps at a time.

A chunk predicted from an observation captured at `t_obs` is anchored in time: step i is due
at ``t_i = t_obs + i*dt + latency`` (latency = measured actuation/pipeline delay, calibration
data). Steps whose time has already passed when the chunk is ready (inference took long) are
dropped rather than executed late; they are always the leading ones. Each published chunk
replaces the arm's whole trajectory (core.trajectory_follower), so consecutive chunks never
interleave.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScheduledChunk:
    """The steps of one chunk that are still to come, with their due times."""

    t_obs: float  # stamp of the observation the chunk was predicted from
    t_first: float  # due time of step 0 (also when step 0 was dropped)
    times: np.ndarray  # due times of the kept steps [n]
    actions: np.ndarray  # the kept steps [n, A]
    dropped_past: int  # leading steps whose time had already passed


class ChunkScheduler:
    """dt: policy step period [s]; latency: added to every step time [s]."""

    def __init__(self, dt: float, latency: float = 0.0) -> None:
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"ChunkScheduler: dt must be > 0 seconds, got {dt!r}")
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"ChunkScheduler: latency must be >= 0 seconds, got {latency!r}")
        self.dt = float(dt)
        self.latency = float(latency)

    def step_times(self, t_obs: float, horizon: int) -> np.ndarray:
        """t_i = t_obs + i*dt + latency for i in 0..horizon-1."""
        return t_obs + np.arange(horizon) * self.dt + self.latency

    def schedule(self, actions: np.ndarray, t_obs: float, now: float) -> ScheduledChunk:
        """Anchor a chunk [H, A] predicted from an observation stamped `t_obs` at clock time `now`."""
        a = np.asarray(actions, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"ChunkScheduler.schedule: actions must be [H, A] with H >= 1, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("ChunkScheduler.schedule: actions contain NaN/Inf; reject the chunk upstream")
        times = self.step_times(float(t_obs), a.shape[0])
        dropped = int(np.count_nonzero(times < now))
        return ScheduledChunk(t_obs=float(t_obs), t_first=float(times[0]), times=times[dropped:],
                              actions=a[dropped:], dropped_past=dropped)
