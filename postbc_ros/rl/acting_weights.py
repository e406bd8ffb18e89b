"""What the learner sends the policy: the *acting* part of an RL agent (ROS-free).

A full `agent.save()` holds optimizers, replay contents and RNG state (for exact resume of the
learner); the policy only needs the networks it acts with plus the env-step counter (which ends
the warm-start phase). `export_acting_state` writes exactly that as safetensors + JSON (kind
"acting_weights"), the directory `postbc_ros.core.wire.pack_bundle` sends; `load_acting_state`
puts it into the policy node's agent built over the same frozen diffusion policy.

Weights are checked on both sides: `export_acting_state` refuses to write a non-finite tensor (a
diverged learner must not send it), and `load_acting_state` checks every tensor the agent needs
-- present, of the agent's shape, finite -- before it copies any, so a bad record leaves the
agent's weights untouched (torch's load_state_dict would copy the good tensors and then raise).
Both raise WeightsError, whose `reason` (weights_non_finite | weights_shape) the nodes count.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

KIND = "acting_weights"
NON_FINITE, WRONG_SHAPE = "weights_non_finite", "weights_shape"
NAMES_SHOWN = 3  # tensor names a WeightsError lists


class WeightsError(ValueError):
    """Acting weights that must not be exported or loaded; the message names the tensors."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def non_finite(tensors: dict) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    import torch

    return sorted(k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))


def check_tensors(agent: Any, tensors: dict, where: str) -> None:
    """Every tensor of every module of `agent` is in `tensors` with the module's shape, and finite;
    WeightsError naming the first offenders otherwise."""
    bad_shape, missing = [], []
    for name, mod in agent.modules.items():
        for k, v in mod.state_dict().items():
            key = f"net.{name}.{k}"
            if key not in tensors:
                missing.append(key)
            elif tuple(tensors[key].shape) != tuple(v.shape):
                bad_shape.append(f"{key} {tuple(tensors[key].shape)} != {tuple(v.shape)}")
    if missing or bad_shape:
        raise WeightsError(f"{where}: tensors missing {missing[:NAMES_SHOWN]} / of another shape "
                           f"{bad_shape[:NAMES_SHOWN]} than the policy's agent; start the policy with the "
                           "learner's algorithm and network sizes", WRONG_SHAPE)
    bad = non_finite({k: t for k, t in tensors.items() if k.startswith("net.")})
    if bad:
        raise WeightsError(f"{where}: {len(bad)} tensor(s) hold NaN or infinite values ({bad[:NAMES_SHOWN]}); "
                           "the learner diverged -- the policy keeps its current weights", NON_FINITE)


def export_acting_state(agent: Any, directory: str | Path, version: int) -> Path:
    from postbc_ros.rl.state_io import module_tensors, write_state

    if agent.feat_dim is None:
        raise ValueError("export_acting_state: the agent has no networks yet (it has seen no observation)")
    tensors = {}
    for name, mod in agent.modules.items():
        tensors.update(module_tensors(f"net.{name}", mod))
    bad = non_finite(tensors)
    if bad:
        raise WeightsError(f"export_acting_state: {len(bad)} tensor(s) of the agent hold NaN or infinite values "
                           f"({bad[:NAMES_SHOWN]}); not exported", NON_FINITE)
    meta = {
        "agent": type(agent).__name__,
        "config": dataclasses.asdict(agent.cfg),
        "feat_dim": int(agent.feat_dim),
        "env_steps": int(agent.env_steps),
        "grad_steps": int(agent.grad_steps),
        "version": int(version),
    }
    return write_state(directory, tensors, meta, KIND)


def load_acting_state(agent: Any, directory: str | Path, obs: dict | None = None) -> dict:
    """Load acting weights into `agent` (building its networks from `obs` if needed); returns the meta."""
    from postbc_ros.rl.state_io import AgentCheckpointError, load_module, read_state

    tensors, meta = read_state(directory, KIND)
    where = str(directory)
    if meta.get("agent") != type(agent).__name__:
        raise AgentCheckpointError(f"{where}: field 'agent' is {meta.get('agent')!r}, this policy runs "
                                   f"{type(agent).__name__}; start the policy with the learner's algorithm")
    if agent.feat_dim is None:
        if obs is None:
            raise ValueError("load_acting_state: the agent is not built yet; pass an observation")
        agent.ensure_built_from(obs)
    if int(meta["feat_dim"]) != int(agent.feat_dim):
        raise AgentCheckpointError(f"{where}: field 'feat_dim' {meta['feat_dim']} != the policy's {agent.feat_dim}")
    check_tensors(agent, tensors, where)  # before any tensor is copied: a refused record changes nothing
    for name, mod in agent.modules.items():
        load_module(f"net.{name}", mod, tensors, where)
    agent.env_steps = int(meta["env_steps"])
    return meta


def apply_weights_record(agent: Any, data: bytes, directory: str | Path, obs: dict, make_agent) -> tuple[Any, dict]:
    """Unpack a wire "weights" record into `directory` and load it into `agent`.

    When the learner's agent config differs from `agent`'s (network sizes ...), a new agent is
    built with `make_agent(algorithm, config)` first. Returns (agent, header)."""
    from postbc_ros.core import wire
    from postbc_ros.rl.state_io import read_state

    head = wire.unpack_bundle(data, directory)
    _t, meta = read_state(directory, KIND)
    if meta["config"] != dataclasses.asdict(agent.cfg):
        agent = make_agent(head.get("algorithm"), meta["config"])
    load_acting_state(agent, directory, obs=obs)
    head["env_steps"] = meta["env_steps"]
    return agent, head
