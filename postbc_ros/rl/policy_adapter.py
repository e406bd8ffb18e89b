"""Frozen diffusion policy seen from the RL side: features, noise → chunk, observation history.

`DiffusionPolicy` (postbc_ros.learning) takes `obs: dict[key, Tensor[B, obs_history, ...]]`
keyed by `policy.cfg.obs_keys` (LeRobot names such as `observation.state`). Environments give
dict observations keyed `state` / `scene` / `wrist`. `ObsHistory` keeps the last
`obs_history` env observations and returns them stacked under the policy's keys, so replay rows
and critic inputs are exactly what the policy is conditioned on.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch


def env_key_for(policy_key: str) -> str:
    """`observation.state` → `state`, `observation.images.scene` → `scene`, `state` → `state`."""
    for prefix in ("observation.images.", "observation."):
        if policy_key.startswith(prefix):
            return policy_key[len(prefix):]
    return policy_key


class ObsHistory:
    """Rolling window of the last `n` env observations (padded with the first on reset)."""

    def __init__(self, obs_keys: list[str], n: int):
        if n < 1:
            raise ValueError(f"obs_history must be >= 1, got {n}")
        self.obs_keys = list(obs_keys)
        self.n = int(n)
        self._buf: deque[dict[str, np.ndarray]] = deque(maxlen=self.n)

    def reset(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        self._buf.clear()
        frame = self._select(obs)
        for _ in range(self.n):
            self._buf.append(frame)
        return self.stacked()

    def push(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        if not self._buf:
            return self.reset(obs)
        self._buf.append(self._select(obs))
        return self.stacked()

    def stacked(self) -> dict[str, np.ndarray]:
        return {k: np.stack([f[k] for f in self._buf], axis=0) for k in self.obs_keys}

    def _select(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        out = {}
        for k in self.obs_keys:
            ek = env_key_for(k)
            if k in obs:
                v = obs[k]
            elif ek in obs:
                v = obs[ek]
            else:
                raise KeyError(
                    f"observation has no '{k}' (or '{ek}'); env gives {sorted(obs)} — "
                    "make the env with the obs_mode the policy was trained on"
                )
            arr = np.asarray(v)
            out[k] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.copy()
        return out


class FrozenDiffusionPolicy:
    """Wraps a DiffusionPolicy: frozen, eval mode, batched numpy ↔ torch helpers."""

    def __init__(self, policy: Any, device: torch.device):
        self.policy = policy.to(device).eval()
        for p in self.policy.parameters():
            p.requires_grad_(False)
        self.device = device
        cfg = policy.cfg
        self.obs_keys: list[str] = list(cfg.obs_keys)
        self.obs_history = int(cfg.obs_history)
        self.horizon = int(cfg.horizon)
        self.action_dim = int(cfg.action_dim)
        self.n_action_steps = int(cfg.n_action_steps)
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ValueError(f"policy cfg: n_action_steps={self.n_action_steps} must be in [1, horizon={self.horizon}]")
        self.noise_shape = (self.horizon, self.action_dim)
        self.noise_dim = self.horizon * self.action_dim
        self.exec_dim = self.n_action_steps * self.action_dim

    def to_torch(self, obs: dict[str, np.ndarray], batched: bool) -> dict[str, torch.Tensor]:
        out = {}
        for k in self.obs_keys:
            arr = np.asarray(obs[k])
            if not batched:
                arr = arr[None]
            t = torch.as_tensor(arr, device=self.device)
            out[k] = t.float() if t.dtype == torch.float64 else t
        return out

    @torch.no_grad()
    def features(self, obs_t: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.policy.encode_obs(obs_t).float()

    @torch.no_grad()
    def decode(self, obs_t: dict[str, torch.Tensor], noise: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM: noise [B, horizon, A] → unnormalised action chunk [B, horizon, A]."""
        return self.policy.sample(obs_t, noise.reshape(-1, self.horizon, self.action_dim))

    def new_history(self) -> ObsHistory:
        return ObsHistory(self.obs_keys, self.obs_history)
