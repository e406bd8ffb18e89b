"""What a node did with the messages it received: accepted, or dropped for a named reason (ROS-free).

Every node that takes data from the network (transitions, labels, weights, teleop actions) checks
each message at its boundary; a message that fails is dropped, never raised out of a callback (a
callback's exception ends the node's process). `MessageGuard` keeps the counts per reason, logs
the first drop of each reason with its detail (then only at 10, 100, 1000, ... drops, so a flood
of bad messages cannot flood the log), and gives a snapshot that ros.diagnostics publishes on
/diagnostics. Thread-safe: callbacks of several executor threads share one guard.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

LOG_AGAIN_FACTOR = 10  # after the first drop of a reason, log again at 10, 100, 1000, ... drops
DETAIL_MAX_CHARS = 300  # a drop's detail kept for diagnostics is cut to this length


class MessageGuard:
    """Counts per reason; `check(parse, raw)` runs a parser and turns its errors into drops."""

    def __init__(self, log: Any | None = None) -> None:
        self.log = log or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self.accepted = 0
        self.dropped: dict[str, int] = {}
        self.last_detail: dict[str, str] = {}

    def accept(self, value: T = None) -> T:
        """Count one accepted message; returns `value` (so `return guard.accept(parsed)`)."""
        with self._lock:
            self.accepted += 1
        return value

    def drop(self, reason: str, detail: str = "") -> None:
        """Count one dropped message under `reason`; log it the first time (and at 10, 100, ...)."""
        with self._lock:
            n = self.dropped.get(reason, 0) + 1
            self.dropped[reason] = n
            self.last_detail[reason] = str(detail)[:DETAIL_MAX_CHARS]
        if n == 1:
            self.log.warning(f"dropped a message ({reason}): {detail} -- further drops of this kind are counted "
                             "on /diagnostics and logged at 10, 100, ...")
        elif _is_power_of(n, LOG_AGAIN_FACTOR):
            self.log.warning(f"dropped {n} messages ({reason}) so far; last: {detail}")

    def check(self, parse: Callable[[Any], T], raw: Any, reason: str = "invalid",
              errors: tuple[type[BaseException], ...] = (Exception,)) -> T | None:
        """`parse(raw)` counted as accepted, or None with the drop counted when it raises one of
        `errors` (by default any: at a node's boundary whatever a message makes its parser raise
        means the message is bad): under the error's own `reason` attribute if it has one, else
        `reason`. `parse` must not return None for a good message."""
        try:
            value = parse(raw)
        except errors as e:
            self.drop(getattr(e, "reason", None) or reason, f"{type(e).__name__}: {e}")
            return None
        return self.accept(value)

    @property
    def total_dropped(self) -> int:
        with self._lock:
            return sum(self.dropped.values())

    def snapshot(self) -> dict[str, Any]:
        """{"accepted", "dropped": {reason: n}, "last": {reason: detail}} (a copy)."""
        with self._lock:
            return {"accepted": self.accepted, "dropped": dict(self.dropped), "last": dict(self.last_detail)}


def _is_power_of(n: int, base: int) -> bool:
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


def diagnostic_fields(snapshot: dict[str, Any]) -> tuple[bool, str, list[tuple[str, str]]]:
    """(warn, message, key/values) of a diagnostics status for a guard's snapshot: warn when
    anything was dropped; one key per reason (`dropped/<reason>`) and the last detail of each."""
    dropped = snapshot["dropped"]
    total = sum(dropped.values())
    values = [("accepted", str(snapshot["accepted"])), ("dropped", str(total))]
    for reason in sorted(dropped):
        values.append((f"dropped/{reason}", str(dropped[reason])))
        values.append((f"last/{reason}", snapshot["last"].get(reason, "")))
    if not total:
        return False, f"{snapshot['accepted']} messages accepted, none dropped", values
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(dropped.items()))
    return True, f"{total} messages dropped ({reasons})", values
