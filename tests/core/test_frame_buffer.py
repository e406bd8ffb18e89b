import threading
import time

import pytest

from postbc_ros.core.frame_buffer import FrameBuffer


def test_take_if_fresh_returns_everything_once_the_newest_frame_is_new_enough():
    b = FrameBuffer()
    b.add(1.0, "a")
    b.add(1.1, "b")
    assert b.take_if_fresh(1.2) is None
    assert len(b) == 2  # untouched while not fresh
    assert b.take_if_fresh(1.1) == [(1.0, "a"), (1.1, "b")]
    assert len(b) == 0
    assert b.take_if_fresh(0.0) is None
    b.add(2.0, "late")  # frames arriving out of stamp order: any fresh one counts
    b.add(1.5, "early")
    assert b.take_if_fresh(1.9) == [(2.0, "late"), (1.5, "early")]


def test_buffer_is_bounded_and_keep_last_drops_stale_history():
    b = FrameBuffer(maxlen=3)
    for i in range(10):
        b.add(float(i), i)
    assert [f for _, f in b.take_if_fresh(0.0)] == [7, 8, 9]
    for i in range(3):
        b.add(float(i), i)
    b.keep_last(1)
    assert b.take_if_fresh(0.0) == [(2.0, 2)]
    b.keep_last(1)  # empty: no error
    assert len(b) == 0
    with pytest.raises(ValueError, match="maxlen"):
        FrameBuffer(0)


def test_take_when_fresh_waits_for_a_producer_thread_and_stops_when_told():
    b = FrameBuffer()

    def produce():
        for i in range(5):
            time.sleep(0.01)
            b.add(0.1 * i, i)

    th = threading.Thread(target=produce)
    th.start()
    frames = b.take_when_fresh(0.25, keep_waiting=lambda: True)
    th.join()
    assert frames[-1][0] >= 0.25 and [f for _, f in frames] == sorted(f for _, f in frames)
    stop_at = time.monotonic() + 0.05
    assert b.take_when_fresh(99.0, keep_waiting=lambda: time.monotonic() < stop_at) is None
