"""Chunk execution and demonstration → chunk-transition conversion."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from postbc_ros.benchmarks.rollout import execute_chunk
from postbc_ros.rl.rollout import episode_to_transitions


class CountingEnv(gym.Env):
    """Tiny env with the project's conventions: reward 1 and terminated when x >= 3."""

    observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-10, 10, (1,), np.float32)})
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, horizon: int = 100):
        self.horizon = horizon

    def reset(self, *, seed=None, options=None):
        self.x, self.t = 0.0, 0
        return {"state": np.array([self.x], np.float32)}, {"success": False}

    def step(self, a):
        self.x += float(a[0])
        self.t += 1
        ok = self.x >= 3
        return {"state": np.array([self.x], np.float32)}, float(ok), ok, (not ok) and self.t >= self.horizon, {"success": ok}


def test_execute_chunk_discounts_and_stops_at_termination():
    env = CountingEnv()
    env.reset()
    res = execute_chunk(env, np.full((4, 1), 1.0), n_action_steps=3, gamma=0.9)
    assert res.steps == 3 and res.terminated and res.success
    assert res.reward == pytest.approx(0.9**2) and res.discount == pytest.approx(0.9**3)
    assert len(res.observations) == 3
    env.reset()
    res = execute_chunk(env, np.full((4, 1), 5.0), n_action_steps=4, gamma=0.9)  # clipped to 1 per step
    assert res.steps == 3 and float(res.executed.max()) == 1.0


def test_execute_chunk_reports_truncation():
    env = CountingEnv(horizon=2)
    env.reset()
    res = execute_chunk(env, np.zeros((4, 1)), n_action_steps=4, gamma=0.99)
    assert res.steps == 2 and res.truncated and not res.terminated and res.reward == 0.0


def test_episode_to_transitions_rewards_success_and_history():
    T = 7
    ep = {"observation.state": np.arange(T, dtype=np.float32)[:, None], "action": np.ones((T, 1), np.float32),
          "next.success": np.array([0, 0, 0, 0, 1, 1, 1], bool)}
    trs = episode_to_transitions(ep, ["state"], obs_history=2, n_action_steps=2, gamma=0.5)
    # success first at frame 4 -> frames 0..4 used: chunks [0,1], [2,3], [4]
    assert [t.steps for t in trs] == [2, 2, 1]
    assert [t.done for t in trs] == [False, False, True]
    assert trs[-1].reward == 1.0 and trs[0].reward == 0.0
    np.testing.assert_array_equal(trs[0].obs["state"][:, 0], [0, 0])  # first frame repeated
    np.testing.assert_array_equal(trs[0].next_obs["state"][:, 0], [1, 2])
    np.testing.assert_array_equal(trs[1].obs["state"], trs[0].next_obs["state"])
    assert trs[-1].action.shape == (2, 1)  # padded to n_action_steps
    with pytest.raises(KeyError, match="action"):
        episode_to_transitions({"observation.state": ep["observation.state"]}, ["state"], 1, 2, 0.9)
