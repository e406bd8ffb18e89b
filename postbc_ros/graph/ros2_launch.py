"""Glue between the shared graph description and ROS 2's `launch` / `launch_ros`.

launch/<name>.launch.py calls `generate_launch_description_for(name)`: every launch argument of
the graph becomes a DeclareLaunchArgument; an OpaqueFunction reads their values at launch time,
calls `build_graph` and returns SetEnvironmentVariable + launch_ros Node / LifecycleNode actions
with exactly the spec's name, namespace, parameters and remappings. `launch` is imported only
here, so the rest of postbc_ros works where ROS 2's launch tools are not installed.

Supervision under `ros2 launch` (docs/fault_policy.md) maps each node's ExitPolicy onto what
launch offers, which is less than `postbc launch` does:

* restart -> `respawn=True, respawn_delay=backoff_s`: launch respawns on every exit (clean ones
  too), forever, at a fixed delay: it has no restart budget and no backoff;
* stop_graph -> `on_exit=[Shutdown(reason=...)]`: launch's shutdown sends SIGINT to every node at
  once (then SIGTERM after `sigterm_timeout`, SIGKILL): it cannot stop the arm node first;
* on_done="complete" -> `on_exit=` a callable giving Shutdown when the exit code is 0 (the node's
  work is done), nothing otherwise; a respawn due meanwhile is dropped by launch's shutdown (it
  waits `respawn_delay` on the shutdown future);
* children dying with the launcher: `ros2 launch` itself does not arrange it (a `kill -9` of it
  orphans the nodes). Where util-linux's `setpriv` is installed, each node is started through
  `setpriv --pdeathsig TERM` (launch's `prefix`), the same parent-death signal `postbc launch`
  sets; launch forks from its event loop in the main thread, which lives as long as launch;
* POSTBC_SUPERVISOR_PID: the `ros2 launch` process's pid (this function runs inside it).
"""
from __future__ import annotations

import os
import shutil

from postbc_ros.graph.graphs import GRAPH_ARGS, build_graph
from postbc_ros.graph.spec import COMPLETE, RESTART, STOP_GRAPH, NodeSpec
from postbc_ros.graph.supervisor import PARENT_DEATH_SIGNAL, SUPERVISOR_PID_ENV


def supervision_kwargs(spec: NodeSpec, setpriv: str | None = None) -> dict:
    """launch_ros Node keywords for the node's exit policy, supervisor heartbeat and parent-death
    signal (`setpriv`: the path of util-linux's setpriv, None where it is missing)."""
    from launch.actions import Shutdown

    kw: dict = {"additional_env": {SUPERVISOR_PID_ENV: str(os.getpid())}}
    prefix = [f"nice -n {spec.nice}"] if spec.nice else []
    if setpriv:
        prefix.append(f"{setpriv} --pdeathsig {PARENT_DEATH_SIGNAL.name[3:]}")
    if prefix:
        kw["prefix"] = " ".join(prefix)
    if spec.on_exit.action == RESTART:
        kw.update(respawn=True, respawn_delay=spec.on_exit.backoff_s)
    elif spec.on_exit.action == STOP_GRAPH:
        kw["on_exit"] = [Shutdown(reason=f"{spec.fqn} exited ({spec.on_exit.reason})")]
    if spec.on_exit.on_done == COMPLETE and spec.on_exit.action != STOP_GRAPH:
        done = f"{spec.fqn} finished its work (exit 0)"
        kw["on_exit"] = lambda event, _context: [Shutdown(reason=done)] if event.returncode == 0 else None
    return kw


def node_action(spec: NodeSpec):
    """launch_ros action for one NodeSpec."""
    from launch_ros.actions import LifecycleNode, Node

    kwargs = dict(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace,
        parameters=[dict(spec.parameters)],
        remappings=list(spec.remappings),
        output="screen",
        emulate_tty=True,
        **supervision_kwargs(spec, shutil.which("setpriv")),
    )
    return LifecycleNode(**kwargs) if spec.lifecycle else Node(**kwargs)


def actions_for(graph: str, values: dict[str, str]) -> list:
    """Environment + node actions of `graph` for resolved launch-argument values."""
    from launch.actions import SetEnvironmentVariable

    spec = build_graph(graph, values)
    actions = [SetEnvironmentVariable(name=k, value=v) for k, v in spec.env.items()]
    actions += [node_action(n) for n in spec.nodes]
    return actions


def generate_launch_description_for(graph: str):
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    declared = GRAPH_ARGS[graph]
    items = []
    for a in declared:
        kw = {"default_value": a.default, "description": a.description}
        if a.choices is not None:
            kw["choices"] = a.allowed()
        items.append(DeclareLaunchArgument(a.name, **kw))

    def _setup(context, *_args, **_kwargs):
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in declared}
        return actions_for(graph, values)

    items.append(OpaqueFunction(function=_setup))
    return LaunchDescription(items)
