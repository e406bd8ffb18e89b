"""Meta-World wrapper: conventions, seeded unseen positions, success termination, step cap."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.sim.metaworld_env import check_unseen, make_metaworld_env, make_metaworld_expert


def test_conventions_and_expert_success():
    env = make_metaworld_env("metaworld/reach-v3", seed=1, max_episode_steps=150)
    expert = make_metaworld_expert("reach")
    obs, info = env.reset(seed=3)
    assert set(obs) == {"state"} and obs["state"].shape == (39,) and obs["state"].dtype == np.float32
    np.testing.assert_allclose(obs["state"][36:39], info["task_position"][3:6], atol=1e-6)  # goal observable
    assert info["success"] is False
    rewards = []
    while True:
        obs, r, term, trunc, info = env.step(expert(obs))
        rewards.append(r)
        assert isinstance(info["success"], bool)
        if term or trunc:
            break
    assert term and info["success"] and rewards[-1] == 1.0 and set(rewards[:-1]) <= {0.0}
    # stepping on after success is allowed (demonstrations record the arm settling) until the cap
    while not trunc and env._t < 150:
        obs, r, term, trunc, info = env.step(expert(obs))
    assert env._t == 150
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(4, np.float32))
    env.close()


def test_cap_truncates_and_requires_reset():
    env = make_metaworld_env("reach", seed=0, max_episode_steps=5)
    env.reset(seed=0)
    for i in range(5):
        _, r, term, trunc, _ = env.step(np.zeros(4, np.float32))
    assert trunc and not term and r == 0.0
    env.reset()  # reset after truncation works and restarts the count
    _, _, _, trunc, _ = env.step(np.zeros(4, np.float32))
    assert not trunc
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_metaworld_env("reach", seed=0, max_episode_steps=501)
    with pytest.raises(ValueError, match="unknown Meta-World task"):
        make_metaworld_env("no-such-task", seed=0)


def test_seeded_resets_are_reproducible_and_eval_positions_unseen():
    env = make_metaworld_env("push", seed=0)
    pos = lambda s: env.reset(seed=s)[1]["task_position"]  # noqa: E731
    np.testing.assert_array_equal(pos(11), pos(11))
    demo = [pos(10_000 + k) for k in range(20)]
    ev = [pos(30_000 + k) for k in range(20)]
    assert len({tuple(np.round(p, 6)) for p in demo + ev}) == 40  # not MT1's 50-position cycle
    check_unseen(demo, ev)
    with pytest.raises(ValueError, match="reuses demonstrated task position"):
        check_unseen(demo, ev + [demo[3]])
    env.close()


def test_make_env_from_id_delegates_here():
    from postbc_ros.sim import make_env_from_id

    env = make_env_from_id("metaworld/reach-v3", seed=2, max_episode_steps=10)
    assert env.max_episode_steps == 10 and env.task == "reach-v3"
    env.close()
