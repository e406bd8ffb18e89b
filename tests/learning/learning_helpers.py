"""Toy data and dataset helpers for the learning tests (unique module name: no clash with other conftests)."""
from __future__ import annotations

import numpy as np
import torch

from postbc_ros.learning.training_data import TrainingData


def bimodal_toy(n: int, dim: int = 4, rare: float = 0.25, seed: int = 0) -> TrainingData:
    """n demo states (Gaussian in R^dim), one action each: +1 (frequent) or -1 (rare).

    The demonstrator is stochastic and state-independent, so the behaviour policy puts mass
    (1 - rare) on +1 and `rare` on -1 at *every* state. Each sample is its own trajectory.
    """
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, dim)).astype(np.float32)
    a = np.where(rng.uniform(size=n) < rare, -1.0, 1.0).astype(np.float32)
    a[:2] = [1.0, -1.0]  # both modes are always demonstrated
    return TrainingData(obs={"state": s[:, None, :]}, actions=a[:, None, None], episode_index=np.arange(n))


def sample_actions(policy, states: np.ndarray, m: int, seed: int = 1) -> np.ndarray:
    """m policy samples at each state -> [S, m] (1-D actions)."""
    obs = {"state": torch.as_tensor(np.repeat(states, m, axis=0)[:, None, :])}
    g = torch.Generator().manual_seed(seed)
    return policy.sample(obs, generator=g).numpy().reshape(len(states), m)


def random_episodes(n_episodes: int, length: int, state_dim: int = 5, action_dim: int = 3,
                    image: tuple[int, int] | None = None, seed: int = 0) -> list[dict]:
    """Smooth random trajectories (actions depend on the state), optionally with images."""
    rng = np.random.default_rng(seed)
    eps = []
    for e in range(n_episodes):
        s = np.cumsum(rng.normal(scale=0.1, size=(length, state_dim)), axis=0).astype(np.float32)
        a = np.tanh(s[:, :action_dim] + 0.1 * rng.normal(size=(length, action_dim))).astype(np.float32)
        obs = {"state": s}
        if image is not None:
            obs["scene"] = rng.integers(0, 255, size=(length, *image, 3), dtype=np.uint8)
        eps.append({"obs": obs, "action": a, "episode_index": e})
    return eps



def write_dataset(root, episodes: list[dict], fps: float = 10.0, state_names: list[str] | None = None,
                  action_names: list[str] | None = None) -> None:
    """Write `random_episodes` output as a real LeRobot-layout dataset (the data package's writer);
    `state_names` / `action_names` name the entries of observation.state / action (None: unnamed)."""
    from postbc_ros.data import DatasetWriter

    ep0 = episodes[0]
    feats = {"observation.state": {"dtype": "float32", "shape": [ep0["obs"]["state"].shape[1]], "names": state_names},
             "action": {"dtype": "float32", "shape": [ep0["action"].shape[1]], "names": action_names}}
    if "scene" in ep0["obs"]:
        feats["observation.images.scene"] = {"dtype": "image", "shape": list(ep0["obs"]["scene"].shape[1:]),
                                             "names": ["height", "width", "channel"]}
    w = DatasetWriter(root, feats, fps=fps, robot_type="widowx")
    for ep in episodes:
        for t in range(len(ep["action"])):
            frame = {"observation.state": ep["obs"]["state"][t], "action": ep["action"][t]}
            if "scene" in ep["obs"]:
                frame["observation.images.scene"] = ep["obs"]["scene"][t]
            w.add_frame(frame)
        w.save_episode(task="toy", success=True)
    w.close()
