"""Watchdog: hold when commands go stale, measured from their own stamps."""
import math

import pytest

from postbc_ros.core.watchdog import Watchdog


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_holds_before_first_and_after_timeout():
    clk = FakeClock()
    wd = Watchdog(0.2, clock=clk)
    assert wd.should_hold() and math.isinf(wd.age())
    assert wd.feed()
    assert not wd.should_hold()
    clk.t += 0.19
    assert not wd.should_hold()
    clk.t += 0.02
    st = wd.check()
    assert not st.fresh and st.tripped and st.trips == 1
    assert not wd.check().tripped  # a trip is counted once per fresh -> stale edge
    wd.feed()
    assert wd.check().fresh


def test_stale_stamp_rejected_and_freshness_from_stamp():
    clk = FakeClock()
    wd = Watchdog(0.1, clock=clk)
    assert not wd.feed(stamp=clk.t - 0.5)  # already stale on arrival
    assert wd.should_hold()
    assert wd.feed(stamp=clk.t - 0.08)
    clk.t += 0.03  # 0.11 s after the command was created
    assert wd.should_hold()
    assert not wd.feed(stamp=clk.t + 5.0)  # clock mismatch: from the future
    assert not wd.feed(stamp=float("nan"))


def test_older_stamp_does_not_refresh_and_reset():
    clk = FakeClock()
    wd = Watchdog(0.1, clock=clk)
    wd.feed(stamp=clk.t)
    wd.feed(stamp=clk.t - 0.05)
    assert wd.age() == pytest.approx(0.0)
    wd.reset()
    assert wd.should_hold()


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_bad_timeout(bad):
    with pytest.raises(ValueError, match="timeout"):
        Watchdog(bad)
