"""Timestamped observation frames between a subscriber callback and an inference thread.

The callback `add`s every frame with its capture stamp; the inference loop asks for the frames
once one at least as new as the step it decides for has arrived (`take_when_fresh`), pushes all
of them into its observation history (so the history keeps its frame rate) and decides on the
last one. Thread-safe; the buffer is bounded so a stalled consumer cannot grow it.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

POLL_S = 0.002  # s between two looks at the buffer while waiting for a fresh frame


class FrameBuffer:
    def __init__(self, maxlen: int = 64):
        if maxlen < 1:
            raise ValueError(f"FrameBuffer maxlen must be >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self._frames: list[tuple[float, Any]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def add(self, t: float, frame: Any) -> None:
        with self._lock:
            self._frames.append((float(t), frame))
            del self._frames[: -self.maxlen]

    def keep_last(self, n: int = 1) -> None:
        """Drop all but the newest `n` frames (start of an episode: no stale history)."""
        with self._lock:
            del self._frames[: max(len(self._frames) - int(n), 0)]

    def take_if_fresh(self, t_min: float) -> list[tuple[float, Any]] | None:
        """All buffered frames (in arrival order, buffer emptied) if any is stamped at or after
        `t_min`; otherwise None and the buffer is untouched."""
        with self._lock:
            if not any(t >= t_min for t, _ in self._frames):
                return None
            frames, self._frames = self._frames, []
            return frames

    def take_when_fresh(self, t_min: float, keep_waiting: Callable[[], bool],
                        poll_s: float = POLL_S) -> list[tuple[float, Any]] | None:
        """Block until `take_if_fresh(t_min)` yields frames, or return None as soon as
        `keep_waiting()` is false (episode over, node stopping)."""
        while keep_waiting():
            frames = self.take_if_fresh(t_min)
            if frames is not None:
                return frames
            time.sleep(poll_s)
        return None
