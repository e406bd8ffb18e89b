"""Training windows for the learner: from a LeRobot-layout dataset directory or from arrays.

`TrainingData` is what the ensemble and the diffusion trainer consume:
obs[key] [N, obs_history, ...] (key = env observation key: 'state', 'scene', 'wrist'),
actions [N, horizon, A] (padding past an episode's end repeats the last real action),
episode_index [N].
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from postbc_ros.data.lerobot_format import DatasetError
from postbc_ros.learning.diffusion import canonical_obs_key
from postbc_ros.learning.networks import is_image_shape


@dataclass
class TrainingData:
    obs: dict[str, np.ndarray]
    actions: np.ndarray
    episode_index: np.ndarray
    feature_names: dict[str, str] = field(default_factory=dict)  # policy key -> dataset feature
    features: dict = field(default_factory=dict)  # the dataset's feature spec (JSON-able)
    fps: float | None = None
    source: str = "arrays"

    def __post_init__(self) -> None:
        n = self.actions.shape[0]
        if self.actions.ndim != 3:
            raise DatasetError(f"actions must be [N, horizon, A], got {self.actions.shape}")
        if n == 0:
            raise DatasetError(f"{self.source}: no training windows (empty dataset?)")
        if not np.isfinite(self.actions).all():
            raise DatasetError(f"{self.source}: field 'action' contains NaN/Inf; re-record or clean those frames")
        for k, v in self.obs.items():
            if v.shape[0] != n:
                raise DatasetError(f"{self.source}: obs '{k}' has {v.shape[0]} windows but actions have {n}")
            if v.dtype != np.uint8 and not np.isfinite(v).all():
                raise DatasetError(f"{self.source}: observation '{k}' contains NaN/Inf; clean the dataset")
        if self.episode_index.shape != (n,):
            raise DatasetError(f"{self.source}: episode_index must be [N], got {self.episode_index.shape}")

    @property
    def num_samples(self) -> int:
        return int(self.actions.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(len(np.unique(self.episode_index)))

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[2])

    @property
    def obs_history(self) -> int:
        return int(next(iter(self.obs.values())).shape[1])

    def obs_shapes(self) -> dict[str, list[int]]:
        return {k: [int(s) for s in v.shape[2:]] for k, v in self.obs.items()}


def windows_from_episodes(
    episodes: Sequence[Mapping], obs_history: int, horizon: int
) -> TrainingData:
    """In-memory episodes [{'obs': {key: [T, ...]}, 'action': [T, A]}] -> windows.

    History before the first frame repeats the first observation; chunks past the last frame
    repeat the last action (the usual diffusion-policy padding).
    """
    obs_out: dict[str, list] = {}
    acts, eps = [], []
    for e_i, ep in enumerate(episodes):
        a = np.asarray(ep["action"], dtype=np.float32)
        t_len = a.shape[0]
        t = np.arange(t_len)
        hist = np.clip(t[:, None] + np.arange(-obs_history + 1, 1)[None, :], 0, t_len - 1)
        fut = np.clip(t[:, None] + np.arange(horizon)[None, :], 0, t_len - 1)
        acts.append(a[fut])
        eps.append(np.full(t_len, ep.get("episode_index", e_i)))
        for k, v in ep["obs"].items():
            v = np.asarray(v)
            if v.shape[0] != t_len:
                raise DatasetError(f"episode {e_i}: obs '{k}' has {v.shape[0]} frames, action has {t_len}")
            obs_out.setdefault(k, []).append(v[hist])
    obs = {}
    for k, parts in obs_out.items():
        arr = np.concatenate(parts)
        obs[k] = arr if arr.dtype == np.uint8 else arr.astype(np.float32)
    return TrainingData(obs=obs, actions=np.concatenate(acts), episode_index=np.concatenate(eps))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _to_hwc_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """[N, T, H, W, 3] uint8 from either channels-last or channels-first, uint8 or [0,1] float."""
    if arr.ndim != 5:
        raise DatasetError(f"image feature '{name}' must be [N, T, H, W, 3] windows, got {arr.shape}")
    if arr.shape[-1] != 3 and arr.shape[2] == 3:
        arr = np.moveaxis(arr, 2, -1)
    if arr.shape[-1] != 3:
        raise DatasetError(f"image feature '{name}' has no 3-channel axis: {arr.shape}")
    if arr.dtype != np.uint8:
        hi = float(np.nanmax(arr)) if arr.size else 0.0
        arr = np.clip(arr * (255.0 if hi <= 1.0 + 1e-6 else 1.0), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def load_training_data(
    root: str | os.PathLike, obs_history: int, horizon: int, obs_keys: Sequence[str] | None = None
) -> TrainingData:
    """Read a dataset directory with `postbc_ros.data.DemoDataset` + `chunk_windows`."""
    from postbc_ros.data import DemoDataset, chunk_windows

    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset directory {root} does not exist; record one with `postbc collect --out {root}`")
    ds = DemoDataset(root)
    if ds.num_episodes == 0:
        raise DatasetError(f"{root}: dataset has no episodes; record demonstrations first")
    win = chunk_windows(ds, obs_history=obs_history, horizon=horizon)
    if "action" not in win:
        raise DatasetError(f"{root}: chunk_windows returned no 'action' field (features: {sorted(ds.features)})")
    actions = np.asarray(win["action"], dtype=np.float32)
    if "action_is_pad" in win:  # pad with the last real action, whatever the reader filled in
        pad = np.asarray(win["action_is_pad"], dtype=bool)
        for h in range(1, actions.shape[1]):
            actions[:, h] = np.where(pad[:, h, None], actions[:, h - 1], actions[:, h])
    obs, names = {}, {}
    for name, arr in win.items():
        if not name.startswith("obs."):
            continue
        feature = name[4:]
        key = canonical_obs_key(feature)
        if obs_keys is not None and key not in obs_keys and feature not in obs_keys:
            continue
        arr = np.asarray(arr)
        is_img = arr.ndim == 5 or "images" in feature
        obs[key] = _to_hwc_uint8(arr, feature) if is_img else arr.astype(np.float32)
        names[key] = feature
    if not obs:
        raise DatasetError(
            f"{root}: no observation features selected (available: "
            f"{sorted(k[4:] for k in win if k.startswith('obs.'))}, requested: {obs_keys})"
        )
    for key, arr in obs.items():
        if arr.ndim == 5 and not is_image_shape(arr.shape[2:]):
            raise DatasetError(f"{root}: image feature '{names[key]}' has shape {arr.shape}")
    return TrainingData(
        obs=obs,
        actions=actions,
        episode_index=np.asarray(win["episode_index"]).astype(np.int64).reshape(-1),
        feature_names=names,
        features=_jsonable(dict(ds.features)),
        fps=float(ds.fps) if ds.fps is not None else None,
        source=str(root),
    )
