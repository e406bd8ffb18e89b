"""Fixtures for the RL tests: small but real diffusion policies from postbc_ros.learning."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def toy_policy():
    """A real DiffusionPolicy (BC, few epochs) on a toy 3-D state → 2-D action problem.

    obs_history 2 / horizon 4 / n_action_steps 2, so history stacking, chunk slicing and padding
    are exercised by every agent test.
    """
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.training_data import windows_from_episodes

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(6):
        s = rng.uniform(-1, 1, size=(12, 3)).astype(np.float32)
        episodes.append({"obs": {"state": s}, "action": np.tanh(s[:, :2] + s[:, 2:]).astype(np.float32)})
    data = windows_from_episodes(episodes, obs_history=2, horizon=4)
    cfg = TrainConfig(method="bc", epochs=10, hidden=[64, 64], horizon=4, n_action_steps=2, obs_history=2,
                      batch_size=64, seed=0, device="cpu")
    return pretrain(data, cfg, progress=False).ema.model.eval()


def toy_obs(rng: np.random.Generator) -> dict:
    return {"state": rng.uniform(-1, 1, size=3).astype(np.float32)}


@pytest.fixture(scope="session")
def make_obs():
    """Random toy observation factory (matches toy_policy's 3-D state)."""
    return toy_obs
