"""Chunk-level replay buffer (one row = one executed action chunk = one RL step).

A row holds the stacked observation history before and after the chunk, the initial noise w the
diffusion policy was steered with (absent for demonstrations), the executed actions, the
within-chunk discounted reward sum, the bootstrap discount γ^k (k = env steps actually
executed) and the terminal flag. `sample_mixed` draws a fixed fraction of each batch from a
demonstration buffer (IQL / DSRL-NA can learn from demos; DSRL's noise critic cannot, since a
demonstration has no noise).

State round-trips exactly through `state_tensors()` / `load_state()` (safetensors + JSON).
"""
from __future__ import annotations

import numpy as np
import torch

from postbc_ros.core.transition import Transition

SCALAR_FIELDS = ("reward", "discount", "done", "has_noise", "steps")


class ReplayBuffer:
    """Fixed-capacity ring buffer of chunk transitions, numpy storage allocated on first add."""

    def __init__(self, capacity: int, name: str = "replay"):
        if capacity <= 0:
            raise ValueError(f"{name}: capacity must be > 0, got {capacity}")
        self.capacity = int(capacity)
        self.name = name
        self.size = 0
        self.ptr = 0
        self.data: dict[str, np.ndarray] = {}
        self.obs_keys: list[str] = []

    # ------------------------------------------------------------ writing
    def _allocate(self, tr: Transition, noise_shape: tuple[int, ...] | None) -> None:
        self.obs_keys = sorted(tr.obs)
        for k in self.obs_keys:
            arr = np.asarray(tr.obs[k])
            self.data[f"obs/{k}"] = np.zeros((self.capacity, *arr.shape), dtype=arr.dtype)
            self.data[f"next_obs/{k}"] = np.zeros((self.capacity, *arr.shape), dtype=arr.dtype)
        self.data["action"] = np.zeros((self.capacity, *tr.action.shape), np.float32)
        self.data["noise"] = np.zeros((self.capacity, *noise_shape), np.float32) if noise_shape else np.zeros(
            (self.capacity, 0), np.float32
        )
        for f in SCALAR_FIELDS:
            self.data[f] = np.zeros((self.capacity,), np.float32)

    def add(self, tr: Transition, noise_shape: tuple[int, ...] | None = None) -> None:
        """Append one transition; `noise_shape` sizes the noise column when the first one has none."""
        if not self.data:
            self._allocate(tr, tuple(np.shape(tr.noise)) if tr.noise is not None else noise_shape)
        if sorted(tr.obs) != self.obs_keys:
            raise KeyError(f"{self.name}: obs keys {sorted(tr.obs)} differ from the buffer's {self.obs_keys}")
        if tr.action.shape != self.data["action"].shape[1:]:
            raise ValueError(f"{self.name}: action shape {tr.action.shape} != {self.data['action'].shape[1:]}")
        i = self.ptr
        for k in self.obs_keys:
            self.data[f"obs/{k}"][i] = tr.obs[k]
            self.data[f"next_obs/{k}"][i] = tr.next_obs[k]
        self.data["action"][i] = tr.action
        self.data["noise"][i] = 0.0 if tr.noise is None else tr.noise
        self.data["has_noise"][i] = float(tr.noise is not None)
        self.data["reward"][i] = tr.reward
        self.data["discount"][i] = tr.discount
        self.data["done"][i] = float(tr.done)
        self.data["steps"][i] = float(tr.steps)
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def __len__(self) -> int:
        return self.size

    # ------------------------------------------------------------ reading
    def indices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.size == 0:
            raise RuntimeError(f"{self.name}: cannot sample from an empty buffer")
        return rng.integers(0, self.size, size=n)

    def gather(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[idx] for k, v in self.data.items()}

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return self.gather(self.indices(n, rng))

    # ------------------------------------------------------------ state
    def state_tensors(self, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"{prefix}/{k}": torch.from_numpy(np.ascontiguousarray(v[: self.size])) for k, v in self.data.items()}
        meta = {
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
            "obs_keys": self.obs_keys,
            "fields": {k: [str(v.dtype), list(v.shape[1:])] for k, v in self.data.items()},
        }
        return tensors, meta

    def load_state(self, prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        self.capacity = int(meta["capacity"])
        self.size = int(meta["size"])
        self.ptr = int(meta["ptr"])
        self.obs_keys = list(meta["obs_keys"])
        self.data = {}
        for k, (dtype, shape) in meta["fields"].items():
            arr = np.zeros((self.capacity, *shape), dtype=np.dtype(dtype))
            key = f"{prefix}/{k}"
            if key not in tensors:
                raise KeyError(f"replay '{prefix}': field '{k}' missing from the checkpoint tensors")
            arr[: self.size] = tensors[key].numpy()
            self.data[k] = arr


def sample_mixed(
    online: ReplayBuffer, demos: ReplayBuffer | None, batch: int, demo_ratio: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Batch with round(batch·demo_ratio) demonstration rows (when any exist), the rest online.

    Falls back to whichever buffer is non-empty so training can start from demos alone (IQL on
    a few dozen labelled episodes) or online data alone.
    """
    if not 0.0 <= demo_ratio <= 1.0:
        raise ValueError(f"demo_ratio must be in [0, 1], got {demo_ratio}")
    n_demo = int(round(batch * demo_ratio)) if demos is not None and len(demos) else 0
    if len(online) == 0:
        n_demo = batch
    n_online = batch - n_demo
    parts = []
    if n_online:
        parts.append(online.sample(n_online, rng))
    if n_demo:
        if demos is None or len(demos) == 0:
            raise RuntimeError("sample_mixed: both the online and the demonstration buffers are empty")
        parts.append(demos.sample(n_demo, rng))
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
