"""MessageGuard: drops counted per reason, logged the first time (then at 10, 100, ...), a snapshot
for /diagnostics; `check` turns a parser's error into a drop under the error's own reason."""
from __future__ import annotations

import json
import logging
import threading

from postbc_ros.core.message_guard import MessageGuard, diagnostic_fields


class Reasoned(ValueError):
    reason = "custom_reason"


def test_drops_are_counted_per_reason_and_logged_once_then_at_powers_of_ten(caplog):
    guard = MessageGuard(logging.getLogger("guard_test"))
    with caplog.at_level(logging.WARNING, logger="guard_test"):
        for i in range(12):
            guard.drop("not_json", f"message {i}")
        guard.drop("wrong_type", "x")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # not_json: the 1st and the 10th; wrong_type: its 1st
    assert "(not_json): message 0" in lines[0] and "dropped 10 messages (not_json) so far; last: message 9" in lines[1]
    snap = guard.snapshot()
    assert snap["dropped"] == {"not_json": 12, "wrong_type": 1} and snap["last"]["not_json"] == "message 11"
    assert guard.total_dropped == 13 and snap["accepted"] == 0


def test_check_accepts_or_drops_under_the_errors_reason():
    guard = MessageGuard(logging.getLogger("guard_test"))
    assert guard.check(json.loads, '{"a": 1}') == {"a": 1}
    assert guard.check(json.loads, "{not json", "not_json") is None

    def parse(_):
        raise Reasoned("named")

    assert guard.check(parse, "x", "fallback") is None
    assert guard.check(lambda x: x["missing"], {}) is None  # any exception: the default reason
    assert guard.snapshot()["dropped"] == {"not_json": 1, "custom_reason": 1, "invalid": 1}
    assert guard.accepted == 1


def test_counts_are_exact_under_concurrent_callbacks():
    guard = MessageGuard(logging.getLogger("guard_test"))
    threads = [threading.Thread(target=lambda: [guard.drop("r") or guard.accept() for _ in range(500)])
               for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert guard.snapshot()["dropped"] == {"r": 2000} and guard.accepted == 2000


def test_diagnostic_fields_warn_only_when_something_was_dropped():
    guard = MessageGuard(logging.getLogger("guard_test"))
    guard.accept()
    warn, message, values = diagnostic_fields(guard.snapshot())
    assert not warn and "none dropped" in message and ("dropped", "0") in values
    guard.drop("non_finite", "reward nan")
    guard.drop("non_finite", "reward inf")
    warn, message, values = diagnostic_fields(guard.snapshot())
    assert warn and "2 messages dropped (non_finite: 2)" == message
    assert ("dropped/non_finite", "2") in values and ("last/non_finite", "reward inf") in values
