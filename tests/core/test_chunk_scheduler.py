"""Chunk scheduler: step times, dropping the steps already past, refusing bad chunks."""
import numpy as np
import pytest

from postbc_ros.core.chunk_scheduler import ChunkScheduler


def chunk(h, start=0.0, a=1):
    return np.stack([np.full(a, start + i, dtype=float) for i in range(h)])


def test_step_times_anchor_the_chunk_at_the_observation():
    s = ChunkScheduler(dt=0.1, latency=0.05)
    np.testing.assert_allclose(s.step_times(10.0, 3), [10.05, 10.15, 10.25])
    c = s.schedule(chunk(4), t_obs=10.0, now=10.0)
    assert c.dropped_past == 0 and c.t_obs == 10.0 and c.t_first == pytest.approx(10.05)
    np.testing.assert_allclose(c.times, [10.05, 10.15, 10.25, 10.35])
    np.testing.assert_array_equal(c.actions[:, 0], [0, 1, 2, 3])


def test_past_steps_dropped():
    s = ChunkScheduler(dt=0.1, latency=0.0)
    # inference took 0.25 s: steps 0, 1, 2 (t = 0, 0.1, 0.2) are already in the past
    c = s.schedule(chunk(6), t_obs=0.0, now=0.25)
    assert c.dropped_past == 3 and c.t_first == 0.0
    np.testing.assert_allclose(c.times, [0.3, 0.4, 0.5])
    np.testing.assert_array_equal(c.actions[:, 0], [3, 4, 5])
    # a step due exactly now is kept
    assert s.schedule(chunk(3), t_obs=0.0, now=0.1).dropped_past == 1
    # everything late -> nothing left to execute
    late = s.schedule(chunk(3), t_obs=0.0, now=5.0)
    assert late.dropped_past == 3 and len(late.times) == 0 and late.actions.shape == (0, 1)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dt"):
        ChunkScheduler(dt=0)
    with pytest.raises(ValueError, match="latency"):
        ChunkScheduler(dt=0.1, latency=-0.1)
    s = ChunkScheduler(dt=0.1)
    with pytest.raises(ValueError, match="NaN"):
        s.schedule(np.array([[np.nan]]), t_obs=0.0, now=0.0)
    with pytest.raises(ValueError, match=r"\[H, A\]"):
        s.schedule(np.zeros(3), t_obs=0.0, now=0.0)
