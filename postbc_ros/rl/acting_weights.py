"""What the learner sends the policy: the *acting* part of an RL agent (ROS-free).

A full `agent.save()` holds optimizers, replay contents and RNG state (for exact resume of the
learner); the policy only needs the networks it acts with plus the env-step counter (which ends
the warm-start phase). `export_acting_state` writes exactly that as safetensors + JSON (kind
"acting_weights"), the directory `postbc_ros.core.wire.pack_bundle` sends; `load_acting_state`
puts it into the policy node's agent built over the same frozen diffusion policy.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

KIND = "acting_weights"


def export_acting_state(agent: Any, directory: str | Path, version: int) -> Path:
    from postbc_ros.rl.state_io import module_tensors, write_state

    if agent.feat_dim is None:
        raise ValueError("export_acting_state: the agent has no networks yet (it has seen no observation)")
    tensors = {}
    for name, mod in agent.modules.items():
        tensors.update(module_tensors(f"net.{name}", mod))
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
