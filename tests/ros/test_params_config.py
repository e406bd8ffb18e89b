"""Every parameter a graph or config/*.yaml sets is declared by its node, with a description
and a valid default/range/choice; YAML values pass the node's own checks."""
from __future__ import annotations

import importlib

import pytest

from postbc_ros.graph import build_graph
from postbc_ros.graph.config import config_dir, node_defaults, robot_overrides

NODES = ["camera_node", "policy_node", "arm_node", "replay_buffer_node", "learner_node", "episode_manager_node",
         "reset_operator_node", "teleop_node", "sim_node"]
IMPLICIT = {"use_sim_time"}  # declared by rclpy itself


def _params(executable):
    return {p.name: p for p in importlib.import_module(f"postbc_ros.nodes.{executable}").PARAMS}


@pytest.mark.parametrize("executable", NODES)
def test_declared_params_are_documented_and_valid(executable):
    params = _params(executable)
    for p in params.values():
        assert p.description.strip(), f"{executable}.{p.name} has no description"
        assert p.check(p.default) is None, p.check(p.default)
    yaml_values = node_defaults(executable)
    assert (config_dir() / f"{executable}.yaml").exists()
    for k, v in yaml_values.items():
        assert k in params, f"config/{executable}.yaml sets undeclared parameter {k!r}"
        assert params[k].check(v) is None, params[k].check(v)
        assert type(v) is type(params[k].default) or isinstance(params[k].default, float), (k, v)


@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_robot_files_set_declared_params(robot):
    for name, exe in (("arm", "arm_node"), ("camera", "camera_node"), ("policy", "policy_node")):
        params = _params(exe)
        for k, v in robot_overrides(robot, name).items():
            assert k in params and params[k].check(v) is None, (robot, name, k, v)


@pytest.mark.parametrize("graph,args", [
    ("finetune", {"namespaces": "a,b", "mode": "best_of_n"}), ("finetune", {"sim": "false", "robot": "ur5e"}),
    ("collect", {"device": "scripted"}), ("collect", {"sim": "false"}), ("sim", {"robot": "ur5e"})])
def test_graph_sets_only_declared_valid_params(graph, args):
    for n in build_graph(graph, args).nodes:
        params = _params(n.executable)
        for k, v in n.parameters.items():
            if k in IMPLICIT:
                continue
            assert k in params, f"{n.fqn}: graph sets undeclared parameter {k!r}"
            assert params[k].check(v) is None, (n.fqn, params[k].check(v))


def test_node_modules_import_without_rclpy_side_effects():
    """`main` imports rclpy lazily: the CLI and the graph can import node modules cheaply."""
    for exe in NODES:
        mod = importlib.import_module(f"postbc_ros.nodes.{exe}")
        assert callable(mod.main)


@pytest.mark.parametrize("algorithm", ["dsrl", "dsrl_na", "best_of_n"])
def test_learner_params_map_onto_fields_of_the_agents_config(algorithm):
    """Every learner parameter the node forwards is a real field of the algorithm's config
    (make_config names an unknown one), and a changed value reaches the agent."""
    import dataclasses

    from postbc_ros.core.params import config_from
    from postbc_ros.nodes.learner_node import CONFIG, agent_overrides
    from postbc_ros.rl.registry import make_config

    cfg = config_from(CONFIG, {**node_defaults("learner_node"), "algorithm": algorithm, "batch_size": 33,
                               "backup_entropy": True})
    made = make_config(algorithm, agent_overrides(cfg))
    assert made.batch_size == 33
    if algorithm != "best_of_n":
        assert made.backup_entropy is True and made.warmup_env_steps == cfg.warmup_env_steps
        no_bonus = dataclasses.replace(cfg, backup_entropy=False)
        assert make_config(algorithm, agent_overrides(no_bonus)).backup_entropy is False
