"""Data types of a node graph: launch arguments, nodes, the whole graph (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from postbc_ros.core.params import Choices
from postbc_ros.resources import PACKAGE


@dataclass(frozen=True)
class LaunchArg:
    """A `name:=value` argument of a graph (also a DeclareLaunchArgument in the launch files).
    `choices` may be a callable (e.g. `robot_names`): it is read each time the graph is resolved, so
    an entry registered at run time is accepted."""

    name: str
    default: str
    description: str
    choices: Choices = None

    def allowed(self) -> list[str] | None:
        """The accepted values now, or None when any value is."""
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    def validate(self, value: str) -> str:
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise ValueError(f"launch argument {self.name}:={value!r}: must be one of {allowed}")
        return value


@dataclass
class NodeSpec:
    """One process of the graph: the same fields launch_ros.actions.Node takes."""

    name: str
    executable: str
    namespace: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    lifecycle: bool = False
    required: bool = False  # when it dies the supervisor shuts the graph down
    interactive: bool = False  # reads the operator's terminal (/dev/tty): keep it in the foreground session
    package: str = PACKAGE

    @property
    def fqn(self) -> str:
        """Fully qualified node name, e.g. /robot1/arm."""
        ns = "/" + self.namespace.strip("/") if self.namespace.strip("/") else ""
        return f"{ns}/{self.name}"

    def ros_args(self, params_file: str | None = None) -> list[str]:
        """`--ros-args` for starting the executable the way ros2 launch does."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace.strip("/"):
            args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        if params_file:
            args += ["--params-file", params_file]
        for a, b in self.remappings:
            args += ["-r", f"{a}:={b}"]
        return args


@dataclass
class GraphSpec:
    name: str
    arguments: dict[str, str]
    nodes: list[NodeSpec]
    env: dict[str, str]

    def node(self, fqn: str) -> NodeSpec:
        for n in self.nodes:
            if n.fqn == fqn:
                return n
        raise KeyError(f"graph {self.name!r} has no node {fqn!r} (has {[n.fqn for n in self.nodes]})")

    def describe(self) -> dict:
        """JSON-able summary (used by `postbc launch NAME --print` and the equivalence test)."""
        return {
            "graph": self.name,
            "arguments": dict(self.arguments),
            "env": dict(self.env),
            "nodes": [
                {
                    "name": n.name,
                    "namespace": n.namespace,
                    "package": n.package,
                    "executable": n.executable,
                    "lifecycle": n.lifecycle,
                    "parameters": dict(n.parameters),
                    "remappings": [list(r) for r in n.remappings],
                }
                for n in self.nodes
            ],
        }
