"""Coverage diagnostics: ensemble disagreement tr Σ(s) vs the policy's action spread.

PostBC's claim is local: where the demonstrations leave the behaviour uncertain (the
bootstrap members disagree), the policy keeps probability on the alternatives; where they
are dense it matches BC. This module measures both quantities at demonstration states, in
normalised action units over the flattened chunk, and plots one state's policy samples next
to the actions demonstrated at the nearest demonstration states.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from postbc_ros.learning.diffusion import DiffusionPolicy
from postbc_ros.learning.ensemble import PosteriorEnsemble
from postbc_ros.learning.posterior import ensemble_covariance, trace_cov
from postbc_ros.learning.training_data import TrainingData


def _rank(x: np.ndarray) -> np.ndarray:
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def correlations(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return {"pearson": None, "spearman": None}
    return {"pearson": float(np.corrcoef(a, b)[0, 1]), "spearman": float(np.corrcoef(_rank(a), _rank(b))[0, 1])}


def select_states(n: int, max_states: int, seed: int) -> np.ndarray:
    if n <= max_states:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_states, replace=False))


@torch.no_grad()
def ensemble_disagreement(ensemble: PosteriorEnsemble, data: TrainingData, idx: np.ndarray,
                          device: torch.device) -> np.ndarray:
    """tr Σ(s) at the selected windows (normalised flattened-chunk units)."""
    obs = {k: torch.as_tensor(v[idx]).to(device) for k, v in data.obs.items()}
    preds = ensemble.to(device).predict(obs)
    return trace_cov(ensemble_covariance(preds, "diag")).cpu().numpy()


@torch.no_grad()
def policy_spread(policy: DiffusionPolicy, data: TrainingData, idx: np.ndarray, n_samples: int,
                  seed: int, device: torch.device, batch_states: int = 64,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Policy samples at each selected window -> (tr Cov of normalised flat chunks [S],
    unnormalised samples [S, n_samples, H, A])."""
    gen = torch.Generator().manual_seed(seed)
    spreads, samples = [], []
    h, a = policy.cfg.horizon, policy.cfg.action_dim
    for s in tqdm(range(0, len(idx), batch_states), desc="policy samples", disable=not progress, leave=False):
        sel = idx[s : s + batch_states]
        obs = {k: torch.as_tensor(np.repeat(data.obs[k][sel], n_samples, axis=0)).to(device)
               for k in policy.cfg.obs_keys}
        cond = policy.encode_obs(obs)
        xn = policy.sample_normalized(cond, generator=gen)  # [S*M, H, A]
        flat = xn.reshape(len(sel), n_samples, h * a)
        spreads.append(flat.var(1, unbiased=True).sum(-1).cpu().numpy())
        samples.append(policy.action_normalizer.unnormalize(xn).reshape(len(sel), n_samples, h, a).cpu().numpy())
    return np.concatenate(spreads), np.concatenate(samples)


def coverage_report(policy: DiffusionPolicy, ensemble: PosteriorEnsemble, data: TrainingData,
                    n_samples: int = 32, max_states: int = 400, seed: int = 0,
                    device: torch.device | str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Disagreement and spread at demonstration states, their correlation, quartile contrast."""
    device = torch.device(device)
    policy = policy.to(device).eval()
    idx = select_states(data.num_samples, max_states, seed)
    tr = ensemble_disagreement(ensemble.eval(), data, idx, device)
    spread, samples = policy_spread(policy, data, idx, n_samples, seed, device, progress=progress)
    q1, q3 = np.quantile(tr, [0.25, 0.75])
    low, high = tr <= q1, tr >= q3
    report: dict[str, Any] = {
        "num_states": int(len(idx)),
        "samples_per_state": int(n_samples),
        "units": "normalised actions ([-1, 1] per dimension), trace over the flattened chunk",
        "trace_sigma": {"mean": float(tr.mean()), "median": float(np.median(tr)), "max": float(tr.max())},
        "policy_spread": {"mean": float(spread.mean()), "median": float(np.median(spread)), "max": float(spread.max())},
        "correlation": correlations(tr, spread),
        "spread_high_disagreement": float(spread[high].mean()),
        "spread_low_disagreement": float(spread[low].mean()),
        "spread_ratio_high_over_low": float(spread[high].mean() / max(spread[low].mean(), 1e-12)),
        "chosen_state": int(idx[int(np.argmax(tr))]),
    }
    report["_arrays"] = {"idx": idx, "trace_sigma": tr, "spread": spread, "samples": samples}
    return report


def nearest_demo_actions(data: TrainingData, state_index: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Actions (first chunk step) demonstrated at the k nearest low-dim states (any episode)."""
    keys = [key for key, v in data.obs.items() if v.dtype != np.uint8]
    if keys:
        feats = np.concatenate([data.obs[key].reshape(data.num_samples, -1) for key in keys], axis=1)
        span = feats.max(0) - feats.min(0)
        feats = feats / np.where(span > 1e-8, span, 1.0)
        d = np.linalg.norm(feats - feats[state_index], axis=1)
        nn = np.argsort(d)[:k]
    else:  # images only: same-episode neighbours carry no extra information; use the state itself
        nn = np.array([state_index])
    return data.actions[nn, 0], nn


def plot_coverage(report: dict[str, Any], data: TrainingData, out_png: str, action_dims: tuple[int, int] = (0, 1),
                  k_neighbors: int = 10) -> None:
    """Two panels: tr Σ vs spread over states; chosen state's samples beside demonstrated actions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = report["_arrays"]
    chosen = report["chosen_state"]
    pos = int(np.where(arr["idx"] == chosen)[0][0])
    samples = arr["samples"][pos][:, 0]  # first step of each sampled chunk [M, A]
    demo, _ = nearest_demo_actions(data, chosen, k_neighbors)
    a_dim = samples.shape[-1]
    dx, dy = action_dims[0], action_dims[1] if a_dim > 1 else action_dims[0]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    ax[0].scatter(arr["trace_sigma"], arr["spread"], s=8, alpha=0.6)
    c = report["correlation"]
    ax[0].set_xlabel("ensemble disagreement tr Σ(s)")
    ax[0].set_ylabel("policy action spread tr Cov")
    ax[0].set_title(f"demo states (pearson {c['pearson'] if c['pearson'] is None else round(c['pearson'], 2)})")
    if a_dim > 1:
        ax[1].scatter(samples[:, dx], samples[:, dy], s=12, alpha=0.5, label="policy samples")
        ax[1].scatter(demo[:, dx], demo[:, dy], marker="x", s=80, c="red", label=f"demonstrated ({len(demo)} nearest states)")
        ax[1].scatter(data.actions[chosen, 0, dx], data.actions[chosen, 0, dy], marker="*", s=200, c="black", label="this state's demo")
        ax[1].set_xlabel(f"action[{dx}]")
        ax[1].set_ylabel(f"action[{dy}]")
    else:
        ax[1].hist(samples[:, 0], bins=40, alpha=0.6, label="policy samples")
        for v in demo[:, 0]:
            ax[1].axvline(v, color="red", alpha=0.6)
        ax[1].set_xlabel("action[0]")
    ax[1].set_title(f"state {chosen} (highest tr Σ)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
