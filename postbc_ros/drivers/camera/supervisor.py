"""Keeps a camera streaming across unplugs: `CameraSupervisor.next_frame()` returns a fresh
frame, or None while the camera is away -- never the last frame again.

When the driver reports `disconnected` (reads failing for its `disconnect_after_s`), the camera
is stopped and reopened with exponential backoff (`backoff_s` doubling up to `backoff_max_s`).
Every attempt is logged, so the log rate falls with the backoff and stays bounded at one line
per `backoff_max_s`; after `max_reopen_s` without success (0 = keep trying) the supervisor gives
up: state `failed`, `CameraGaveUp` naming the device and what to check. ROS-free: camera_node
turns `state` into /diagnostics and publishes only the frames this returns.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from postbc_ros.drivers.camera.base import Camera, CameraError, Frame

READ_RETRY_S = 0.05  # after a failed read that is not yet a disconnect, wait this long before the next
BACKOFF_S = 0.5  # first reopen attempt this long after the disconnect; doubles per failed attempt
BACKOFF_MAX_S = 10.0  # ... up to this (also the steady-state log interval while the camera is away)

STREAMING, DISCONNECTED, FAILED = "streaming", "disconnected", "failed"


class CameraGaveUp(CameraError):
    """The camera stayed away for longer than `max_reopen_s`."""


@dataclass(frozen=True)
class ReopenPolicy:
    max_reopen_s: float = 0.0  # give up after this long disconnected (0 = keep trying)
    backoff_s: float = BACKOFF_S
    backoff_max_s: float = BACKOFF_MAX_S

    def __post_init__(self) -> None:
        if self.max_reopen_s < 0 or not 0 < self.backoff_s <= self.backoff_max_s:
            raise ValueError(f"ReopenPolicy: need max_reopen_s >= 0 (0 = keep trying) and 0 < backoff_s <= backoff_max_s, got {self}")


class CameraSupervisor:
    """Reads `camera`, reopening it after a disconnect according to `policy`.
    `log(level, message)` uses logging levels; `on_state(state, message)` is called on each change."""

    def __init__(self, camera: Camera, policy: ReopenPolicy = ReopenPolicy(),
                 log: Callable[[int, str], None] | None = None, on_state: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.camera, self.policy = camera, policy
        self.log = log or camera.log
        self.on_state = on_state or (lambda state, message: None)
        self.clock, self.sleep = clock, sleep
        self.state, self.message = STREAMING, ""
        self.attempts = 0  # reopen attempts since the disconnect
        self.reopens = 0  # successful reopens so far
        self._since = 0.0  # when the camera went away
        self._next_try = 0.0
        self._backoff = policy.backoff_s

    def _set(self, state: str, level: int, message: str) -> None:
        self.state, self.message = state, message
        self.log(level, message)
        self.on_state(state, message)

    def next_frame(self) -> Frame | None:
        """A frame newer than any returned before, or None (a failed read, or the camera away).
        Raises CameraGaveUp once `max_reopen_s` is exceeded (and on every call after)."""
        if self.state == FAILED:
            raise CameraGaveUp(self.message)
        if self.state == DISCONNECTED:
            return self._try_reopen()
        try:
            return self.camera.read()
        except CameraError as e:
            if not self.camera.disconnected:
                self.sleep(READ_RETRY_S)
                return None
            try:
                self.camera.stop()
            except CameraError:
                pass
            now = self.clock()
            self._since, self._next_try, self._backoff, self.attempts = now, now + self.policy.backoff_s, self.policy.backoff_s, 0
            self._set(DISCONNECTED, logging.ERROR, f"{self.camera.name}: disconnected ({e}); no frames are published "
                      f"until it is back; reopening with backoff" + self._limit())
            return None

    def _limit(self) -> str:
        return f", giving up after {self.policy.max_reopen_s:g} s" if self.policy.max_reopen_s > 0 else " (max_reopen_s 0: until it is back)"

    def _try_reopen(self) -> None:
        now = self.clock()
        if now < self._next_try:
            self.sleep(min(self._next_try - now, self.policy.backoff_s))
            return None
        self.attempts += 1
        away = now - self._since
        try:
            self.camera.start()
        except CameraError as e:
            if self.policy.max_reopen_s > 0 and away >= self.policy.max_reopen_s:
                self._set(FAILED, logging.ERROR, f"{self.camera.name}: gave up after {away:.1f} s and {self.attempts} reopen attempts "
                          f"(max_reopen_s {self.policy.max_reopen_s:g}): {e}. Check the cable/USB port and restart the node.")
                raise CameraGaveUp(self.message) from e
            self._backoff = min(2 * self._backoff, self.policy.backoff_max_s)
            self._next_try = now + self._backoff
            self.log(logging.WARNING, f"{self.camera.name}: reopen attempt {self.attempts} failed after {away:.1f} s away: {e}; "
                                      f"next in {self._backoff:.1f} s")
            return None
        self.reopens += 1
        self._set(STREAMING, logging.INFO, f"{self.camera.name}: reopened after {away:.1f} s ({self.attempts} attempts); streaming again")
        return None
