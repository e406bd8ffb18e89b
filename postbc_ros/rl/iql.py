"""Implicit Q-Learning critics (Kostrikov et al.) for Best-of-N selection.

V is fit by expectile regression onto target-Q (so it approximates an in-sample max without
querying unseen actions), Q by TD onto r + γ^k V(s'). Only in-distribution chunks are ever
evaluated, which is why it is usable from a few dozen labelled episodes.
"""
from __future__ import annotations

import copy
import dataclasses

import torch

from .networks import CriticEnsemble, ValueNet, polyak_update


@dataclasses.dataclass
class IQLConfig:
    """Libero defaults (expectile 0.9, β 3, 2×256, γ 0.99); real WidowX used 0.7 / 3 / 0.97."""

    expectile: float = 0.9
    beta: float = 3.0
    discount: float = 0.99
    hidden: int = 256
    layers: int = 2
    lr: float = 3e-4
    tau: float = 0.005
    n_critics: int = 2


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """E[|τ − 1(u < 0)| · u²] with u = Q − V: asymmetric L2, τ > 0.5 pushes V towards upper Q."""
    if not 0.0 < expectile < 1.0:
        raise ValueError(f"expectile must be in (0, 1), got {expectile}")
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff.pow(2)).mean()


class IQLCritic(torch.nn.Module):
    """Q ensemble + target + V over (policy features, flattened executed chunk)."""

    def __init__(self, feat_dim: int, act_dim: int, cfg: IQLConfig):
        super().__init__()
        self.cfg = cfg
        self.q = CriticEnsemble(feat_dim, act_dim, cfg.n_critics, cfg.hidden, cfg.layers)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.v = ValueNet(feat_dim, cfg.hidden, cfg.layers)

    def q_value(self, feat: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Conservative Q used for selection: min over the target ensemble."""
        return self.q_target(feat, act).min(dim=0).values

    def losses(self, feat, act, reward, discount, done, next_feat) -> tuple[torch.Tensor, torch.Tensor, dict]:
        with torch.no_grad():
            q_t = self.q_target(feat, act).min(dim=0).values
        v = self.v(feat)
        v_loss = expectile_loss(q_t - v, self.cfg.expectile)
        with torch.no_grad():
            y = reward + discount * (1.0 - done) * self.v(next_feat)
        q = self.q(feat, act)
        q_loss = ((q - y.unsqueeze(0)) ** 2).mean(dim=1).sum()
        return v_loss, q_loss, {"v_loss": v_loss.item(), "q_loss": q_loss.item(), "q_mean": q.mean().item(),
                                "v_mean": v.mean().item()}

    def soft_update(self) -> None:
        polyak_update(self.q_target, self.q, self.cfg.tau)
