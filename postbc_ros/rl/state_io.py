"""Exact-resume serialisation for RL agents: weights, optimizer state, RNG state, replay.

Everything goes to safetensors (tensors) + JSON (everything else); nothing is pickled. Files are
written and validated by `postbc_ros.learning.checkpoint`, so every checkpoint in the project has
one layout and one validator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


class AgentCheckpointError(RuntimeError):
    """A resume checkpoint is missing, truncated or does not match the agent."""


# ---------------------------------------------------------------- module / optimizer state
def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def load_module(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing = set(module.state_dict()) - set(sd)
    if missing:
        raise AgentCheckpointError(
            f"{where}: tensors for '{prefix}' are missing {sorted(missing)[:3]}...; the checkpoint was "
            "written by a different agent/network size — resume with the same config"
        )
    dev = next(module.parameters()).device if any(True for _ in module.parameters()) else "cpu"
    module.load_state_dict({k: v.to(dev) for k, v in sd.items()})


def optimizer_state(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (safetensors) and JSON-able metadata."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    meta_state: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        meta_state[str(idx)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.state.{idx}.{k}"] = v.detach().cpu().contiguous()
                meta_state[str(idx)][k] = "tensor"
            else:
                meta_state[str(idx)][k] = v
    return tensors, {"param_groups": sd["param_groups"], "state": meta_state}


def load_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    dev = opt.param_groups[0]["params"][0].device
    for idx, st in meta["state"].items():
        state[int(idx)] = {}
        for k, v in st.items():
            if v == "tensor":
                t = tensors[f"{prefix}.state.{idx}.{k}"]
                state[int(idx)][k] = t if k == "step" else t.to(dev)
            else:
                state[int(idx)][k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# ---------------------------------------------------------------- RNG state
def numpy_rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state  # plain dict of ints/strings: JSON-able


def set_numpy_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def torch_rng_tensor(gen: torch.Generator) -> torch.Tensor:
    return gen.get_state().clone()


# ---------------------------------------------------------------- files
def write_state(directory: str | Path, tensors: dict[str, torch.Tensor], config: dict, kind: str) -> Path:
    """One layout and one validator for every checkpoint in the project (learning.checkpoint)."""
    from postbc_ros.learning.checkpoint import save_checkpoint

    return save_checkpoint(Path(directory), tensors, config, kind)


def read_state(directory: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    from postbc_ros.learning.checkpoint import CheckpointError, load_checkpoint

    try:
        tensors, config = load_checkpoint(Path(directory), kind)
    except CheckpointError as e:  # re-raised as ours, message kept (it names the file and field)
        raise AgentCheckpointError(str(e)) from e
    return dict(tensors), dict(config)

