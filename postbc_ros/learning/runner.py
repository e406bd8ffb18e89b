"""Closed-loop execution of a chunked policy: observation history + action queue.

`act(obs)` is what an env loop or the policy node calls every control step: it keeps the last
`obs_history` observations (the first observation of an episode is repeated to fill the
history), samples a chunk when the queue is empty and executes `n_action_steps` of it.
"""
from __future__ import annotations

from collections import deque
from typing import Mapping

import numpy as np
import torch

from postbc_ros.learning.diffusion import DiffusionPolicy, canonical_obs_key


def check_noise_scale(value: float, name: str = "noise_scale") -> float:
    """The initial-noise scale as a float; ValueError naming `name` unless finite and >= 0."""
    if not (value >= 0.0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


class PolicyRunner:
    def __init__(self, policy: DiffusionPolicy, device: str | torch.device | None = None,
                 seed: int | None = None, clip: float | None = 1.0, noise_scale: float = 1.0) -> None:
        """`noise_scale` scales the initial DDIM noise w ~ N(0, I) of every chunk `act` samples:
        1 samples the policy's distribution, 0 gives its deterministic w = 0 chunk (where a DSRL
        actor with zero mean starts)."""
        from postbc_ros.learning.train import resolve_device

        self.noise_scale = check_noise_scale(noise_scale, "PolicyRunner: noise_scale")

        self.device = resolve_device(device)
        self.policy = policy.to(self.device).eval()
        self.cfg = policy.cfg
        self.clip = clip
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.reset()

    def reset(self) -> None:
        self._history: deque[dict[str, np.ndarray]] = deque(maxlen=self.cfg.obs_history)
        self._queue: deque[np.ndarray] = deque()

    def _push(self, obs: Mapping[str, np.ndarray]) -> None:
        frame = {}
        by_key = {canonical_obs_key(k): v for k, v in obs.items()}
        for key in self.cfg.obs_keys:
            if key not in by_key:
                raise KeyError(f"PolicyRunner: observation is missing key {key!r} (has {sorted(obs)})")
            frame[key] = np.asarray(by_key[key])
        if not self._history:
            for _ in range(self.cfg.obs_history - 1):
                self._history.append(frame)
        self._history.append(frame)

    def _batch(self) -> dict[str, torch.Tensor]:
        return {
            k: torch.as_tensor(np.stack([f[k] for f in self._history])[None]).to(self.device)
            for k in self.cfg.obs_keys
        }

    def act_chunk(self, obs: Mapping[str, np.ndarray] | None, noise: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
        """Push `obs` (if given) into the history and sample a full chunk [horizon, A].

        With `noise` [horizon, A] (or [1, horizon, A]) the chunk is a deterministic function of
        the history and the noise. Does not touch the action queue used by `act`.
        """
        if obs is not None:
            self._push(obs)
        if not self._history:
            raise RuntimeError("PolicyRunner.act_chunk: no observation yet; pass obs")
        if noise is not None:
            noise = torch.as_tensor(noise, dtype=torch.float32).reshape(1, self.cfg.horizon, self.cfg.action_dim)
        elif self.noise_scale != 1.0:
            noise = self.noise_scale * torch.randn((1, self.cfg.horizon, self.cfg.action_dim), generator=self.generator)
        chunk = self.policy.sample(self._batch(), noise=noise, generator=self.generator)[0].cpu().numpy()
        if self.clip is not None:
            chunk = np.clip(chunk, -self.clip, self.clip)
        return chunk.astype(np.float32)

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """One control step: returns the next action [A] (float32)."""
        self._push(obs)
        if not self._queue:
            chunk = self.act_chunk(None)
            self._queue.extend(chunk[: self.cfg.n_action_steps])
        return self._queue.popleft()
