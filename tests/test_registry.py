"""The robot registry and the finetuner registry are the one source of robot / finetuner choices.

A third, test-only arm registered at run time gets every graph (no process is started); the
graph's `mode` and the nodes' algorithm choices are the finetuner registry's lists; robot names
are written out only in the registry and the robots' own modules.
"""
from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from postbc_ros.graph import GRAPH_ARGS, build_graph
from postbc_ros.rl.registry import ALGORITHMS, FINETUNERS
from postbc_ros.robots import (
    DEFAULT_ROBOT, RobotEntry, RobotSpec, get_robot, get_robot_spec, get_twin, register_robot, robot_names,
    unregister_robot,
)

PKG = Path(__file__).resolve().parents[1] / "postbc_ros"
MAX_FILES_WITH_ROBOT_NAMES = 6  # the registry, the robots' own modules, the arm backend table
TEST_ARM = "testarm"
LINK = 0.2  # m, length of each link of the test arm's planar chain


def _testarm_fk(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planar 3-link chain in the x-z plane turned about z by q[0]; the wrist joints only rotate the tool."""
    a = np.cumsum(q[1:4])
    r, z = LINK * np.cos(a).sum(), LINK * np.sin(a).sum()
    c, s = np.cos(q[0]), np.sin(q[0])
    return np.array([c * r, s * r, z]), np.eye(3)


def _testarm_spec() -> RobotSpec:
    return RobotSpec(
        name=TEST_ARM, joint_names=[f"test_joint_{i}" for i in range(6)],
        lower=np.full(6, -2.0), upper=np.full(6, 2.0), velocity_limits=np.full(6, 1.0),
        accel_limits=np.full(6, 2.0), home=np.zeros(6), gripper_range=(0.0, 1.0), _fk=_testarm_fk,
        source="tests/test_registry.py",
    )


@pytest.fixture
def testarm():
    """A third arm, registered for one test: its own spec, rigs, backend and node parameters; it
    reuses the default arm's twin data, and says so by naming it."""
    entry = register_robot(RobotEntry(
        name=TEST_ARM, title="TestArm", make_spec=_testarm_spec, real_backend="fake",
        rig="testarm_rig", twin_rig="testarm_twin_rig", twin=get_twin(DEFAULT_ROBOT),
        node_params={"arm": {"control_rate": 30.0, "watchdog_timeout": 0.5}}, aliases=("test_arm_6",),
    ))
    try:
        yield entry
    finally:
        unregister_robot(TEST_ARM)


def test_a_registered_robot_is_known_everywhere_and_forgotten_after(testarm):
    assert TEST_ARM in robot_names() and TEST_ARM in robot_names(with_twin=True)
    assert get_robot("Test-Arm-6") is testarm
    spec = get_robot_spec(TEST_ARM)
    assert spec.joint_names[0] == "test_joint_0" and spec.fk(np.zeros(6))[0][0] == pytest.approx(3 * LINK)
    with pytest.raises(ValueError, match="already registered"):
        register_robot(testarm)
    unregister_robot(TEST_ARM)
    assert TEST_ARM not in robot_names()
    with pytest.raises(ValueError, match=f"robot:='{TEST_ARM}'"):
        build_graph("sim", {"robot": TEST_ARM})
    register_robot(testarm)  # the fixture removes it again


def test_builtin_robots_cannot_be_removed():
    with pytest.raises(ValueError, match="built in"):
        unregister_robot(DEFAULT_ROBOT)
    assert DEFAULT_ROBOT in robot_names()


@pytest.mark.parametrize("graph,given", [
    ("finetune", {"namespaces": "a,b", "checkpoint": "ck"}), ("finetune", {"sim": "false", "mode": "pretrained"}),
    ("collect", {"device": "scripted"}), ("collect", {"sim": "false"}), ("sim", {}),
])
def test_graphs_of_a_robot_registered_at_run_time(testarm, graph, given):
    g = build_graph(graph, {"robot": TEST_ARM, **given})
    sim = given.get("sim", "true") == "true"
    arms = [n for n in g.nodes if n.executable == "arm_node"]
    assert arms and len(arms) == len(given.get("namespaces", "robot1").split(","))
    for arm in arms:
        p = arm.parameters
        assert p["robot"] == TEST_ARM
        assert p["safety_rig"] == (testarm.twin_rig if sim else testarm.rig)
        assert p["backend"] == ("ros2_control" if sim else testarm.real_backend)
        assert p["watchdog_timeout"] == 0.5  # the entry's node_params (no config file for this arm)
        assert p["control_rate"] == (20.0 if sim else 30.0)  # the graph's twin value wins over the entry
    for n in g.nodes:
        if "robot" in n.parameters:
            assert n.parameters["robot"] == TEST_ARM, n.fqn
        if n.executable == "camera_node":
            assert n.parameters["rig"] == testarm.rig
    assert any(n.executable == "sim_node" for n in g.nodes) == sim


def test_sim_reads_the_twin_from_the_entry(testarm):
    """The test arm names the default arm's twin data: its model files and env ids follow from that."""
    import postbc_ros.sim as sim
    from postbc_ros.sim.twin import model_path

    assert model_path(TEST_ARM, "push") == model_path(DEFAULT_ROBOT, "push")
    assert sim.env_id(TEST_ARM, "push") == "postbc/TestArmPush-v0"
    assert sim.env_ids()["postbc/TestArmReach-v0"] == (TEST_ARM, "reach")


def test_a_robot_without_a_twin_builds_real_graphs_only(testarm):
    register_robot(RobotEntry(name=TEST_ARM, title="TestArm", make_spec=_testarm_spec, real_backend="fake",
                              rig="testarm_rig", twin_rig="testarm_twin_rig"), replace=True)
    assert TEST_ARM not in robot_names(with_twin=True)
    assert build_graph("finetune", {"robot": TEST_ARM, "sim": "false"}).node("/robot1/arm").parameters["backend"] == "fake"
    with pytest.raises(ValueError, match="no MuJoCo twin"):
        build_graph("finetune", {"robot": TEST_ARM})


# ---------------------------------------------------------------------------------- finetuners
def _choices(graph: str, arg: str) -> list[str] | None:
    return next(a for a in GRAPH_ARGS[graph] if a.name == arg).allowed()


def _node_choices(executable: str, name: str) -> list[str] | None:
    from postbc_ros.core.params import params_of

    mod = importlib.import_module(f"postbc_ros.nodes.{executable}")
    # a converted node declares its parameters by a CONFIG dataclass (the PARAMS list is transitional)
    params = params_of(mod.CONFIG) if hasattr(mod, "CONFIG") else mod.PARAMS
    return next(p for p in params if p.name == name).allowed()


def _cli_choices(*path: str) -> list[str]:
    """Choices of option path[-1] of the `postbc` subcommand path[:-1]."""
    from postbc_ros.cli.main import build_parser

    parser = build_parser()
    for name in path[:-1]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return list(next(a for a in parser._actions if path[-1] in a.option_strings).choices)


def test_finetuner_choices_come_from_the_finetuner_registry():
    assert ALGORITHMS[0] == "pretrained" and tuple(FINETUNERS) == ALGORITHMS[1:]
    assert _choices("finetune", "mode") == list(ALGORITHMS)
    assert _node_choices("policy_node", "mode") == list(ALGORITHMS)
    assert _node_choices("learner_node", "algorithm") == list(FINETUNERS)
    assert _cli_choices("demo", "--mode") == list(ALGORITHMS)
    assert _cli_choices("bench", "learning", "--finetune") == list(FINETUNERS)


def test_robot_and_device_choices_come_from_the_registries(testarm):
    from postbc_ros.drivers.teleop import BACKENDS as TELEOP_DEVICES

    for graph in GRAPH_ARGS:
        assert _choices(graph, "robot") == list(robot_names())  # read when resolved: the test arm is in
        assert next(a for a in GRAPH_ARGS[graph] if a.name == "robot").default == DEFAULT_ROBOT
    assert _choices("collect", "device") == list(TELEOP_DEVICES)


# ------------------------------------------------------------------------------ robot names
def test_robot_names_are_written_only_in_the_registry_and_the_robot_modules():
    """Each literal robot name outside robots/ is a place to edit when a robot is added."""
    names = "|".join(map(re.escape, robot_names()))
    pattern = re.compile(rf"""["']({names})["']""")
    offenders = sorted(str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py") if pattern.search(p.read_text()))
    assert len(offenders) <= MAX_FILES_WITH_ROBOT_NAMES, f"robot names written out in {offenders}"
    assert all(p.startswith("postbc_ros/") for p in offenders)
