"""Chunk scheduler: step times, dropping late steps, replacement at a boundary, interpolation."""
import numpy as np
import pytest

from postbc_ros.core.chunk_scheduler import ChunkScheduler


def chunk(h, start=0.0, a=1):
    return np.stack([np.full(a, start + i, dtype=float) for i in range(h)])


def test_step_times_and_k_of_h():
    s = ChunkScheduler(dt=0.1, latency=0.05, execute_steps=4)
    np.testing.assert_allclose(s.step_times(10.0, 3), [10.05, 10.15, 10.25])
    rep = s.submit(chunk(8), t_obs=10.0, now=10.0)
    assert rep.accepted == 4 and rep.dropped_past == 0
    due = s.pop_due(10.2)
    assert [d.index for d in due] == [0, 1]
    assert [d.index for d in s.pop_due(10.2)] == []  # not popped twice
    assert [d.index for d in s.pop_due(11.0)] == [2, 3]


def test_past_steps_dropped():
    s = ChunkScheduler(dt=0.1, latency=0.0)
    # inference took 0.25 s: steps 0, 1, 2 (t = 0, 0.1, 0.2) are already in the past
    rep = s.submit(chunk(6), t_obs=0.0, now=0.25)
    assert rep.dropped_past == 3 and rep.accepted == 3
    assert [d.index for d in s.pop_due(10)] == [3, 4, 5]
    # everything late -> nothing scheduled, caller holds
    s2 = ChunkScheduler(dt=0.1)
    assert s2.submit(chunk(3), t_obs=0.0, now=5.0).accepted == 0
    assert s2.action_at(5.0) is None and s2.exhausted(5.0)


def test_new_chunk_replaces_remaining_steps_at_boundary():
    s = ChunkScheduler(dt=0.1)
    s.submit(chunk(8, start=0.0), t_obs=0.0, now=0.0)  # t = 0.0 .. 0.7, values 0..7
    rep = s.submit(chunk(8, start=100.0), t_obs=0.3, now=0.3)  # t = 0.3 .. 1.0
    assert rep.replaced == 5  # old steps at t = 0.3 .. 0.7
    vals = [float(d.action[0]) for d in s.pop_due(2.0)]
    assert vals == [0, 1, 2] + [100 + i for i in range(8)]


def test_linear_interpolation_for_fast_servo():
    s = ChunkScheduler(dt=0.1, latency=0.0)
    s.submit(np.array([[0.0, 10.0], [1.0, 20.0], [3.0, 20.0]]), t_obs=1.0, now=1.0)
    assert s.action_at(0.99) is None  # before the first step: nothing to do yet
    np.testing.assert_allclose(s.action_at(1.0), [0, 10])
    np.testing.assert_allclose(s.action_at(1.025), [0.25, 12.5])
    np.testing.assert_allclose(s.action_at(1.15), [2.0, 20.0])
    np.testing.assert_allclose(s.action_at(1.25), [3.0, 20.0])  # last step holds one dt
    assert s.action_at(1.31) is None
    h = ChunkScheduler(dt=0.1, interpolation="hold")
    h.submit(np.array([[0.0], [1.0]]), t_obs=0.0, now=0.0)
    np.testing.assert_allclose(h.action_at(0.09), [0.0])


def test_interpolates_across_chunk_boundary():
    s = ChunkScheduler(dt=0.1)
    s.submit(chunk(4, 0.0), t_obs=0.0, now=0.0)  # values 0..3 at 0..0.3
    s.action_at(0.15)  # the control loop has advanced
    s.submit(chunk(4, 10.0), t_obs=0.2, now=0.2)  # values 10.. at 0.2..
    # the path runs from the last old point kept (1 at t=0.1) to the new chunk's first point
    np.testing.assert_allclose(s.action_at(0.15), [5.5])
    np.testing.assert_allclose(s.action_at(0.2), [10.0])
    np.testing.assert_allclose(s.action_at(0.25), [10.5])


def test_bad_inputs():
    with pytest.raises(ValueError, match="dt"):
        ChunkScheduler(dt=0)
    s = ChunkScheduler(dt=0.1)
    with pytest.raises(ValueError, match="NaN"):
        s.submit(np.array([[np.nan]]), t_obs=0.0, now=0.0)
    with pytest.raises(ValueError, match=r"\[H, A\]"):
        s.submit(np.zeros(3), t_obs=0.0, now=0.0)
    s.submit(np.zeros((2, 3)), t_obs=0.0, now=0.0)
    with pytest.raises(ValueError, match="action dim"):
        s.submit(np.zeros((2, 4)), t_obs=0.0, now=0.0)
