"""Each launch file and `postbc launch` produce the same nodes, parameters, remappings and env.

ROS 2's `launch` / `launch_ros` are not installable here, so the launch files are executed against
a minimal shim of the launch API whose constructors have the real keyword-only signatures
(launch_ros.actions.Node / LifecycleNode, launch.actions.DeclareLaunchArgument ...): a launch file
passing an argument the real API does not take fails here too.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import types
from pathlib import Path

import pytest

from postbc_ros.graph import GRAPH_ARGS, build_graph
from postbc_ros.graph.supervisor import parse_ros_args, plan

ROOT = Path(__file__).resolve().parents[2]


class _Ctx:
    def __init__(self, values):
        self.launch_configurations = dict(values)


def _shim_modules():
    launch = types.ModuleType("launch")
    actions = types.ModuleType("launch.actions")
    subs = types.ModuleType("launch.substitutions")
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")

    class LaunchDescription:
        def __init__(self, initial_entities=None, *, deprecated_reason=None):
            self.entities = list(initial_entities or [])

    class DeclareLaunchArgument:
        def __init__(self, name, *, default_value=None, description=None, choices=None, **kwargs):
            self.name, self.default_value, self.description, self.choices = name, default_value, description, choices

    class OpaqueFunction:
        def __init__(self, *, function, args=None, kwargs=None, **left):
            self.function = function

    class SetEnvironmentVariable:
        def __init__(self, name, value, **kwargs):
            self.name, self.value = name, value

    class Shutdown:
        def __init__(self, *, reason="reason not given", **kwargs):
            self.reason = reason

    class LaunchConfiguration:
        def __init__(self, variable_name, *, default=None):
            self.variable_name = variable_name

        def perform(self, context):
            return context.launch_configurations[self.variable_name]

    _EXECUTE_PROCESS_KW = {"output", "emulate_tty", "additional_env", "respawn", "respawn_delay",
                           "sigterm_timeout", "sigkill_timeout", "prefix", "on_exit", "cwd", "env", "shell",
                           "log_cmd", "cached_output", "condition", "name"}

    class Node:
        def __init__(self, *, executable, package=None, name=None, namespace=None, exec_name=None,
                     parameters=None, remappings=None, ros_arguments=None, arguments=None, **kwargs):
            bad = set(kwargs) - _EXECUTE_PROCESS_KW
            assert not bad, f"launch_ros Node got unknown keyword(s) {bad}"
            self.kw = dict(package=package, executable=executable, name=name, namespace=namespace,
                           parameters=parameters, remappings=remappings, **kwargs)
            self.lifecycle = False

    class LifecycleNode(Node):
        def __init__(self, *, name, namespace, **kwargs):
            super().__init__(name=name, namespace=namespace, **kwargs)
            self.lifecycle = True

    launch.LaunchDescription = LaunchDescription
    actions.DeclareLaunchArgument = DeclareLaunchArgument
    actions.OpaqueFunction = OpaqueFunction
    actions.SetEnvironmentVariable = SetEnvironmentVariable
    actions.Shutdown = Shutdown
    subs.LaunchConfiguration = LaunchConfiguration
    ros_actions.Node = Node
    ros_actions.LifecycleNode = LifecycleNode
    launch.actions, launch.substitutions, launch_ros.actions = actions, subs, ros_actions
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions}


def _run_launch_file(path: Path, given: dict[str, str], monkeypatch):
    for k, m in _shim_modules().items():
        monkeypatch.setitem(sys.modules, k, m)
    spec = importlib.util.spec_from_file_location(f"_launch_{path.stem.replace('.', '_')}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    declared = [e for e in ld.entities if type(e).__name__ == "DeclareLaunchArgument"]
    values = {d.name: d.default_value for d in declared}  # what ros2 launch does with name:=value
    values.update(given)
    actions = []
    for e in ld.entities:
        if type(e).__name__ == "OpaqueFunction":
            actions += e.function(_Ctx(values))
    return declared, actions


CASES = [
    ("finetune", {}),
    ("finetune", {"robot": "ur5e", "namespaces": "a,b", "mode": "best_of_n", "checkpoint": "/tmp/ck"}),
    ("finetune", {"sim": "false", "robot": "ur5e", "mode": "pretrained", "checkpoint": "ck"}),
    ("finetune", {"teleop": "keyboard", "namespaces": "r1"}),
    ("collect", {"device": "scripted", "episodes": "3"}),
    ("collect", {"sim": "false", "robot": "widowx", "camera_backend": "opencv"}),
    ("collect", {"sim": "false", "robot": "widowx", "observation": "proprio"}),
    ("sim", {"robot": "ur5e", "real_time_factor": "2.0", "domain_id": "7"}),
]


@pytest.mark.parametrize("graph,given", CASES)
def test_launch_file_matches_postbc_launch(graph, given, monkeypatch, tmp_path):
    declared, actions = _run_launch_file(ROOT / "launch" / f"{graph}.launch.py", given, monkeypatch)

    # every argument of the shared description is declared with its default and (registry-read) choices
    assert [(d.name, d.default_value, list(d.choices) if d.choices else None) for d in declared] == [
        (a.name, a.default, a.allowed()) for a in GRAPH_ARGS[graph]]

    env = {a.name: a.value for a in actions if type(a).__name__ == "SetEnvironmentVariable"}
    nodes = [a for a in actions if type(a).__name__ in ("Node", "LifecycleNode")]
    from_launch = sorted(
        (n.kw["namespace"], n.kw["name"], n.kw["executable"], n.kw["package"], n.lifecycle,
         tuple(sorted(n.kw["parameters"][0].items())), tuple(map(tuple, n.kw["remappings"])))
        for n in nodes)

    graph_spec = build_graph(graph, given)
    started = []
    for p in plan(graph_spec, tmp_path):
        got = parse_ros_args(p.argv)
        assert p.argv[p.argv.index("-m") + 1] == f"postbc_ros.nodes.{p.node.executable}"
        for k, v in env.items():  # the processes get the launch file's environment
            assert p.env[k] == v, k
        started.append((got["namespace"], got["name"], p.node.executable, p.node.package, p.node.lifecycle,
                        tuple(sorted(got["parameters"].items())), tuple(map(tuple, got["remappings"]))))
    assert from_launch == sorted(started)
    for n in nodes:  # each node's exit policy as launch can express it, and the supervisor heartbeat
        pol = graph_spec.node(("/" + n.kw["namespace"] if n.kw["namespace"] else "") + "/" + n.kw["name"]).on_exit
        assert n.kw["additional_env"] == {"POSTBC_SUPERVISOR_PID": str(os.getpid())}
        assert n.kw.get("respawn", False) == (pol.action == "restart")
        assert (n.kw.get("on_exit") is not None) == (pol.action == "stop_graph" or pol.on_done == "complete")
        if shutil.which("setpriv"):
            assert n.kw["prefix"].endswith("setpriv --pdeathsig TERM")
    assert env == graph_spec.env
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_BUILTIN_TRANSPORTS"] == "LARGE_DATA"


def test_graph_contents():
    g = build_graph("finetune", {"namespaces": "r1,r2"})
    names = sorted(n.fqn for n in g.nodes)
    assert names == sorted(["/r1/sim", "/r1/arm", "/r1/policy", "/r1/episode_manager",
                            "/r2/sim", "/r2/arm", "/r2/policy", "/r2/episode_manager",
                            "/replay_buffer", "/learner"])
    assert g.node("/r1/arm").lifecycle and g.node("/r1/arm").parameters["backend"] == "ros2_control"
    real = build_graph("finetune", {"sim": "false", "robot": "ur5e"})
    assert real.node("/robot1/arm").parameters["backend"] == "ur_rtde"
    assert {n.executable for n in real.nodes} >= {"camera_node", "reset_operator_node"}
    assert "learner_node" not in {n.executable for n in build_graph("finetune", {"mode": "pretrained"}).nodes}


def test_observation_proprio_makes_a_real_cells_observation_node_and_recorder_proprio_only():
    """observation:=proprio (a cell without markers, image policies): observation_node's layout, the
    teleop recorder's layout with the scene camera's images, the policy's twin check (image mode);
    the wire twin's scripted operator still plans from the twin's scene. Refused on the twin, as the
    privileged state is on a real cell, each naming the fix."""
    for given in ({"sim": "false"}, {"sim": "false", "wire_twin": "true", "device": "scripted"}):
        g = build_graph("collect", {"robot": "widowx", "observation": "proprio", "camera_size": "64", **given})
        assert g.node("/robot1/observation").parameters["layout"] == "proprio"
        teleop = g.node("/robot1/teleop").parameters
        assert (teleop["observation"], teleop["camera"], teleop["image_size"]) == ("proprio", "scene", 64)
        assert ("scene_topic" in teleop) == (given.get("wire_twin") == "true")
    ft = build_graph("finetune", {"robot": "widowx", "sim": "false", "observation": "proprio", "checkpoint": "ck"})
    assert ft.node("/robot1/policy").parameters["observation"] == "proprio"
    assert ft.node("/robot1/observation").parameters["layout"] == "proprio"
    assert build_graph("collect", {"sim": "false"}).node("/robot1/observation").parameters["layout"] == "markers"
    with pytest.raises(ValueError, match="observation:=proprio .* needs sim:=false"):
        build_graph("collect", {"observation": "proprio"})
    with pytest.raises(ValueError, match=r"a real cell \(sim:=false\) has no such state; use observation:=markers"):
        build_graph("finetune", {"sim": "false", "observation": "privileged"})


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="robot:='ur10'"):
        build_graph("finetune", {"robot": "ur10"})
    with pytest.raises(ValueError, match="no launch argument"):
        build_graph("sim", {"checkpoint": "x"})


def test_only_the_arm_node_may_be_pointed_at_the_hardware_command_topic():
    """graph/spec.py's check at build time: a node other than arm_node (or the hardware it
    drives, the twin) whose remappings or parameters name the hardware command topic is refused."""
    from dataclasses import replace

    from postbc_ros.graph.spec import GraphSpec, NodeSpec

    g = build_graph("finetune", {"teleop": "keyboard", "namespaces": "r1,r2"})
    assert {n.executable: n.hw_access for n in g.nodes if n.hw_access} == {"arm_node": "command", "sim_node": "listen"}
    teleop = g.node("/r1/teleop")
    bad = [
        replace(teleop, remappings=[("arm/command", "hw/joint_trajectory_controller/joint_trajectory")]),
        replace(teleop, parameters={**teleop.parameters, "topic": "/r2/hw/joint_trajectory_controller/joint_trajectory"}),
        replace(teleop, remappings=[("arm/command", "/ur/scaled_joint_trajectory_controller/joint_trajectory")]),
    ]
    for node in bad:
        nodes = [node if n is teleop else n for n in g.nodes]
        with pytest.raises(ValueError, match=f"node {node.fqn} \\(teleop_node\\) is pointed at the hardware command "
                                             "topic .*send commands to arm/command instead"):
            GraphSpec(g.name, g.arguments, nodes, g.env)
    with pytest.raises(ValueError, match="only arm_node"):
        GraphSpec(g.name, g.arguments, [replace(teleop, hw_access="command")], g.env)
    arm = g.node("/r1/arm")
    with pytest.raises(ValueError, match="more than one arm node in a namespace"):
        GraphSpec(g.name, g.arguments, [arm, replace(arm, name="arm2")], g.env)
    # a real-arm graph: the arm's own (parameter) command topic is what is protected
    real = build_graph("finetune", {"sim": "false", "robot": "ur5e"})
    assert real.node("/robot1/arm").hw_command_topic() == "/robot1/hw/joint_trajectory_controller/joint_trajectory"


def test_every_node_has_an_exit_policy_with_a_reason_and_print_shows_it():
    import json
    import subprocess

    from postbc_ros.graph.graphs import EXIT_POLICIES

    for graph, given in CASES:
        for n in build_graph(graph, given).nodes:
            assert n.on_exit is EXIT_POLICIES.get(n.executable) or n.executable in ("teleop_node",
                                                                                    "episode_manager_node"), n.fqn
    assert build_graph("collect", {}).node("/robot1/teleop").on_exit.exhausted == "stop_graph"
    # the graph's own end: the collect's teleop and the finetune's episode manager complete it with exit 0
    assert build_graph("collect", {}).node("/robot1/episode_manager").on_exit is EXIT_POLICIES["episode_manager_node"]
    done = build_graph("finetune", {}).node("/robot1/episode_manager")
    assert done.on_exit.on_done == "complete" and done.on_exit.action == "stop_graph"
    assert done.parameters["exit_when_finished"] is True
    assert build_graph("finetune", {"teleop": "gamepad"}).node("/robot1/teleop").on_exit.exhausted == "ignore"
    out = subprocess.run([sys.executable, "-m", "postbc_ros.cli.main", "launch", "finetune", "--print"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    nodes = {n["name"]: n for n in json.loads(out.stdout)["nodes"]}
    assert nodes["arm"]["on_exit"]["action"] == "stop_graph" and nodes["arm"]["hw_access"] == "command"
    assert nodes["replay_buffer"]["on_exit"] == {**EXIT_POLICIES["replay_buffer_node"].describe()}
    assert "/robot1/policy" in out.stderr and "restart (3 in 60 s, backoff 1 s doubling), then stop_graph" in out.stderr


def test_the_fault_policy_doc_lists_every_node_policy():
    """docs/fault_policy.md's table is the one in graphs.py (executable, summary, reason)."""
    from postbc_ros.graph.graphs import COLLECT_TELEOP_POLICY, EXIT_POLICIES, FINETUNE_EPISODES_POLICY

    doc = (ROOT / "docs" / "fault_policy.md").read_text()
    rows = {tuple(c.strip().strip("`") for c in line.strip("|").split("|"))
            for line in doc.splitlines() if line.startswith("| `") and "_node" in line.split("|")[1]}
    want = {(exe, p.summary(), p.reason) for exe, p in EXIT_POLICIES.items()}
    want.add(("teleop_node (collect)", COLLECT_TELEOP_POLICY.summary(), COLLECT_TELEOP_POLICY.reason))
    want.add(("episode_manager_node (finetune)", FINETUNE_EPISODES_POLICY.summary(), FINETUNE_EPISODES_POLICY.reason))
    assert rows == want
