"""DSRL: SAC in the diffusion policy's initial-noise space (Wagenmaker et al., "Steering Your
Diffusion Policy with Latent Space RL"), the finetuner PostBC is evaluated with.

The diffusion policy stays frozen; the actor outputs w ∈ [-bound, bound]^{horizon×A}
(tanh-squashed), the policy decodes w deterministically into an action chunk, and the critics
Q(s, w) learn on (features(s), w). Warm start: the first `warmup_env_steps` env steps use
w ~ N(0, I) (clipped to the bound) — counted in env steps, and the noise is decoded exactly once —
and, as in the reference, no gradient step is taken until it is over.

The defaults (rl.dsrl_config.DSRLConfig) are the reference's.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from .agent_base import ChunkAgentBase
from .dsrl_config import REFERENCE_WARMUP_ENV_STEPS, DSRLConfig
from .networks import CriticEnsemble, TanhGaussianActor, polyak_update

__all__ = ["DSRLAgent", "DSRLConfig", "REFERENCE_WARMUP_ENV_STEPS", "SACNoiseMixin"]


class LogAlpha(nn.Module):
    """SAC temperature as a module so it is saved/loaded like every other weight."""

    def __init__(self, init_alpha: float):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(np.log(init_alpha))))

    def alpha(self) -> torch.Tensor:
        return self.value.exp()


class SACNoiseMixin:
    """Actor + temperature update shared by DSRL and DSRL-NA (both maximise a Q over w)."""

    def _net_kw(self) -> dict:
        cfg = self.cfg
        return {"hidden": cfg.hidden, "layers": cfg.layers, "layer_norm": cfg.layer_norm, "activation": cfg.activation}

    def _build_actor(self, feat_dim: int) -> None:
        cfg = self.cfg
        self.actor = TanhGaussianActor(feat_dim, self.fp.noise_dim, cfg.noise_bound, **self._net_kw()).to(self.device)
        self.log_alpha = LogAlpha(cfg.init_alpha).to(self.device)
        self.modules.update(actor=self.actor, log_alpha=self.log_alpha)
        self.optims.update(
            actor=torch.optim.Adam(self.actor.parameters(), lr=cfg.lr),
            alpha=torch.optim.Adam(self.log_alpha.parameters(), lr=cfg.lr),
        )

    def in_warmup(self) -> bool:
        return self.env_steps < int(self.cfg.warmup_env_steps)

    def _acts_with_networks(self, mode: str) -> bool:
        return not (mode == "explore" and self.in_warmup())  # the warm start draws w ~ N(0, I)

    def ready(self) -> bool:
        """Buffers large enough, and (unless cfg.train_during_warmup) the warm start over."""
        return super().ready() and (bool(self.cfg.train_during_warmup) or not self.in_warmup())

    def _choose_noise(self, obs_t, feat, mode: str) -> torch.Tensor:
        """explore: w ~ N(0, I) during the warm start, then a sample of the actor; sample: a sample
        of the actor; eval: its mean (tanh of the Gaussian's mean)."""
        if mode == "explore" and self.in_warmup():
            return self.base_noise(1, clip=True)
        w, _ = self.actor(feat, deterministic=(mode == "eval"), generator=self.torch_gen)
        return w

    def _next_value(self, q_next: torch.Tensor, next_logp: torch.Tensor) -> torch.Tensor:
        """What the critics' TD target bootstraps from: min-Q of the next step, minus α·log π of
        the next noise only when cfg.backup_entropy (standard SAC)."""
        if self.cfg.backup_entropy:
            return q_next - self.log_alpha.alpha() * next_logp
        return q_next

    def _actor_alpha_step(self, feat: torch.Tensor, q_of_w) -> dict[str, float]:
        alpha = self.log_alpha.alpha().detach()
        w_pi, logp = self.actor(feat, generator=self.torch_gen)
        q_pi = q_of_w(feat, w_pi).min(dim=0).values
        actor_loss = (alpha * logp - q_pi).mean()
        self.optims["actor"].zero_grad(set_to_none=True)
        actor_loss.backward()
        self.optims["actor"].step()
        alpha_loss = -(self.log_alpha.value * (logp.detach() + self.cfg.target_entropy)).mean()
        self.optims["alpha"].zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.optims["alpha"].step()
        return {"actor_loss": actor_loss.item(), "alpha": alpha.item(), "entropy": -logp.mean().item(),
                "q_pi": q_pi.mean().item()}


class DSRLAgent(SACNoiseMixin, ChunkAgentBase):
    KIND = "dsrl_agent"

    def __init__(self, policy: Any, cfg: DSRLConfig | None = None, device=None, seed: int = 0):
        cfg = cfg or DSRLConfig()
        cfg.validate()
        super().__init__(policy, cfg, device, seed)

    def _build(self, feat_dim: int) -> None:
        cfg = self.cfg
        self.critic = CriticEnsemble(feat_dim, self.fp.noise_dim, cfg.n_critics, **self._net_kw()).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.modules.update(critic=self.critic, critic_target=self.critic_target)
        self.optims["critic"] = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self._build_actor(feat_dim)

    def _update_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        cfg = self.cfg
        feat = self.fp.features(self.batch_obs(batch, "obs"))
        nfeat = self.fp.features(self.batch_obs(batch, "next_obs"))
        w = self.tensor(batch["noise"]).reshape(len(feat), -1)
        r, disc, done = self.tensor(batch["reward"]), self.tensor(batch["discount"]), self.tensor(batch["done"])
        with torch.no_grad():
            nw, nlogp = self.actor(nfeat, generator=self.torch_gen)
            q_next = self._next_value(self.critic_target(nfeat, nw).min(dim=0).values, nlogp)
            y = r + disc * (1.0 - done) * q_next
        q = self.critic(feat, w)
        critic_loss = ((q - y.unsqueeze(0)) ** 2).mean(dim=1).sum()
        self.optims["critic"].zero_grad(set_to_none=True)
        critic_loss.backward()
        self.optims["critic"].step()
        m = self._actor_alpha_step(feat, self.critic)
        polyak_update(self.critic_target, self.critic, cfg.tau)
        m.update(critic_loss=critic_loss.item(), q_data=q.mean().item())
        return m
