"""Min-max normalisation of observations and actions to [-1, 1].

Why min-max (not z-score): the diffusion policy's DDIM sampler clips its x0 prediction to
[-1, 1] (`clip_sample`), so min-max makes that clip coincide with the demonstrated action
range, and σ/α noise scales are "fractions of the demonstrated range" on every dimension.
Dimensions that never vary in the demos (range < `eps`) map to 0 and back to their constant.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MinMaxNormalizer(nn.Module):
    """Per-dimension affine map x -> 2 (x - lo) / (hi - lo) - 1 with a floor on the range.

    The statistics are buffers, so they travel inside the checkpoint's safetensors file.
    """

    def __init__(self, dim: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("lo", torch.zeros(dim))
        self.register_buffer("hi", torch.ones(dim))

    @classmethod
    def fit(cls, data: np.ndarray | torch.Tensor, eps: float = 1e-4) -> "MinMaxNormalizer":
        """Fit on data whose last axis is the feature axis (all leading axes are pooled)."""
        x = torch.as_tensor(np.asarray(data, dtype=np.float32))
        x = x.reshape(-1, x.shape[-1])
        if x.shape[0] == 0:
            raise ValueError("MinMaxNormalizer.fit: no samples (empty dataset?)")
        if not torch.isfinite(x).all():
            raise ValueError("MinMaxNormalizer.fit: data contains NaN/Inf; clean the dataset first")
        norm = cls(x.shape[-1], eps)
        norm.lo.copy_(x.min(0).values)
        norm.hi.copy_(x.max(0).values)
        return norm

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    def _scale(self) -> torch.Tensor:
        return torch.clamp(self.hi - self.lo, min=self.eps)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        span = self._scale()
        constant = (self.hi - self.lo) < self.eps
        y = 2.0 * (x - self.lo) / span - 1.0
        return torch.where(constant, torch.zeros_like(y), y)

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        span = self._scale()
        constant = (self.hi - self.lo) < self.eps
        x = (y + 1.0) * 0.5 * span + self.lo
        return torch.where(constant, self.lo.expand_as(x), x)

    def to_json(self) -> dict:
        return {"type": "minmax", "lo": self.lo.tolist(), "hi": self.hi.tolist(), "eps": self.eps}


def normalize_image(img: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0..255 float) images -> float in [-1, 1]."""
    return img.float() / 127.5 - 1.0
