"""DSRL-NA (noise aliasing): learn in action space, act in noise space.

Q_A(s, a) is trained by TD on the *executed* chunks (so demonstrations, which have actions but
no noise, are usable too); Q_W(s, w) is regressed onto Q_A(s, π(s, w)) for w ~ N(0, I) clipped
to the noise bound (the public code's NA variant ignored the bound — the distillation must only
cover noise the actor can emit); the actor maximises Q_W with SAC's entropy term.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch

from .agent_base import ChunkAgentBase
from .dsrl import DSRLConfig, SACNoiseMixin
from .networks import CriticEnsemble, polyak_update
from .replay_buffer import ReplayBuffer


@dataclasses.dataclass
class DSRLNAConfig(DSRLConfig):
    """DSRL's settings, plus the action-space critic's demonstration share and the distillation batch."""

    demo_ratio: float = 0.25  # share of each Q_A batch drawn from demonstrations (when added)
    distill_batch: int = 256  # w ~ N(0, I) samples per Q_W regression step


class DSRLNAAgent(SACNoiseMixin, ChunkAgentBase):
    KIND = "dsrl_na_agent"

    def __init__(self, policy: Any, cfg: DSRLNAConfig | None = None, device=None, seed: int = 0):
        cfg = cfg or DSRLNAConfig()
        cfg.validate()
        super().__init__(policy, cfg, device, seed)

    def _batch_source(self) -> tuple[ReplayBuffer, ReplayBuffer | None, float]:
        return self.replay, self.demo_replay, float(self.cfg.demo_ratio)

    def _build(self, feat_dim: int) -> None:
        cfg = self.cfg
        self.q_action = CriticEnsemble(feat_dim, self.fp.exec_dim, cfg.n_critics, **self._net_kw()).to(self.device)
        self.q_action_target = copy.deepcopy(self.q_action).requires_grad_(False)
        self.q_noise = CriticEnsemble(feat_dim, self.fp.noise_dim, cfg.n_critics, **self._net_kw()).to(self.device)
        self.modules.update(q_action=self.q_action, q_action_target=self.q_action_target, q_noise=self.q_noise)
        self.optims["q_action"] = torch.optim.Adam(self.q_action.parameters(), lr=cfg.lr)
        self.optims["q_noise"] = torch.optim.Adam(self.q_noise.parameters(), lr=cfg.lr)
        self._build_actor(feat_dim)

    def executed(self, chunk: torch.Tensor) -> torch.Tensor:
        return chunk[:, : self.fp.n_action_steps].reshape(len(chunk), -1)

    def _update_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        cfg = self.cfg
        obs_t, nobs_t = self.batch_obs(batch, "obs"), self.batch_obs(batch, "next_obs")
        feat, nfeat = self.fp.features(obs_t), self.fp.features(nobs_t)
        a = self.tensor(batch["action"]).reshape(len(feat), -1)
        r, disc, done = self.tensor(batch["reward"]), self.tensor(batch["discount"]), self.tensor(batch["done"])
        # 1) action critic: TD on executed chunks, next action = π(s', actor(s'))
        with torch.no_grad():
            nw, nlogp = self.actor(nfeat, generator=self.torch_gen)
            na = self.executed(self.fp.decode(nobs_t, nw))
            q_next = self._next_value(self.q_action_target(nfeat, na).min(dim=0).values, nlogp)
            y = r + disc * (1.0 - done) * q_next
        qa = self.q_action(feat, a)
        qa_loss = ((qa - y.unsqueeze(0)) ** 2).mean(dim=1).sum()
        self.optims["q_action"].zero_grad(set_to_none=True)
        qa_loss.backward()
        self.optims["q_action"].step()
        # 2) noise critic: distil Q_A through the frozen sampler, w inside the bound
        n = int(cfg.distill_batch)
        idx = torch.as_tensor(self.np_rng.integers(0, len(feat), size=n), device=self.device)
        w0 = self.base_noise(n, clip=True)
        sub_obs = {k: v[idx] for k, v in obs_t.items()}
        with torch.no_grad():
            target = self.q_action(feat[idx], self.executed(self.fp.decode(sub_obs, w0))).min(dim=0).values
        qw = self.q_noise(feat[idx], w0)
        qw_loss = ((qw - target.unsqueeze(0)) ** 2).mean(dim=1).sum()
        self.optims["q_noise"].zero_grad(set_to_none=True)
        qw_loss.backward()
        self.optims["q_noise"].step()
        # 3) actor + temperature on Q_W
        m = self._actor_alpha_step(feat, self.q_noise)
        polyak_update(self.q_action_target, self.q_action, cfg.tau)
        m.update(q_action_loss=qa_loss.item(), q_noise_loss=qw_loss.item(), q_data=qa.mean().item())
        return m
