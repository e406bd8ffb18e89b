"""MLP critics and the tanh-squashed Gaussian actor used by DSRL / DSRL-NA / IQL.

Kept separate from the agents so SAC-style pieces (critic ensemble, bounded actor, Polyak
target update) are unit-testable on their own. Hidden layers are Linear → LayerNorm → activation,
the order of Stable-Baselines3's `create_mlp` with `post_linear_modules=[LayerNorm]`, which DSRL's
reference runs with Tanh (ReLU stays available, and IQL keeps it).
"""
from __future__ import annotations

import math

import torch
from torch import nn


#: hidden-layer activations by name (the agents' configs name them)
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int, layer_norm: bool = True,
        activation: str = "relu") -> nn.Sequential:
    """`layers` hidden layers of width `hidden` (Linear, LayerNorm if `layer_norm`, `activation`),
    linear output."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if layer_norm:
            mods.append(nn.LayerNorm(hidden))
        mods.append(ACTIVATIONS[activation]())
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class CriticEnsemble(nn.Module):
    """`n` independent Q(s, a) heads; `forward` returns [n, B]."""

    def __init__(self, feat_dim: int, act_dim: int, n: int = 2, hidden: int = 256, layers: int = 3,
                 layer_norm: bool = True, activation: str = "relu"):
        super().__init__()
        self.heads = nn.ModuleList(mlp(feat_dim + act_dim, 1, hidden, layers, layer_norm, activation)
                                   for _ in range(n))

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
    trained on. log π is the density of the squashed tanh(u) = w / bound ∈ [-1, 1]^D, as
    Stable-Baselines3's SAC computes it (its actor acts in [-1, 1] and the bound only rescales the
    action for the env): a target entropy then means the same thing at every bound. The density
    of w itself is lower by D·log(bound), a constant that no gradient sees.
    """

    LOG_STD_MIN = -5.0
    LOG_STD_MAX = 2.0

    def __init__(self, feat_dim: int, out_dim: int, bound: float, hidden: int = 256, layers: int = 3,
                 layer_norm: bool = True, activation: str = "relu"):
        super().__init__()
        if bound <= 0:
            raise ValueError(f"noise bound must be > 0, got {bound}")
        self.bound = float(bound)
        self.out_dim = out_dim
        self.net = mlp(feat_dim, 2 * out_dim, hidden, layers, layer_norm, activation)

    def forward(
        self, feat: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (w [B, D] in [-bound, bound], log π of w / bound [B])."""
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
        # Gaussian log-density of u, then change of variables for tanh(u)
        logp_u = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log(1 - tanh(u)^2) computed stably
        log_det = (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
        logp = logp_u - log_det
        w = self.bound * torch.tanh(u)
        return w, logp


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target ← (1-τ)·target + τ·source, parameter-wise (buffers copied)."""
    for tp, sp in zip(target.parameters(), source.parameters()):
        tp.mul_(1.0 - tau).add_(sp, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers()):
        tb.copy_(sb)
