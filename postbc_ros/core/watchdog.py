"""Command watchdog: hold the arm when no fresh command arrived within a timeout.

Freshness is measured from the command's own capture/creation stamp when one is given (time
is data: a command that spent 300 ms in a queue is stale on arrival), otherwise from the
moment it was fed. The clock is injectable so tests and the simulator can drive time.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class WatchdogStatus:
    """Snapshot returned by `Watchdog.check`."""

    fresh: bool  # a command newer than `timeout` exists: the arm may move
    age: float  # seconds since the freshest command (inf before the first one)
    tripped: bool  # True exactly on the check where freshness was lost
    trips: int  # number of times freshness was lost since construction


class Watchdog:
    """Tracks the age of the latest command; `check()` says whether to hold.

    Thread-safe: `feed` is typically called from a subscriber callback and `check` from the
    control loop timer.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"Watchdog: timeout must be a finite number of seconds > 0, got {timeout!r}")
        self.timeout = float(timeout)
        self._clock = clock
        self._last: float | None = None
        self._was_fresh = False
        self._trips = 0
        self._lock = threading.Lock()

    def feed(self, stamp: float | None = None) -> bool:
        """Register a command created at `stamp` (clock time; default now).

        Returns False (and keeps the old state) for a command that is already stale or whose
        stamp lies in the future by more than the timeout (clock mismatch), True otherwise.
        """
        now = self._clock()
        t = now if stamp is None else float(stamp)
        if not math.isfinite(t) or now - t > self.timeout or t - now > self.timeout:
            return False
        with self._lock:
            if self._last is None or t > self._last:
                self._last = t
        return True

    def age(self) -> float:
        """Seconds since the freshest command (inf if none yet)."""
        with self._lock:
            last = self._last
        return math.inf if last is None else max(0.0, self._clock() - last)

    def check(self) -> WatchdogStatus:
        """Evaluate freshness now; count a trip on each fresh -> stale edge."""
        age = self.age()
        fresh = age <= self.timeout
        with self._lock:
            tripped = self._was_fresh and not fresh
            if tripped:
                self._trips += 1
            self._was_fresh = fresh
            trips = self._trips
        return WatchdogStatus(fresh=fresh, age=age, tripped=tripped, trips=trips)

    def should_hold(self) -> bool:
        """True when the arm must hold (no fresh command)."""
        return not self.check().fresh

    def reset(self) -> None:
        """Forget every command (e.g. after an episode ends): holds until the next feed."""
        with self._lock:
            self._last = None
            self._was_fresh = False
