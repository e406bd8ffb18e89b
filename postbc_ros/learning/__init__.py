"""PostBC pretraining: posterior ensemble, posterior covariance, diffusion policy, checkpoints.

ROS-free and hardware-free; runs on CPU and uses CUDA when present (`device="auto"`).
`pipeline.pretrain_dataset(dataset, out, config)` is the whole pipeline (dataset directory ->
checkpoint directory); `train.pretrain(data, config)` the training on windows already in memory.
Names are imported on first use, so `train_config` (and the `postbc` parser) never load torch.
"""
from __future__ import annotations

import importlib

# public name -> the module of this package that defines it
_EXPORTS = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "DiffusionPolicy": "diffusion", "PolicyConfig": "diffusion",
    "load_ensemble": "policy_io", "load_policy": "policy_io", "save_policy": "policy_io",
    "save_pretrain_result": "policy_io",
    "PolicyRunner": "runner",
    "PretrainResult": "train", "pretrain": "train",
    "METHODS": "train_config", "TrainConfig": "train_config",
    "PretrainError": "pipeline", "pretrain_dataset": "pipeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
