"""Every node's parameters come from its config dataclass (`params_of(module.CONFIG)`): each is
documented with a valid default/range/choice; config/*.yaml, the robot files and the graphs set
only declared, valid parameters, and the YAML only values that differ from the defaults; a
runtime change is applied to a live parameter and refused (with the reason) for any other."""
from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from postbc_ros.core.params import Param, defaults_of, params_of
from postbc_ros.graph import build_graph
from postbc_ros.graph.config import config_dir, node_defaults, robot_overrides

from .harness import unique_domain

NODES = ["camera_node", "policy_node", "arm_node", "replay_buffer_node", "learner_node", "episode_manager_node",
         "reset_operator_node", "teleop_node", "sim_node"]
IMPLICIT = {"use_sim_time"}  # declared by rclpy itself
MAX_NODE_LINES = 150  # a node module is a thin shell: conversions and ROS plumbing only


def _module(executable):
    return importlib.import_module(f"postbc_ros.nodes.{executable}")


def _config(executable):
    return _module(executable).CONFIG


def _params(executable) -> dict[str, Param]:
    return {p.name: p for p in params_of(_config(executable))}


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


@pytest.mark.parametrize("executable", NODES)
def test_yaml_sets_only_values_that_differ_from_the_defaults(executable):
    """The config dataclass is the one source of a default; config/<executable>.yaml only changes some."""
    config = _config(executable)
    defaults = defaults_of(config)
    restated = {k: v for k, v in node_defaults(executable).items() if k in defaults and v == defaults[k]}
    assert not restated, f"config/{executable}.yaml restates defaults of {config.__name__}: {restated}"


@pytest.mark.parametrize("executable", NODES)
def test_converted_nodes_are_thin_modules_with_a_config_dataclass(executable):
    config = _config(executable)
    mod = _module(executable)
    assert dataclasses.is_dataclass(config) and callable(mod.main)
    source = Path(mod.__file__).read_text()
    assert len(source.splitlines()) <= MAX_NODE_LINES, f"{executable}: {len(source.splitlines())} lines"
    nested = [c.name for f in ast.walk(ast.parse(source)) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for c in ast.walk(f) if isinstance(c, ast.ClassDef)]
    assert not nested, f"{executable}: classes defined inside functions: {nested}"


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


# ------------------------------------------------------------------ runtime changes (a real rclpy node)
@pytest.fixture
def ros_context():
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx, domain_id=unique_domain())
    yield ctx
    rclpy.try_shutdown(context=ctx)


def _another_valid_value(p: Param):
    """A valid value of `p` other than its default (None for a list)."""
    if isinstance(p.default, bool):
        return not p.default
    allowed = p.allowed()
    if allowed is not None:
        return next((a for a in allowed if a != p.default), None)
    if isinstance(p.default, (int, float)):
        lo, hi = p.range or (p.default, p.default + 1)
        return type(p.default)(hi if p.default != hi else lo)
    if isinstance(p.default, str):
        return p.default + "_changed"
    return None


@pytest.mark.parametrize("executable", NODES)
def test_runtime_change_is_applied_to_a_live_parameter_and_refused_for_the_others(executable, ros_context):
    import rclpy
    from rclpy.parameter import Parameter

    from postbc_ros.ros.params import declare_params

    config = _config(executable)
    node = rclpy.create_node(f"params_{executable}", context=ros_context)
    try:
        cfg = declare_params(node, config)
        for p in params_of(config):
            value = _another_valid_value(p)
            if value is None:
                continue
            [res] = node.set_parameters([Parameter(p.name, value=value)])
            if p.live:
                assert res.successful, (p.name, res.reason)
                assert getattr(cfg, p.name) == value and node.get_parameter(p.name).value == value
            else:
                assert not res.successful, f"{executable}.{p.name} is not live but a runtime change was accepted"
                assert f"'{p.name}' takes effect only at start" in res.reason, res.reason
                assert getattr(cfg, p.name) == p.default and node.get_parameter(p.name).value == p.default
    finally:
        node.destroy_node()


def test_arm_node_applies_a_new_watchdog_timeout_and_refuses_a_new_control_rate(ros_context):
    """The live watchdog_timeout reaches the controller's watchdog; control_rate (the timer's
    period) is refused, not acknowledged and ignored."""
    from rclpy.parameter import Parameter

    from postbc_ros.nodes.arm_node import ArmNode

    node = ArmNode(context=ros_context)
    try:
        assert node.arm.ctl.watchdog_timeout == node.cfg.watchdog_timeout == 0.5
        [res] = node.set_parameters([Parameter("watchdog_timeout", value=0.2)])
        assert res.successful and node.arm.ctl.watchdog_timeout == 0.2
        node.arm.ctl.step(0.0, None, None, None)  # inactive: decides nothing, but reads the timeout
        assert node.arm.ctl.watchdog.timeout == 0.2
        [res] = node.set_parameters([Parameter("control_rate", value=50.0)])
        assert not res.successful and "restart the node with control_rate:=" in res.reason
        assert node.period == 1.0 / 20.0 and node.get_parameter("control_rate").value == 20.0
        [res] = node.set_parameters([Parameter("watchdog_timeout", value=50.0)])  # outside its range
        assert not res.successful and node.arm.ctl.watchdog_timeout == 0.2
    finally:
        node.destroy_node()
