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
