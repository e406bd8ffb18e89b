"""Known-answer test of the PostBC idea on a bimodal toy (the paper's coverage argument).

Demonstrator: at every state, action +1 w.p. 0.75 and -1 w.p. 0.25.
- Few demos (each state seen once): BC reproduces the one demonstrated action at each state,
  so at every state it covers only one mode; PostBC's posterior noise is large where the
  bootstrap members disagree, and it puts a measurable fraction of samples near both modes.
- Many demos: the bootstrap members agree (Σ -> 0) and PostBC's action distribution
  contracts to BC's.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.learning.train import TrainConfig, pretrain

from learning_helpers import bimodal_toy, sample_actions

EPS = 0.25  # "within ε of a mode", normalised action units (modes at ±1)


def min_mode_coverage(x: np.ndarray) -> np.ndarray:
    """Per state: the smaller of the fractions of samples within EPS of +1 and of -1."""
    return np.minimum((np.abs(x - 1) < EPS).mean(1), (np.abs(x + 1) < EPS).mean(1))


DIM = 8  # demo states in R^8: well separated, so BC can (and does) fit each one exactly
ALPHA = 2.0  # posterior noise weight (the paper uses 0.25-4)


def _cfg(method: str, epochs: int, ens_epochs: int, k: int) -> TrainConfig:
    return TrainConfig(method=method, alpha=ALPHA, epochs=epochs, ensemble_epochs=ens_epochs or None,
                       ensemble_size=k, horizon=1, n_action_steps=1, hidden=[128, 128, 128],
                       batch_size=256, seed=0, lr=2e-3)


def test_few_demos_postbc_covers_both_modes_bc_does_not():
    data = bimodal_toy(12, DIM)
    states = data.obs["state"][:, 0]
    bc = pretrain(data, _cfg("bc", 2000, 0, 2), progress=False)
    post = pretrain(data, _cfg("postbc", 2000, 400, 30), progress=False)
    x_bc = sample_actions(bc.ema.model, states, 200)
    x_post = sample_actions(post.ema.model, states, 200)
    cov_bc, cov_post = min_mode_coverage(x_bc), min_mode_coverage(x_post)
    # BC: one mode per state (no measurable mass on the other one anywhere)
    assert cov_bc.mean() < 0.01, cov_bc
    assert cov_bc.max() < 0.05, cov_bc
    # PostBC: both demonstrated modes get a measurable fraction of the samples
    assert cov_post.mean() > 0.03, cov_post
    assert cov_post.mean() > 3 * cov_bc.mean() + 0.02
    # the posterior is uncertain with 12 demos
    assert post.cov_trace.mean() > 0.1
    # and where the ensemble disagrees more, PostBC spreads more (spread follows Σ)
    spread = x_post.std(1)
    assert np.corrcoef(post.cov_trace, spread)[0, 1] > 0.3


def test_many_demos_sigma_vanishes_and_postbc_contracts_to_bc():
    # 4-D states: 1000 demos are "many" there (a small MLP cannot memorise their noise)
    few = pretrain(bimodal_toy(12, 4), _cfg("postbc", 1, 400, 16), progress=False)
    data = bimodal_toy(1000, 4)
    states = data.obs["state"][:24, 0]
    bc = pretrain(data, _cfg("bc", 90, 0, 2), progress=False)
    post = pretrain(data, _cfg("postbc", 90, 60, 16), progress=False)
    assert post.cov_trace.mean() < 0.25 * few.cov_trace.mean(), (post.cov_trace.mean(), few.cov_trace.mean())
    x_bc = sample_actions(bc.ema.model, states, 200)
    x_post = sample_actions(post.ema.model, states, 200)
    rare_bc = (np.abs(x_bc + 1) < EPS).mean()
    rare_post = (np.abs(x_post + 1) < EPS).mean()
    freq_bc = (np.abs(x_bc - 1) < EPS).mean()
    # with plenty of data BC itself represents both modes ...
    assert rare_bc > 0.08 and freq_bc > 0.3
    # ... and PostBC's distribution matches it: same rare-mode weight, same mean, and a small
    # Wasserstein-1 distance between the pooled samples (the modes are 2 apart)
    assert abs(rare_post - rare_bc) < 0.08
    assert abs(x_post.mean() - x_bc.mean()) < 0.15
    w1 = np.abs(np.sort(x_bc.ravel()) - np.sort(x_post.ravel())).mean()
    assert w1 < 0.15, w1
