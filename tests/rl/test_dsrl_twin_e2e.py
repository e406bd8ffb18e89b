"""End to end on the WidowX reach twin: record demos through the real recording path, pretrain
a small PostBC policy, finetune with DSRL (and DSRL-NA from demos), checkpoint and resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch

ENV_ID = "postbc/WidowXReach-v0"


@pytest.fixture(scope="module")
def reach_setup(tmp_path_factory):
    from postbc_ros.data import DatasetWriter, collect_episodes
    from postbc_ros.data.collect import env_fps, features_from_env
    from postbc_ros.drivers.teleop import make_teleop_device
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.training_data import load_training_data
    from postbc_ros.sim import make_env_from_id

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rl_e2e") / "demos"
    env = make_env_from_id(ENV_ID, seed=0)
    writer = DatasetWriter(root, features_from_env(env), env_fps(env), "widowx")
    collect_episodes(env, make_teleop_device("scripted", env=env, seed=0), writer, 4, ENV_ID, seed=100,
                     keep_failures=False, progress=False)
    writer.close()
    data = load_training_data(root, obs_history=1, horizon=4)
    cfg = TrainConfig(method="postbc", epochs=20, ensemble_size=4, hidden=[64, 64], horizon=4, n_action_steps=4,
                      seed=0, device="cpu")
    policy = pretrain(data, cfg, progress=False).ema.model.eval()
    return root, policy


def test_dsrl_runs_on_twin_and_resumes(reach_setup, tmp_path):
    from postbc_ros.rl import DSRLAgent, DSRLConfig
    from postbc_ros.benchmarks.rollout import evaluate, run_episode
    from postbc_ros.sim import make_env_from_id

    _, policy = reach_setup
    env = make_env_from_id(ENV_ID, seed=1)
    cfg = DSRLConfig(hidden=32, layers=2, batch_size=32, utd=2, learning_starts=8, warmup_env_steps=40)
    agent = DSRLAgent(policy, cfg, device="cpu", seed=0)
    metrics: list[dict] = []
    total = 0
    for ep in range(3):
        st = run_episode(env, agent, "explore", seed=200 + ep, learn=True, on_step=metrics.append)
        total += st.env_steps
        assert 1 <= st.rl_steps and st.env_steps <= 4 * st.rl_steps
    assert agent.env_steps == total and agent.rl_steps == len(agent.replay)
    trained = [m for m in metrics if m]
    assert trained and all(np.isfinite(v) for m in trained for v in m.values())
    assert agent.grad_steps == 2 * len(trained)
    rew = agent.replay.data["reward"][: len(agent.replay)]
    assert set(np.unique(rew)) <= {0.0, -1.0, -2.0, -3.0, -4.0}  # the reference's -1 per step until success
    sr = evaluate(env, agent, episodes=2, mode="eval", seed0=500)
    assert 0.0 <= sr <= 1.0
    agent.save(tmp_path / "agent")
    again = DSRLAgent(policy, cfg, device="cpu", seed=7).load(tmp_path / "agent")
    s = agent.new_history().reset(env.reset(seed=9)[0])
    np.testing.assert_array_equal(agent.act(s, "eval")[0], again.act(s, "eval")[0])
    env.close()


def test_dsrl_na_learns_from_recorded_demos(reach_setup):
    from postbc_ros.rl import DSRLNAAgent, DSRLNAConfig
    from postbc_ros.benchmarks.demos import demo_transitions

    root, policy = reach_setup
    agent = DSRLNAAgent(policy, DSRLNAConfig(hidden=32, layers=2, batch_size=32, utd=2, learning_starts=8,
                                             distill_batch=32, warmup_env_steps=0), device="cpu", seed=0)
    trs = demo_transitions(root, policy, agent.discount)
    n = agent.add_demos(trs)
    assert n == len(trs) >= 4 and sum(t.done for t in trs) == 4  # every successful demo ends terminal
    assert sum(t.reward > 0 for t in trs) == 4
    m = agent.update(n_steps=5)  # demos alone are enough to start (demo-only batches)
    assert {"q_action_loss", "q_noise_loss", "actor_loss"} <= set(m)
