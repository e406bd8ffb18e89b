"""Best-of-N: sample N chunks from the frozen diffusion policy, execute the one IQL likes best.

The method the PostBC paper used on the real WidowX (N = 4 / 16, IQL on ~100 hand-labelled
rollouts per policy). It never leaves the support of the pretrained policy, so it can only
improve on what the policy already samples — exactly where PostBC's coverage matters.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from .agent_base import ChunkAgentBase
from .iql import IQLConfig, IQLCritic
from .replay_buffer import ReplayBuffer


@dataclasses.dataclass
class BestOfNConfig:
    n_samples: int = 16
    iql: IQLConfig = dataclasses.field(default_factory=IQLConfig)
    batch_size: int = 256
    utd: int = 20
    learning_starts: int = 32
    replay_capacity: int = 100_000
    demo_ratio: float = 0.5
    noise_bound: float = 1.5  # only used when clip_noise=True
    clip_noise: bool = False  # the paper samples the pretrained policy as is (w ~ N(0, I))
    explore_selection: str = "argmax"  # argmax | softmax (softmax(β·(Q − max Q)) over the N samples)


class BestOfNAgent(ChunkAgentBase):
    KIND = "best_of_n_agent"

    def __init__(self, policy: Any, cfg: BestOfNConfig | None = None, device=None, seed: int = 0):
        cfg = cfg or BestOfNConfig()
        if isinstance(cfg.iql, dict):
            cfg.iql = IQLConfig(**cfg.iql)
        if cfg.n_samples < 1:
            raise ValueError(f"BestOfNConfig.n_samples must be >= 1, got {cfg.n_samples}")
        if cfg.explore_selection not in ("argmax", "softmax"):
            raise ValueError(f"BestOfNConfig.explore_selection must be argmax|softmax, got {cfg.explore_selection!r}")
        super().__init__(policy, cfg, device, seed)
        self.last_scores: np.ndarray | None = None

    def _batch_source(self) -> tuple[ReplayBuffer, ReplayBuffer | None, float]:
        return self.replay, self.demo_replay, float(self.cfg.demo_ratio)

    def _build(self, feat_dim: int) -> None:
        self.iql = IQLCritic(feat_dim, self.fp.exec_dim, self.cfg.iql).to(self.device)
        self.modules["iql"] = self.iql
        lr = self.cfg.iql.lr
        self.optims["q"] = torch.optim.Adam(self.iql.q.parameters(), lr=lr)
        self.optims["v"] = torch.optim.Adam(self.iql.v.parameters(), lr=lr)

    def score(self, feat: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
        """Q of each candidate chunk's executed part. feat [1, F] or [N, F], chunks [N, horizon, A]."""
        a = chunks[:, : self.fp.n_action_steps].reshape(len(chunks), -1)
        return self.iql.q_value(feat.expand(len(chunks), -1), a)

    def _choose_noise(self, obs_t, feat, mode: str) -> torch.Tensor:
        n = int(self.cfg.n_samples)
        w = self.base_noise(n, clip=bool(self.cfg.clip_noise))
        rep = {k: v.expand(n, *v.shape[1:]) for k, v in obs_t.items()}
        chunks = self.fp.decode(rep, w)
        scores = self.score(feat, chunks)
        self.last_scores = scores.cpu().numpy()
        if mode == "explore" and self.cfg.explore_selection == "softmax":
            logits = self.cfg.iql.beta * (scores - scores.max())
            i = int(torch.multinomial(torch.softmax(logits, 0).cpu(), 1, generator=self.torch_gen))
        else:
            i = int(torch.argmax(scores))
        return w[i : i + 1]

    def _update_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        feat = self.fp.features(self.batch_obs(batch, "obs"))
        nfeat = self.fp.features(self.batch_obs(batch, "next_obs"))
        a = self.tensor(batch["action"]).reshape(len(feat), -1)
        v_loss, q_loss, m = self.iql.losses(
            feat, a, self.tensor(batch["reward"]), self.tensor(batch["discount"]), self.tensor(batch["done"]), nfeat
        )
        self.optims["v"].zero_grad(set_to_none=True)
        v_loss.backward()
        self.optims["v"].step()
        self.optims["q"].zero_grad(set_to_none=True)
        q_loss.backward()
        self.optims["q"].step()
        self.iql.soft_update()
        return m
