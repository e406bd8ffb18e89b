"""Plain-torch building blocks: image encoder, observation encoder, MLP denoiser, batched MLP.

No torchvision (no CPU build of it here): the conv encoder is a few conv layers followed by a
spatial soft-argmax, the usual choice for manipulation policies because it keeps *where*
things are in the image, which is what an arm needs.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from postbc_ros.learning.normalization import MinMaxNormalizer, normalize_image


def is_image_shape(shape: Sequence[int]) -> bool:
    """Image observations are stored channels-last uint8: (H, W, 3)."""
    return len(shape) == 3 and int(shape[-1]) == 3


class SpatialSoftmax(nn.Module):
    """Expected (x, y) image coordinate of each channel's softmax: [B, C, H, W] -> [B, 2C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attn = F.softmax(x.reshape(b, c, h * w), dim=-1)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        ex = (attn * gx.reshape(1, 1, -1)).sum(-1)
        ey = (attn * gy.reshape(1, 1, -1)).sum(-1)
        return torch.cat([ex, ey], dim=-1)


class ConvEncoder(nn.Module):
    """Small conv net for one camera: uint8/float [B, H, W, 3] -> [B, out_dim]."""

    def __init__(self, out_dim: int = 64, channels: Sequence[int] = (32, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(channels):
            layers += [
                nn.Conv2d(c_in, c, kernel_size=5 if i == 0 else 3, stride=2, padding=1),
                nn.GroupNorm(min(8, c), c),
                nn.Mish(),
            ]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.keypoints = SpatialSoftmax()
        self.proj = nn.Linear(2 * c_in, out_dim)
        self.out_dim = out_dim

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = normalize_image(img) if img.dtype == torch.uint8 else img.float() / 127.5 - 1.0
        x = x.permute(0, 3, 1, 2).contiguous()  # BHWC -> BCHW
        return self.proj(self.keypoints(self.conv(x)))


def check_select(select: Mapping[str, Sequence[int]], lowdim_shapes: Mapping[str, Sequence[int]]) -> None:
    """ValueError unless every selected key is a low-dimensional observation and its indices are
    distinct, in range and not empty."""
    for key, idx in select.items():
        if key not in lowdim_shapes:
            raise ValueError(f"observation selection names {key!r}, which is not a low-dimensional observation "
                             f"(those are {sorted(lowdim_shapes)})")
        dim = int(lowdim_shapes[key][-1])
        if not idx or len(set(idx)) != len(idx) or min(idx) < 0 or max(idx) >= dim:
            raise ValueError(f"observation selection of {key!r} must be distinct indices in [0, {dim}), got {list(idx)}")


class ObsEncoder(nn.Module):
    """Observation dict {key: [B, T, ...]} -> normalised feature vector [B, F].

    Low-dimensional keys are min-max normalised; image keys go through their own ConvEncoder.
    The T history frames are encoded independently and concatenated (oldest first).
    `select` {low-dimensional key: entry indices} keeps only those entries of that key's vector
    (the rest of the observation is still required, and ignored): e.g. a state without the joints.
    """

    def __init__(
        self,
        obs_shapes: Mapping[str, Sequence[int]],
        obs_history: int,
        image_feature_dim: int = 64,
        select: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        self.obs_keys = list(obs_shapes.keys())
        self.obs_shapes = {k: tuple(int(s) for s in v) for k, v in obs_shapes.items()}
        self.obs_history = int(obs_history)
        self.lowdim_keys = [k for k in self.obs_keys if not is_image_shape(self.obs_shapes[k])]
        self.image_keys = [k for k in self.obs_keys if is_image_shape(self.obs_shapes[k])]
        self.select = {k: [int(i) for i in v] for k, v in (select or {}).items()}
        check_select(self.select, {k: self.obs_shapes[k] for k in self.lowdim_keys})
        for k, idx in self.select.items():  # not in the state dict: the config carries the indices
            self.register_buffer(f"select_{k}", torch.as_tensor(idx, dtype=torch.long), persistent=False)
        dims = {k: len(self.select[k]) if k in self.select else int(self.obs_shapes[k][-1]) for k in self.lowdim_keys}
        self.normalizers = nn.ModuleDict({k: MinMaxNormalizer(dims[k]) for k in self.lowdim_keys})
        self.image_encoders = nn.ModuleDict(
            {k: ConvEncoder(image_feature_dim) for k in self.image_keys}
        )
        per_frame = sum(dims.values())
        per_frame += image_feature_dim * len(self.image_keys)
        self.out_dim = per_frame * self.obs_history

    def lowdim(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """The entries of low-dimensional `x` [..., D] that the encoder uses (all unless selected)."""
        if key not in self.select:
            return x
        return x.index_select(-1, getattr(self, f"select_{key}").to(x.device))

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        feats = []
        batch = None
        for k in self.obs_keys:
            x = obs[k]
            if batch is None:
                batch = x.shape[0]
            if k in self.normalizers:
                feats.append(self.normalizers[k].normalize(self.lowdim(k, x.float())))  # [B, T, D]
            else:
                b, t = x.shape[:2]
                f = self.image_encoders[k](x.reshape(b * t, *x.shape[2:]))
                feats.append(f.reshape(b, t, -1))
        return torch.cat(feats, dim=-1).reshape(batch, -1)


class SinusoidalEmbedding(nn.Module):
    """Standard transformer-style embedding of the diffusion timestep."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(
            -math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1)
        )
        args = t.float()[:, None] * freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=-1)


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.Mish()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t, cond): flattened noisy chunk + obs features + timestep -> noise."""

    def __init__(self, action_flat_dim: int, cond_dim: int, hidden: Sequence[int], t_dim: int = 64):
        super().__init__()
        self.t_embed = nn.Sequential(SinusoidalEmbedding(t_dim), nn.Linear(t_dim, t_dim), nn.Mish())
        self.net = mlp(action_flat_dim + cond_dim + t_dim, hidden, action_flat_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        return self.net(torch.cat([x, cond, self.t_embed(t)], dim=-1))


class BatchedLinear(nn.Module):
    """K independent linear layers evaluated with one batched matmul.

    weight [K, in, out], bias [K, 1, out]; each member is initialised exactly as nn.Linear
    would initialise it, so member k behaves like an independent network.
    """

    def __init__(self, k: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(k, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # shared input for every member: [B, in]
            return torch.einsum("bi,kio->kbo", x, self.weight) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)  # [K, B, in]


class BatchedMLP(nn.Module):
    """K MLPs with identical architecture and independent weights: [B, in] -> [K, B, out]."""

    def __init__(self, k: int, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        # ReLU, not Mish: with K*B rows per layer the activation is a visible share of the cost
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(BatchedLinear(k, a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

    def member(self, i: int) -> "BatchedMLP":
        """A K=1 copy of member i (same weights) — used to check batched == independent."""
        dims = [self.layers[0].weight.shape[1]] + [l.weight.shape[2] for l in self.layers]
        single = BatchedMLP(1, dims[0], dims[1:-1], dims[-1])
        with torch.no_grad():
            for dst, src in zip(single.layers, self.layers):
                dst.weight.copy_(src.weight[i : i + 1])
                dst.bias.copy_(src.bias[i : i + 1])
        return single
