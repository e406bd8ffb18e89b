"""The chunk reward conventions (core.chunk_transitions.REWARDS) on every path that builds chunk
transitions: the benchmarks' chunk execution, the policy node's recorder, demonstrations."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from postbc_ros.benchmarks.rollout import execute_chunk, run_episode
from postbc_ros.core.chunk_transitions import REWARDS, ChunkRecorder, chunk_reward
from postbc_ros.rl.rollout import episode_to_transitions


class CountingEnv(gym.Env):
    """The project's env conventions: x += |a_0| per step, reward 1 and terminated once x >= 3;
    state (x/10, x/10, x/10), 2-D actions (the toy policy's)."""

    observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-10, 10, (3,), np.float32)})
    action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        self.x = 0.0
        return {"state": np.zeros(3, np.float32)}, {"success": False}

    def step(self, a):
        self.x += abs(float(a[0])) if abs(float(a[0])) > 0.2 else 1.0  # the toy policy's actions are small
        ok = self.x >= 3
        return {"state": np.full(3, self.x / 10, np.float32)}, float(ok), ok, False, {"success": ok}


def test_chunk_reward_conventions():
    """minus_one (DSRL's reference): -1 per env step, 0 on the success step, summed undiscounted;
    zero_one: 1 on the success step, discounted within the chunk."""
    assert REWARDS == ("zero_one", "minus_one")
    assert chunk_reward([0, 0, 0, 0], 0.9, "minus_one") == -4.0  # a failing chunk of k = 4
    assert chunk_reward([0, 0, 0, 0], 0.9, "zero_one") == 0.0
    assert chunk_reward([0, 0, 1], 0.9, "minus_one") == -2.0  # success on the third step ends it
    assert chunk_reward([0, 0, 1], 0.9, "zero_one") == pytest.approx(0.81)
    assert chunk_reward([0, 0, 1], 0.9) == pytest.approx(0.81)  # the default stays zero_one
    with pytest.raises(ValueError, match="reward"):
        chunk_reward([0], 0.9, "plus_one")


@pytest.mark.parametrize("reward,fail,win", [("minus_one", -4.0, -2.0), ("zero_one", 0.0, 0.9**2)])
def test_execute_chunk_sums_the_convention_and_stops_at_success(reward, fail, win):
    env = CountingEnv()
    env.reset()
    res = execute_chunk(env, np.full((4, 2), 0.5), n_action_steps=4, gamma=0.9, reward=reward)  # x = 2: no success
    assert res.steps == 4 and not res.terminated and res.reward == pytest.approx(fail)
    res = execute_chunk(env, np.full((4, 2), 0.5), n_action_steps=4, gamma=0.9, reward=reward)  # x = 3 at step 2
    assert res.steps == 2 and res.terminated and res.reward == pytest.approx(-1.0 if reward == "minus_one" else 0.9)
    env.reset()
    res = execute_chunk(env, np.full((4, 2), 1.0), n_action_steps=4, gamma=0.9, reward=reward)  # x = 3 at step 3
    assert res.steps == 3 and res.reward == pytest.approx(win) and res.discount == pytest.approx(0.9**3)


@pytest.mark.parametrize("reward", REWARDS)
def test_chunk_recorder_reward_option(reward):
    rec = ChunkRecorder(gamma=0.9, reward=reward)
    o = {"state": np.zeros((1, 3), np.float32)}
    times = np.array([1.1, 1.2, 1.3, 1.4])
    rec.start_episode()
    rec.decided(o, np.zeros((4, 4)), np.zeros((4, 4)), times, 0.1, {})
    failed = rec.decided(o, np.zeros((4, 4)), np.zeros((4, 4)), times + 0.4, 0.1, {})
    rec.success_at(1.55)  # during the second step of the second chunk (times 1.5, 1.6, ...)
    won = rec.end_episode(o, success=True)
    assert not failed.done and won.done and won.discount == pytest.approx(0.9**4)
    if reward == "minus_one":
        assert (failed.reward, won.reward) == (-4.0, -1.0)
    else:
        assert failed.reward == 0.0 and won.reward == pytest.approx(0.9)
    rec.start_episode()  # an operator's success label: success on the last executed step
    rec.decided(o, None, np.zeros((3, 4)), times[:3], 0.1, {})
    labelled = rec.end_episode(o, success=True)
    assert labelled.done and labelled.reward == pytest.approx(-2.0 if reward == "minus_one" else 0.81)
    with pytest.raises(ValueError, match="reward"):
        ChunkRecorder(0.9, reward="plus_one")


def test_demonstrations_carry_the_convention():
    T = 7  # success first at frame 4: frames 0..4 used, chunks [0,1], [2,3], [4]
    ep = {"observation.state": np.arange(T, dtype=np.float32)[:, None], "action": np.ones((T, 1), np.float32),
          "next.success": np.array([0, 0, 0, 0, 1, 1, 1], bool)}
    trs = episode_to_transitions(ep, ["state"], obs_history=1, n_action_steps=2, gamma=0.5, reward="minus_one")
    assert [t.reward for t in trs] == [-2.0, -2.0, 0.0] and [t.done for t in trs] == [False, False, True]
    zero_one = episode_to_transitions(ep, ["state"], obs_history=1, n_action_steps=2, gamma=0.5)
    assert [t.reward for t in zero_one] == [0.0, 0.0, 1.0]


def test_run_episode_builds_transitions_in_the_agents_convention(toy_policy):
    """The benchmarks' episode loop asks the agent for its convention: a DSRL agent with the
    reference's minus_one stores -1 per env step until the success."""
    from postbc_ros.rl import DSRLAgent, DSRLConfig

    class StepEnv(CountingEnv):  # x += 1 per step whatever the action: success on the third step
        def step(self, a):
            return super().step(np.ones(2))

    seen = []
    for reward in REWARDS:
        agent = DSRLAgent(toy_policy, DSRLConfig(hidden=16, layers=1, reward=reward, warmup_env_steps=0,
                                                 learning_starts=10**6), device="cpu", seed=0)
        agent.observe = lambda tr, reward=reward: seen.append((reward, tr.steps, tr.reward, tr.done))
        assert run_episode(StepEnv(), agent, "explore", seed=0, learn=True).success
    # 2 executed steps per chunk (the toy policy): x reaches 3 on the 3rd step
    assert [s for s in seen if s[0] == "minus_one"] == [("minus_one", 2, -2.0, False), ("minus_one", 1, 0.0, True)]
    assert [s[2:] for s in seen if s[0] == "zero_one"] == [(0.0, False), (1.0, True)]
