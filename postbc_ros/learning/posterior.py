"""Posterior covariance Σ(s) from ensemble predictions, and sampling w ~ N(0, Σ(s)).

Σ is computed over the flattened, normalised action chunk. The sampling factor comes from an
eigen-decomposition with negative eigenvalues clipped to zero plus a small jitter, so the
matrix used is PSD even when K < D makes the sample covariance rank-deficient (a Cholesky
would fail there).
"""
from __future__ import annotations

import torch

from postbc_ros.learning.train_config import COVARIANCE_KINDS


def ensemble_covariance(preds: torch.Tensor, kind: str = "full") -> torch.Tensor:
    """preds [K, N, D] -> Σ [N, D, D] (full) or per-dimension variance [N, D] (diag)."""
    if preds.dim() != 3:
        raise ValueError(f"ensemble_covariance: expected [K, N, D] predictions, got {tuple(preds.shape)}")
    k = preds.shape[0]
    if k < 2:
        raise ValueError("ensemble_covariance: need at least 2 ensemble members (--ensemble-size >= 2)")
    centered = preds - preds.mean(0, keepdim=True)
    if kind == "diag":
        return (centered**2).sum(0) / (k - 1)
    if kind == "full":
        c = centered.permute(1, 0, 2)  # [N, K, D]
        return c.transpose(1, 2) @ c / (k - 1)
    raise ValueError(f"covariance kind {kind!r} is not one of {COVARIANCE_KINDS}")


def psd_factor(cov: torch.Tensor, jitter: float = 1e-6) -> torch.Tensor:
    """Factor F with F Fᵀ = clip₊(Σ) + jitter·I.

    full: cov [N, D, D] -> F [N, D, D]; diag: cov [N, D] -> F [N, D] (elementwise std).
    """
    if cov.dim() == 2:
        return torch.sqrt(torch.clamp(cov, min=0.0) + jitter)
    sym = 0.5 * (cov + cov.transpose(-1, -2)).double()
    evals, evecs = torch.linalg.eigh(sym)
    evals = torch.clamp(evals, min=0.0) + jitter
    return (evecs * evals.sqrt().unsqueeze(-2)).to(cov.dtype)


def psd_project(cov: torch.Tensor, jitter: float = 1e-6) -> torch.Tensor:
    """The PSD matrix actually sampled from (F Fᵀ), for inspection and tests."""
    f = psd_factor(cov, jitter)
    if f.dim() == 2:
        return torch.diag_embed(f**2)
    return f @ f.transpose(-1, -2)


def trace_cov(cov: torch.Tensor) -> torch.Tensor:
    """tr Σ(s) per state, [N] — the scalar ensemble disagreement used by `postbc coverage`."""
    return cov.sum(-1) if cov.dim() == 2 else torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)


def exclude_entries(factor: torch.Tensor, entries: list[int], action_dim: int) -> torch.Tensor:
    """The sampling factor with no noise on action entries `entries` at any chunk step: their rows of
    F (full, [N, D, D]) or their columns (diag, [N, D]) zeroed, D = horizon · action_dim flattened
    step-major. The other entries keep their own marginal covariance (the rows of F that remain are
    unchanged); a new tensor, `factor` is left as it is."""
    if not entries:
        return factor
    d = factor.shape[1]
    if d % action_dim or max(entries) >= action_dim or min(entries) < 0:
        raise ValueError(f"exclude_entries: entries {entries} / action_dim {action_dim} do not fit D = {d}")
    clean = torch.zeros(d, dtype=torch.bool, device=factor.device)
    for e in entries:
        clean[e::action_dim] = True
    out = factor.clone()
    if out.dim() == 2:
        out[:, clean] = 0.0
    else:
        out[:, clean, :] = 0.0
    return out


def factor_trace(factor: torch.Tensor) -> torch.Tensor:
    """tr(F Fᵀ) per state, [N]: the total variance the noise drawn through `factor` has."""
    return (factor**2).sum(-1) if factor.dim() == 2 else (factor**2).sum((-2, -1))


class PosteriorNoise:
    """Draws w ~ N(0, Σ(s_i)) for dataset indices i, fresh on every call."""

    def __init__(self, factor: torch.Tensor) -> None:
        self.factor = factor

    def sample(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        f = self.factor[idx.to(self.factor.device)]
        d = f.shape[1]
        z = torch.randn(idx.shape[0], d, generator=generator).to(device=f.device, dtype=f.dtype)
        if f.dim() == 2:
            return f * z
        return (f @ z.unsqueeze(-1)).squeeze(-1)


def auto_alpha(trace_sigma_mean: float, action_variance: float, cap: float, target: float) -> float:
    """`--alpha auto`: the largest α ≤ `cap` whose posterior noise stays within `target`.

    The rule (fixed before it was measured on any task; demonstrations only, no rollouts): PostBC
    adds α² · mean_s tr Σ(s) of variance to targets whose own variance over the dataset is
    tr Var(a) (normalised, flattened chunks); keep that fraction at or below `target`
    (train_config.AUTO_NOISE_FRACTION):

        α_auto = min(cap, sqrt(target · tr Var(a) / mean tr Σ(s)))

    `cap` is the configured α (the paper's 1 by default), so the rule only ever lowers it; with no
    disagreement (mean tr Σ = 0) or no action variance it returns `cap` unchanged (the noise adds
    nothing then, or nothing can be measured against).
    """
    if trace_sigma_mean <= 0 or action_variance <= 0:
        return float(cap)
    return float(min(cap, (target * action_variance / trace_sigma_mean) ** 0.5))


def posterior_targets(target: torch.Tensor, idx: torch.Tensor, noise: PosteriorNoise, alpha: float,
                      mix: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """PostBC's regression targets for the minibatch `idx`: a + α·w, w ~ N(0, Σ(s)), each target
    noised with probability `mix` (β) and left clean otherwise — the mixture (1-β)·BC + β·posterior
    of the paper's tabular PostBC.

    β = 1 draws exactly what PostBC always drew (no mask is drawn); β = 0 returns `target` itself and
    draws nothing, so the random stream (and the training) is BC's.
    """
    if mix <= 0.0:
        return target
    w = noise.sample(idx, generator=generator)
    if mix >= 1.0:
        return target + alpha * w
    keep = (torch.rand(idx.shape[0], generator=generator) < mix).to(device=target.device, dtype=target.dtype)
    return target + alpha * keep.unsqueeze(-1) * w
