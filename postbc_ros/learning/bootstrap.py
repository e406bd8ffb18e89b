"""Bootstrap resamples of the demonstrations, expressed as per-sample weights.

A resample that draws item j c_j times is equivalent (for a sum-of-losses objective) to
weighting item j's loss by c_j. Training all K members on shared minibatches with a [K, N]
weight matrix therefore trains member k on its own resample D_k without materialising K
datasets, and lets image members share one encoder pass.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.learning.train_config import BOOTSTRAP_MODES


def bootstrap_indices(n_items: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """[k, n_items] indices drawn uniformly with replacement (one row per resample)."""
    if n_items <= 0 or k <= 0:
        raise ValueError(f"bootstrap_indices: need n_items > 0 and k > 0, got {n_items}, {k}")
    return rng.integers(0, n_items, size=(k, n_items))


def bootstrap_weights(
    episode_index: np.ndarray, k: int, mode: str, rng: np.random.Generator
) -> np.ndarray:
    """[k, N] float32 weights: how many times each (s, a) sample appears in member k's resample.

    trajectory: draw as many whole episodes as there are, with replacement; every sample of
        an episode drawn c times gets weight c (the paper's default).
    state_action: draw N (s, a) pairs with replacement.
    """
    episode_index = np.asarray(episode_index)
    n = episode_index.shape[0]
    if mode == "trajectory":
        episodes, inverse = np.unique(episode_index, return_inverse=True)
        idx = bootstrap_indices(len(episodes), k, rng)
        counts = np.stack([np.bincount(row, minlength=len(episodes)) for row in idx])  # [k, E]
        return counts[:, inverse].astype(np.float32)
    if mode == "state_action":
        idx = bootstrap_indices(n, k, rng)
        return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float32)
    raise ValueError(f"bootstrap mode {mode!r} is not one of {BOOTSTRAP_MODES}")
