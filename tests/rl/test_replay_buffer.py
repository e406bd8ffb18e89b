"""Replay buffer: ring semantics, demo/online mixing ratio, exact state round-trip."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.core.transition import Transition
from postbc_ros.rl.replay_buffer import ReplayBuffer, sample_mixed


def tr(i: int, noise: bool = True) -> Transition:
    return Transition(obs={"state": np.full((2, 3), i, np.float32)}, next_obs={"state": np.full((2, 3), i + 1, np.float32)},
                      noise=np.full((4, 2), i, np.float32) if noise else None, action=np.full((2, 2), i, np.float32),
                      reward=float(i), discount=0.9, done=i % 2 == 0, steps=2)


def test_ring_buffer_overwrites_oldest():
    b = ReplayBuffer(4)
    for i in range(6):
        b.add(tr(i))
    assert len(b) == 4 and b.ptr == 2
    assert sorted(b.data["reward"].tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert b.data["has_noise"].sum() == 4


def test_row_layout_and_shape_errors_are_clear():
    b = ReplayBuffer(4)
    b.add(tr(3))
    row = b.gather(np.array([0]))
    assert row["reward"][0] == 3.0 and row["done"][0] == 0.0 and row["steps"][0] == 2 and row["discount"][0] == 0.9
    np.testing.assert_array_equal(row["next_obs/state"][0], np.full((2, 3), 4))
    np.testing.assert_array_equal(row["noise"][0], np.full((4, 2), 3))
    with pytest.raises(ValueError, match="action shape"):
        b.add(tr(1).replace(action=np.zeros((3, 2), np.float32)))
    with pytest.raises(KeyError, match="obs keys"):
        b.add(tr(1).replace(obs={"other": np.zeros((2, 3), np.float32)}))


def test_sample_mixed_respects_ratio_and_falls_back():
    online, demos = ReplayBuffer(100, "online"), ReplayBuffer(100, "demos")
    for i in range(10):
        online.add(tr(i))
        demos.add(tr(100 + i, noise=False), noise_shape=(4, 2))
    rng = np.random.default_rng(0)
    batch = sample_mixed(online, demos, 40, 0.25, rng)
    assert (batch["reward"] >= 100).sum() == 10 and (batch["has_noise"] == 0).sum() == 10
    empty = ReplayBuffer(10)
    only_demo = sample_mixed(empty, demos, 8, 0.25, rng)
    assert (only_demo["reward"] >= 100).all()
    with pytest.raises(ValueError):
        sample_mixed(online, demos, 8, 1.5, rng)


def test_state_round_trip_is_exact():
    b = ReplayBuffer(8)
    for i in range(11):
        b.add(tr(i))
    tensors, meta = b.state_tensors("r")
    c = ReplayBuffer(1)
    c.load_state("r", tensors, meta)
    assert (c.size, c.ptr, c.capacity) == (b.size, b.ptr, b.capacity)
    for k in b.data:
        np.testing.assert_array_equal(c.data[k], b.data[k])
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    s1, s2 = b.sample(16, r1), c.sample(16, r2)
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
