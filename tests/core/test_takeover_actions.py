"""TakeoverActions: a human's teleop actions grouped into chunks of k for intervention transitions."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from postbc_ros.core.takeover_actions import TakeoverActions


def test_chunks_of_k_while_the_takeover_goes_on_then_the_remainder():
    t = TakeoverActions(action_dim=2, k=3)
    for i in range(2):
        assert t.add([i, -i]) is None
    assert t.take(final=False) is None and len(t) == 2  # not k yet: keep waiting
    for i in range(2, 7):
        t.add([i, -i])
    np.testing.assert_array_equal(t.take(final=False), [[0, 0], [1, -1], [2, -2]])
    np.testing.assert_array_equal(t.take(final=False), [[3, -3], [4, -4], [5, -5]])
    assert t.take(final=False) is None
    chunk = t.take(final=True)
    assert chunk.shape == (1, 2) and chunk.dtype == np.float32
    np.testing.assert_array_equal(chunk, [[6, -6]])
    assert t.take(final=True) is None and len(t) == 0


def test_the_end_of_a_takeover_empties_the_buffer():
    t = TakeoverActions(action_dim=1, k=2)
    for i in range(5):
        t.add([i])
    np.testing.assert_array_equal(t.take(final=True), [[0], [1]])
    assert len(t) == 0


def test_a_new_takeover_does_not_inherit_earlier_actions():
    t = TakeoverActions(action_dim=1, k=2)
    t.add([9.0])
    t.start()
    t.add([1.0])
    t.add([2.0])
    np.testing.assert_array_equal(t.take(final=False), [[1.0], [2.0]])


@pytest.mark.parametrize("action, reason", [
    ([1.0, 2.0, 3.0], "teleop action has 3 entries, the policy acts in 2"),
    ([[1.0]], "teleop action has 1 entries, the policy acts in 2"),
    ([np.nan, 0.0], "not finite"),
    ([0.0, np.inf], "not finite"),
])
def test_bad_actions_are_refused_with_the_reason_and_not_kept(action, reason):
    t = TakeoverActions(action_dim=2, k=1)
    why = t.add(action)
    assert why is not None and reason in why
    assert len(t) == 0 and t.take(final=True) is None


def test_bounded_keeps_the_newest():
    t = TakeoverActions(action_dim=1, k=2, maxlen=4)
    for i in range(10):
        t.add([i])
    assert len(t) == 4
    np.testing.assert_array_equal(t.take(final=False), [[6], [7]])


def test_bad_construction_is_named():
    with pytest.raises(ValueError, match="maxlen >= k"):
        TakeoverActions(action_dim=2, k=8, maxlen=4)
    with pytest.raises(ValueError, match="action_dim >= 1"):
        TakeoverActions(action_dim=0, k=1)


def test_concurrent_producer_and_consumer_lose_and_duplicate_nothing():
    t = TakeoverActions(action_dim=1, k=4, maxlen=100_000)
    n = 4000
    got: list[np.ndarray] = []

    def produce():
        for i in range(n):
            t.add([i])

    th = threading.Thread(target=produce)
    th.start()
    while th.is_alive():
        c = t.take(final=False)
        if c is not None:
            got.append(c)
    th.join()
    while (c := t.take(final=False)) is not None:
        got.append(c)
    rest = t.take(final=True)
    if rest is not None:
        got.append(rest)
    flat = np.concatenate(got)[:, 0]
    np.testing.assert_array_equal(flat, np.arange(n))
