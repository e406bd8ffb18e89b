"""Exact-resume serialisation for RL agents: weights, optimizer state, RNG state, replay.

Everything goes to safetensors (tensors) + JSON (everything else); nothing is pickled. When the
learning package provides `save_checkpoint/load_checkpoint` they are used so that every
checkpoint in the project has one layout and one validator; otherwise an equivalent
`<kind>.safetensors` + `<kind>.json` pair is written here.
"""
from __future__ import annotations

import json
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
def _learning_helpers():
    try:
        from postbc_ros.learning.checkpoint import load_checkpoint, save_checkpoint

        return save_checkpoint, load_checkpoint
    except Exception:  # learning package not importable: use the local pair below
        return None, None


def write_state(directory: str | Path, tensors: dict[str, torch.Tensor], config: dict, kind: str) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save, _ = _learning_helpers()
    if save is not None:
        save(directory, tensors, config, kind)
        return directory
    from safetensors.torch import save_file

    tmp = directory / f"{kind}.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(directory / f"{kind}.safetensors")
    (directory / f"{kind}.json").write_text(json.dumps({"kind": kind, **config}, indent=1))
    return directory


def read_state(directory: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    directory = Path(directory)
    _, load = _learning_helpers()
    if load is not None:
        try:
            tensors, config = load(directory, kind)
        except Exception as e:  # CheckpointError: re-raise as ours, message kept (names file/field)
            raise AgentCheckpointError(str(e)) from e
        return dict(tensors), dict(config)
    from safetensors.torch import load_file

    st, js = directory / f"{kind}.safetensors", directory / f"{kind}.json"
    for f in (st, js):
        if not f.is_file():
            raise AgentCheckpointError(f"{f}: missing; pass the directory written by agent.save(dir)")
    try:
        config = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        raise AgentCheckpointError(f"{js}: invalid JSON ({e}); the checkpoint is corrupt, re-save it") from e
    if config.get("kind") != kind:
        raise AgentCheckpointError(f"{js}: field 'kind' is {config.get('kind')!r}, expected {kind!r}")
    return load_file(str(st)), config
