"""Glue between the shared graph description and ROS 2's `launch` / `launch_ros`.

launch/<name>.launch.py calls `generate_launch_description_for(name)`: every launch argument of
the graph becomes a DeclareLaunchArgument; an OpaqueFunction reads their values at launch time,
calls `build_graph` and returns SetEnvironmentVariable + launch_ros Node / LifecycleNode actions
with exactly the spec's name, namespace, parameters and remappings. `launch` is imported only
here, so the rest of postbc_ros works where ROS 2's launch tools are not installed.
"""
from __future__ import annotations

from postbc_ros.graph.graphs import GRAPH_ARGS, build_graph
from postbc_ros.graph.spec import NodeSpec


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
