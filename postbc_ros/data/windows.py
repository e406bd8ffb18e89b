"""chunk_windows: per-frame training windows (observation history + future action chunk).

For frame t of an episode of length T:
* obs.<feature>  frames t-obs_history+1 .. t; before the first frame the first frame repeats;
* action         actions t .. t+horizon-1; past the episode end the last action repeats and
  `action_is_pad` marks those steps (the usual diffusion-policy / LeRobot padding).
"""
from __future__ import annotations

import numpy as np

from postbc_ros.data.reader import DemoDataset


def _obs_features(ds: DemoDataset) -> list[str]:
    return [k for k, ft in ds.features.items() if k.startswith("observation.") and ft["dtype"] != "video"]


def chunk_windows(
    dataset: DemoDataset,
    obs_history: int,
    horizon: int,
    obs_keys: list[str] | None = None,
    action_key: str = "action",
) -> dict[str, np.ndarray]:
    """Windows over every frame of every episode.

    Returns `obs.<feature>` [N, obs_history, ...] (feature = dataset name, e.g.
    'obs.observation.state', 'obs.observation.images.scene' uint8 [N, h, H, W, 3]),
    `action` [N, horizon, A], `action_is_pad` [N, horizon] bool, `episode_index` [N] and
    `frame_index` [N].
    """
    if obs_history < 1 or horizon < 1:
        raise ValueError(f"chunk_windows: obs_history and horizon must be >= 1, got {obs_history}, {horizon}")
    if action_key not in dataset.features:
        raise KeyError(f"{dataset.root}: no '{action_key}' feature (features: {sorted(dataset.features)})")
    keys = list(obs_keys) if obs_keys is not None else _obs_features(dataset)
    for k in keys:
        if k not in dataset.features:
            raise KeyError(f"{dataset.root}: no observation feature '{k}' (features: {sorted(dataset.features)})")
    parts: dict[str, list[np.ndarray]] = {f"obs.{k}": [] for k in keys}
    parts.update(action=[], action_is_pad=[], episode_index=[], frame_index=[])
    for i in range(dataset.num_episodes):
        ep = dataset.episode(i, keys=keys + [action_key])
        act = ep[action_key]
        t_len = act.shape[0]
        t = np.arange(t_len)
        hist = np.clip(t[:, None] + np.arange(1 - obs_history, 1)[None, :], 0, t_len - 1)
        fut = t[:, None] + np.arange(horizon)[None, :]
        parts["action_is_pad"].append(fut >= t_len)
        parts["action"].append(act[np.minimum(fut, t_len - 1)])
        for k in keys:
            parts[f"obs.{k}"].append(ep[k][hist])
        parts["episode_index"].append(np.full(t_len, i, dtype=np.int64))
        parts["frame_index"].append(t.astype(np.int64))
    if dataset.num_episodes == 0:
        return {k: np.zeros((0,)) for k in parts}
    return {k: np.concatenate(v) for k, v in parts.items()}
