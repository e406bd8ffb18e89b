"""PostBC pretraining: posterior ensemble, posterior covariance, diffusion policy, checkpoints.

ROS-free and hardware-free; runs on CPU and uses CUDA when present (`device="auto"`).
"""
from postbc_ros.learning.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from postbc_ros.learning.diffusion import DiffusionPolicy, PolicyConfig
from postbc_ros.learning.policy_io import load_ensemble, load_policy, save_policy, save_pretrain_result
from postbc_ros.learning.runner import PolicyRunner
from postbc_ros.learning.train import METHODS, PretrainResult, TrainConfig, pretrain

__all__ = [
    "CheckpointError",
    "DiffusionPolicy",
    "METHODS",
    "PolicyConfig",
    "PolicyRunner",
    "PretrainResult",
    "TrainConfig",
    "load_checkpoint",
    "load_ensemble",
    "load_policy",
    "pretrain",
    "save_checkpoint",
    "save_policy",
    "save_pretrain_result",
]
