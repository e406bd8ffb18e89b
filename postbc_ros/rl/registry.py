"""THE list of finetuners, and the agent a graph runs, built identically in policy_node and
learner_node. Every node, graph argument, CLI choice and benchmark reads its finetuner choices from
here (docs/interfaces.md, "Adding a finetuner").

algorithm: pretrained (the diffusion policy as is: w ~ N(0, I), held by a DSRLAgent in `base`
mode), dsrl, dsrl_na, best_of_n. `config` overrides fields of the algorithm's dataclass config
(e.g. the learner's small CPU settings); the policy node rebuilds its agent with the config that
arrives with the learner's weights, so both sides always run the same networks.

Importing this module is cheap (no torch): the agent modules are imported when an agent or a
config is first built.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

#: algorithm -> (module, agent class, config class); the first entry is the no-learning baseline
AGENTS: dict[str, tuple[str, str, str]] = {
    "pretrained": ("postbc_ros.rl.dsrl", "DSRLAgent", "DSRLConfig"),
    "dsrl": ("postbc_ros.rl.dsrl", "DSRLAgent", "DSRLConfig"),
    "dsrl_na": ("postbc_ros.rl.dsrl_na", "DSRLNAAgent", "DSRLNAConfig"),
    "best_of_n": ("postbc_ros.rl.best_of_n", "BestOfNAgent", "BestOfNConfig"),
}
#: what a policy node can run (policy_node mode, the graph's `mode`): the pretrained policy as is,
#: or one of the finetuners
ALGORITHMS = tuple(AGENTS)
#: online finetuners (learner_node algorithm, `--finetune` of the learning bench)
FINETUNERS = ALGORITHMS[1:]


def load_node_policy(checkpoint: str, device: str):
    """The diffusion policy a node runs, from its `checkpoint` / `device` parameters -> (policy,
    torch device or None for auto). Shared by policy_node and learner_node."""
    from postbc_ros.learning import load_policy

    if not checkpoint:
        raise ValueError("parameter 'checkpoint' is empty: pass checkpoint:=<dir written by postbc pretrain>")
    dev = None if device == "auto" else device
    return load_policy(checkpoint, device=dev), dev


def agent_classes(algorithm: str):
    """(agent class, config class) of `algorithm`."""
    if algorithm not in AGENTS:
        raise ValueError(f"unknown algorithm {algorithm!r}: choose one of {list(ALGORITHMS)}")
    module, agent_cls, cfg_cls = AGENTS[algorithm]
    mod = importlib.import_module(module)
    return getattr(mod, agent_cls), getattr(mod, cfg_cls)


def make_config(algorithm: str, overrides: dict[str, Any] | None = None):
    _agent_cls, cfg_cls = agent_classes(algorithm)
    cfg = cfg_cls()
    names = {f.name for f in dataclasses.fields(cfg)}
    for k, v in (overrides or {}).items():
        if k not in names:
            raise ValueError(f"{cfg_cls.__name__} has no field {k!r} (fields: {sorted(names)})")
        cur = getattr(cfg, k)
        if dataclasses.is_dataclass(cur) and isinstance(v, dict):
            v = type(cur)(**v)
        setattr(cfg, k, v)
    return cfg


def make_agent(algorithm: str, policy, config: dict[str, Any] | None = None, device=None, seed: int = 0):
    agent_cls, _ = agent_classes(algorithm)
    return agent_cls(policy, make_config(algorithm, config), device=device, seed=seed)
