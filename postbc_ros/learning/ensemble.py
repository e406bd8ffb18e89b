"""Posterior ensemble: K deterministic regressors of the normalised action chunk.

All K members train at once: hidden layers are `BatchedLinear` (weights [K, in, out], one
batched matmul per layer), and each member's bootstrap resample enters as per-sample loss
weights (see bootstrap.py). The loss is the *sum* over members of each member's own loss, so
member k's gradient is exactly what it would get if trained alone; with Adam (elementwise)
the batched run equals K independent runs (tested).

Image observations: the members share one ObsEncoder (conv encoder) and differ in their
MLP heads (the paper's 3x512 heads, K = 5-10).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from postbc_ros.learning.networks import BatchedMLP, ObsEncoder


class PosteriorEnsemble(nn.Module):
    """obs dict [B, T, ...] -> [K, B, D] predictions of the flattened normalised chunk."""

    def __init__(
        self,
        obs_shapes: Mapping[str, Sequence[int]],
        obs_history: int,
        action_flat_dim: int,
        k: int,
        hidden: Sequence[int] = (256, 256, 256),
        image_feature_dim: int = 64,
        select: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        if k < 2:
            raise ValueError("PosteriorEnsemble: ensemble size must be >= 2 to define a covariance")
        self.k = int(k)
        self.action_flat_dim = int(action_flat_dim)
        self.hidden = [int(h) for h in hidden]
        self.encoder = ObsEncoder(obs_shapes, obs_history, image_feature_dim, select)
        self.heads = BatchedMLP(self.k, self.encoder.out_dim, self.hidden, self.action_flat_dim)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.heads(self.encoder(obs))

    def mismatch(self, action_flat_dim: int, obs_shapes: Mapping[str, Sequence[int]],
                 select: Mapping[str, Sequence[int]]) -> str | None:
        """Why this ensemble cannot give Σ(s) for a policy predicting `action_flat_dim`-D chunks from
        `obs_shapes` using the entries `select` (PolicyConfig fields), or None when it can."""
        shapes = {k: tuple(int(s) for s in v) for k, v in obs_shapes.items()}
        select = {k: [int(i) for i in v] for k, v in select.items()}
        if (self.action_flat_dim, dict(self.encoder.obs_shapes), self.encoder.select) == (action_flat_dim, shapes, select):
            return None
        return (f"the ensemble predicts {self.action_flat_dim}-D chunks from {self.encoder.obs_shapes} (entries used: "
                f"{self.encoder.select or 'all'}), the policy {action_flat_dim}-D chunks from {shapes} (entries used: "
                f"{select or 'all'})")

    @torch.no_grad()
    def predict(self, obs: Mapping[str, torch.Tensor], batch_size: int = 1024) -> torch.Tensor:
        """Predictions for a whole dataset in slices: [K, N, D]."""
        n = next(iter(obs.values())).shape[0]
        out = []
        for s in range(0, n, batch_size):
            out.append(self({k: v[s : s + batch_size] for k, v in obs.items()}))
        return torch.cat(out, dim=1)


def member_losses(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """pred [K, B, D], target [B, D], weights [K, B] -> per-member weighted MSE [K].

    Divided by B (not by the weight sum): an unbiased estimate of member k's mean loss over
    its own resample, and independent of the other members.
    """
    err = ((pred - target.unsqueeze(0)) ** 2).mean(-1)
    return (weights * err).sum(-1) / target.shape[0]


def train_ensemble(
    ensemble: PosteriorEnsemble,
    obs: Mapping[str, torch.Tensor],
    targets: torch.Tensor,
    weights: torch.Tensor,
    epochs: int | None = None,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
    batch_indices: Sequence[torch.Tensor] | None = None,
    steps: int | None = None,
) -> list[float]:
    """Fit all members jointly (AdamW, constant learning rate). One epoch = N samples drawn as
    shuffled minibatches; `steps` (instead of `epochs`) runs exactly that many minibatches, the last
    epoch cut short.

    `batch_indices` (tests) fixes the minibatch sequence explicitly instead of shuffling.
    Returns the mean member loss per epoch (over the samples the epoch visited).
    """
    n = targets.shape[0]
    if weights.shape != (ensemble.k, n):
        raise ValueError(f"train_ensemble: weights must be [K={ensemble.k}, N={n}], got {tuple(weights.shape)}")
    if (epochs is None) == (steps is None) and batch_indices is None:
        raise ValueError("train_ensemble: give epochs or steps (one of the two)")
    spe = math.ceil(n / batch_size)
    if batch_indices is not None:
        schedule = [list(batch_indices)]
        epochs, steps = 1, len(batch_indices)
    elif steps is not None:
        epochs = math.ceil(steps / spe)
    else:
        steps = epochs * spe
    opt = torch.optim.AdamW(ensemble.parameters(), lr=lr, weight_decay=weight_decay)
    history: list[float] = []
    device = targets.device
    done = 0
    bar = tqdm(range(epochs), desc=f"ensemble K={ensemble.k}", disable=not progress, leave=False)
    for _ in bar:
        if batch_indices is None:
            perm = torch.randperm(n, generator=generator).to(device)
            batches = [perm[s : s + batch_size] for s in range(0, n, batch_size)][: steps - done]
        else:
            batches = schedule[0]
        total, seen = 0.0, 0
        for idx in batches:
            pred = ensemble({k: v[idx] for k, v in obs.items()})
            losses = member_losses(pred, targets[idx], weights[:, idx])
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            total += float(losses.detach().mean()) * len(idx)
            seen += len(idx)
        done += len(batches)
        history.append(total / seen)
        bar.set_postfix(loss=f"{history[-1]:.4g}", refresh=False)
    return history


def fit_encoder_normalizers(encoder: ObsEncoder, obs: Mapping[str, np.ndarray | torch.Tensor]) -> None:
    """Set the min-max statistics of every low-dimensional key from the training windows."""
    for key, norm in encoder.normalizers.items():
        x = encoder.lowdim(key, torch.as_tensor(np.asarray(obs[key], dtype=np.float32))).reshape(-1, norm.dim)
        norm.lo.copy_(x.min(0).values)
        norm.hi.copy_(x.max(0).values)
