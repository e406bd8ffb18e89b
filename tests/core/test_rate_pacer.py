"""RatePacer (camera_node's capture pacing): ticks on a 1/rate grid; after a stall the overdue
tick and one more return at once, then the rate resumes (no burst of every missed tick)."""
from __future__ import annotations

import pytest

from postbc_ros.core.rate_pacer import RatePacer


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def clock(self):
        return self.t

    def sleep(self, dt):
        assert dt >= 0.0
        self.t += dt


def test_ticks_follow_the_rate_and_a_stall_causes_no_burst():
    ft = FakeTime()
    pacer = RatePacer(10.0, clock=ft.clock, sleep=ft.sleep)
    ticks = []
    for _ in range(3):
        pacer.wait()
        ticks.append(ft.t)
    assert ticks == pytest.approx([0.1, 0.2, 0.3])
    ft.t += 1.0  # a read that took a second: nine ticks missed
    ticks = []
    for _ in range(3):
        pacer.wait()
        ticks.append(ft.t)
    assert ticks == pytest.approx([1.3, 1.3, 1.4])  # two at once, then every 0.1 s again


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="rate"):
        RatePacer(0.0)
