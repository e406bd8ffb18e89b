"""A human's actions during a takeover, grouped into executed chunks for the replay store.

While a human drives the arm (teleop_node's intervention), the policy yields and records what the
human did as intervention transitions with the same shape as its own: at most k = n_action_steps
actions per transition. The teleop callback `add`s each action; the policy's loop `take`s k of
them per decision, or the remainder when the takeover ends. Actions with the wrong length or
non-finite entries are refused with a reason (they would fail later, inside the learner, far from
the cause). A new takeover starts empty, so actions of an earlier one never leak into it.
Thread-safe; bounded so a stalled consumer cannot grow it.
"""
from __future__ import annotations

import threading

import numpy as np

MAXLEN = 256  # actions kept at most (a stalled consumer drops the oldest)


class TakeoverActions:
    def __init__(self, action_dim: int, k: int, maxlen: int = MAXLEN):
        if action_dim < 1 or k < 1 or maxlen < k:
            raise ValueError(f"TakeoverActions needs action_dim >= 1, k >= 1 and maxlen >= k "
                             f"(got {action_dim}, {k}, {maxlen})")
        self.action_dim, self.k, self.maxlen = int(action_dim), int(k), int(maxlen)
        self._buf: list[np.ndarray] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buf)

    def start(self) -> None:
        """A takeover (or an episode) begins: forget actions left from an earlier one."""
        with self._lock:
            self._buf.clear()

    def add(self, action) -> str | None:
        """Buffer one action; returns why it was refused (None when kept)."""
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape[0] != self.action_dim:
            return (f"teleop action has {a.shape[0]} entries, the policy acts in {self.action_dim}: "
                    f"check that the teleop node's robot and control parameters match the policy's")
        if not np.isfinite(a).all():
            return f"teleop action is not finite ({a.tolist()}): the step is not recorded"
        with self._lock:
            self._buf.append(a)
            del self._buf[: -self.maxlen]
        return None

    def take(self, final: bool) -> np.ndarray | None:
        """The next chunk [n, action_dim]: n = k while the takeover goes on (None until k are
        buffered); once it ended (final), the first n <= k left, and the buffer is emptied (the
        consumer takes a chunk per observation, so at most one step is left beyond k)."""
        with self._lock:
            if len(self._buf) < self.k and not final:
                return None
            chunk, rest = self._buf[: self.k], self._buf[self.k:]
            self._buf = [] if final else rest
        return np.stack(chunk) if chunk else None
