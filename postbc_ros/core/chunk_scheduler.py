"""Timestamped action chunks for a policy that predicts H steps at a time.

A chunk predicted from an observation captured at `t_obs` is anchored in time: step i is due
at ``t_i = t_obs + i*dt + latency`` (latency = measured actuation/pipeline delay, calibration
data). Only the first `execute_steps` (k of H) steps are used. Steps whose time has already
passed when the chunk arrives (inference took long) are dropped rather than executed late.
A new chunk replaces the not-yet-executed remainder of the previous one from its own first
step on (a boundary in time), so consecutive chunks never interleave.

`action_at(t)` interpolates between scheduled points so a servo loop faster than the policy's
dt (e.g. 500 Hz servoJ for a 10 Hz policy) gets a smooth reference; `pop_due(t)` gives the
discrete steps for a loop running at dt.
"""
from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class ScheduledStep:
    t: float  # due time (clock seconds)
    action: np.ndarray
    chunk_id: int
    index: int  # index within its chunk


@dataclass(frozen=True)
class SubmitReport:
    """What `submit` did with a chunk (useful for diagnostics / latency tuning)."""

    chunk_id: int
    accepted: int  # steps scheduled
    dropped_past: int  # steps whose time had already passed
    replaced: int  # steps of earlier chunks that were replaced


class ChunkScheduler:
    """Schedules action chunks in time; thread-safe (policy thread submits, control loop reads).

    dt: policy step period [s]; latency: added to every step time [s]; execute_steps: k, the
    number of leading steps of each chunk to use (None = all); interpolation: "linear" or
    "hold" (zero-order hold) for `action_at`; late_tolerance: a step that is at most this late
    on arrival is still kept (and due immediately).
    """

    def __init__(
        self,
        dt: float,
        latency: float = 0.0,
        execute_steps: int | None = None,
        interpolation: str = "linear",
        late_tolerance: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"ChunkScheduler: dt must be > 0 seconds, got {dt!r}")
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"ChunkScheduler: latency must be >= 0 seconds, got {latency!r}")
        if execute_steps is not None and int(execute_steps) < 1:
            raise ValueError(f"ChunkScheduler: execute_steps must be >= 1 (or None for all), got {execute_steps!r}")
        if interpolation not in ("linear", "hold"):
            raise ValueError(f"ChunkScheduler: interpolation must be 'linear' or 'hold', got {interpolation!r}")
        self.dt = float(dt)
        self.latency = float(latency)
        self.execute_steps = None if execute_steps is None else int(execute_steps)
        self.interpolation = interpolation
        self.late_tolerance = float(late_tolerance)
        self._clock = clock
        self._steps: list[ScheduledStep] = []  # sorted by t; includes the last passed step
        self._times: list[float] = []
        self._next_id = 0
        self._popped_until = -math.inf
        self._lock = threading.Lock()

    def step_times(self, t_obs: float, horizon: int) -> np.ndarray:
        """t_i = t_obs + i*dt + latency for i in 0..horizon-1."""
        return t_obs + np.arange(horizon) * self.dt + self.latency

    def submit(self, actions: np.ndarray, t_obs: float, now: float | None = None) -> SubmitReport:
        """Schedule a chunk [H, A] predicted from an observation stamped `t_obs`."""
        a = np.asarray(actions, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"ChunkScheduler.submit: actions must be [H, A] with H >= 1, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("ChunkScheduler.submit: actions contain NaN/Inf; reject the chunk upstream")
        if self._steps and self._steps[0].action.shape != a.shape[1:]:
            raise ValueError(f"ChunkScheduler.submit: action dim {a.shape[1]} differs from scheduled {self._steps[0].action.shape[0]}")
        now = self._clock() if now is None else now
        k = a.shape[0] if self.execute_steps is None else min(self.execute_steps, a.shape[0])
        times = self.step_times(float(t_obs), k)
        keep = times >= now - self.late_tolerance
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            new = [ScheduledStep(float(max(t, now) if t < now else t), a[i].copy(), cid, i) for i, t in enumerate(times) if keep[i]]
            replaced = 0
            if new:
                boundary = new[0].t
                # keep the old steps before the boundary, plus the last one already passed (the
                # interpolation anchor); replace everything from the boundary on
                old_keep = [s for s in self._steps if s.t < boundary]
                replaced = len(self._steps) - len(old_keep)
                self._steps = old_keep + new
                self._times = [s.t for s in self._steps]
            return SubmitReport(chunk_id=cid, accepted=len(new), dropped_past=int((~keep).sum()), replaced=replaced)

    def _prune(self, t: float) -> None:
        # keep one step at or before t as interpolation anchor
        i = bisect.bisect_right(self._times, t)
        if i > 1:
            del self._steps[: i - 1]
            del self._times[: i - 1]

    def action_at(self, t: float | None = None) -> np.ndarray | None:
        """Reference action at time `t`, interpolated; None before the first step or after the
        last one (nothing scheduled: the caller holds)."""
        t = self._clock() if t is None else t
        with self._lock:
            self._prune(t)
            if not self._steps:
                return None
            i = bisect.bisect_right(self._times, t)  # steps[:i] are <= t
            if i == 0:
                return None
            if i == len(self._steps):
                last = self._steps[-1]
                # the last step holds for one dt, then the schedule is exhausted
                return last.action.copy() if t <= last.t + self.dt else None
            s0, s1 = self._steps[i - 1], self._steps[i]
            if self.interpolation == "hold" or s1.t <= s0.t:
                return s0.action.copy()
            w = (t - s0.t) / (s1.t - s0.t)
            return (1.0 - w) * s0.action + w * s1.action

    def pop_due(self, t: float | None = None) -> list[ScheduledStep]:
        """Steps whose time is <= t and that were not popped before (for a dt-rate loop)."""
        t = self._clock() if t is None else t
        with self._lock:
            out = [s for s in self._steps if self._popped_until < s.t <= t]
            if out:
                self._popped_until = out[-1].t
            return out

    def remaining(self, t: float | None = None) -> int:
        """Number of scheduled steps strictly after `t`."""
        t = self._clock() if t is None else t
        with self._lock:
            return len(self._times) - bisect.bisect_right(self._times, t)

    def exhausted(self, t: float | None = None) -> bool:
        """True when nothing is scheduled at or after `t` (time to ask the policy again)."""
        return self.action_at(t) is None and self.remaining(t) == 0

    def clear(self) -> None:
        """Drop every scheduled step (episode end, estop)."""
        with self._lock:
            self._steps.clear()
            self._times.clear()
            self._popped_until = -math.inf
