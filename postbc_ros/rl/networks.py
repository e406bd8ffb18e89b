"""Small MLP critics and the tanh-squashed Gaussian actor used by DSRL / DSRL-NA / IQL.

Kept separate from the agents so SAC-style pieces (critic ensemble, bounded actor, Polyak
target update) are unit-testable on their own.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int, layer_norm: bool = True) -> nn.Sequential:
    """`layers` hidden layers of width `hidden` (LayerNorm + ReLU), linear output."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if layer_norm:
            mods.append(nn.LayerNorm(hidden))
        mods.append(nn.ReLU())
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class CriticEnsemble(nn.Module):
    """`n` independent Q(s, a) heads; `forward` returns [n, B]."""

    def __init__(self, feat_dim: int, act_dim: int, n: int = 2, hidden: int = 256, layers: int = 3):
        super().__init__()
        self.heads = nn.ModuleList(mlp(feat_dim + act_dim, 1, hidden, layers) for _ in range(n))

    def forward(self, feat: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([feat, act], dim=-1)
        return torch.stack([h(x).squeeze(-1) for h in self.heads], dim=0)


class ValueNet(nn.Module):
    """V(s) head for IQL."""

    def __init__(self, feat_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.net = mlp(feat_dim, 1, hidden, layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat).squeeze(-1)


class TanhGaussianActor(nn.Module):
    """π(w|s): w = bound · tanh(u), u ~ N(μ(s), σ(s)²).

    The bound is the DSRL "action magnitude": the diffusion policy only ever sees initial noise
    inside [-bound, bound]^D, so steering cannot push the sampler far outside the region it was
    trained on.
    """

    LOG_STD_MIN = -5.0
    LOG_STD_MAX = 2.0

    def __init__(self, feat_dim: int, out_dim: int, bound: float, hidden: int = 256, layers: int = 3):
        super().__init__()
        if bound <= 0:
            raise ValueError(f"noise bound must be > 0, got {bound}")
        self.bound = float(bound)
        self.out_dim = out_dim
        self.net = mlp(feat_dim, 2 * out_dim, hidden, layers)

    def forward(
        self, feat: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (w [B, D] in [-bound, bound], log π(w|s) [B])."""
        mu, log_std = self.net(feat).chunk(2, dim=-1)
        log_std = torch.clamp(log_std, self.LOG_STD_MIN, self.LOG_STD_MAX)
        std = log_std.exp()
        if deterministic:
            u = mu
        else:
            # draw on the generator's device (CPU by default) so runs are reproducible on any device
            gdev = generator.device if generator is not None else mu.device
            eps = torch.randn(mu.shape, generator=generator, device=gdev, dtype=mu.dtype).to(mu.device)
            u = mu + std * eps
        # Gaussian log-density of u, then change of variables for w = bound * tanh(u)
        logp_u = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log(1 - tanh(u)^2) computed stably
        log_det = (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
        logp = logp_u - log_det - u.shape[-1] * math.log(self.bound)
        w = self.bound * torch.tanh(u)
        return w, logp


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target ← (1-τ)·target + τ·source, parameter-wise (buffers copied)."""
    for tp, sp in zip(target.parameters(), source.parameters()):
        tp.mul_(1.0 - tau).add_(sp, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers()):
        tb.copy_(sb)
