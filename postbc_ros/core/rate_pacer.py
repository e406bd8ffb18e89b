"""Pace a loop at a fixed rate without catch-up bursts (ROS-free; camera_node's capture loop).

`RatePacer(rate).wait()` sleeps until the next tick of a `1/rate` grid. After a stall (a slow
device read, a busy machine) the grid moves to one period before now: the overdue tick and one
more return at once, then the loop resumes at its rate instead of firing every missed tick back
to back. Devices that pace themselves just find the wait already over; renderers and files are
held to the rate.
"""
from __future__ import annotations

import time
from typing import Callable


class RatePacer:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise ValueError(f"RatePacer: rate must be > 0 Hz, got {rate!r}")
        self.period = 1.0 / float(rate)
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        """Sleep until the next tick."""
        self._next += self.period
        self._sleep(max(0.0, self._next - self._clock()))
        self._next = max(self._next, self._clock() - self.period)
