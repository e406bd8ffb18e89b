"""Data types of a node graph: launch arguments, nodes, each node's exit policy, the whole graph
(ROS-free). A GraphSpec checks itself when built: only the arm node may publish where the hardware
listens (docs/fault_policy.md)."""
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


RESTART, STOP_GRAPH, IGNORE = "restart", "stop_graph", "ignore"
EXIT_ACTIONS = (RESTART, STOP_GRAPH, IGNORE)
COMPLETE = "complete"  # ExitPolicy.on_done: the node's clean exit means the graph's work is done
DEFAULT_MAX_RESTARTS = 3  # restarts allowed within the window before the budget is spent
DEFAULT_RESTART_WINDOW_S = 60.0  # s: restarts older than this no longer count against the budget
DEFAULT_BACKOFF_S = 1.0  # s before the first restart in a window; doubled for each further one

# where a joint_trajectory_controller (the twin's sim_node, a ros2_control arm) takes commands,
# relative to the robot's namespace; arm_node's `command_topic` default
HW_COMMAND_TOPIC = "hw/joint_trajectory_controller/joint_trajectory"
HW_COMMAND_SUFFIX = "joint_trajectory_controller/joint_trajectory"  # any controller's (also scaled_...)
HW_COMMAND, HW_LISTEN = "command", "listen"  # NodeSpec.hw_access: the arm node / the hardware (twin)


@dataclass(frozen=True)
class ExitPolicy:
    """What the supervisor does when a node's process ends without being asked to.

    restart: a failed exit (non-zero code or a signal) restarts it after `backoff_s`, doubled for
      each restart already made within `window_s`; the (max_restarts + 1)-th failure within the
      window spends the budget and `exhausted` applies. A clean exit (code 0) is not restarted.
    stop_graph: any exit shuts the whole graph down, the arm node first (it holds and disconnects).
    ignore: reported, nothing else (optional nodes).
    on_done="complete": a clean exit (code 0) means the node finished the graph's work (a collect's
      recorder saved its last demonstration): the graph is shut down in order (the arm first) and
      `postbc launch` exits 0; a failed exit still gets `action`. A node exits 0 by itself only
      when its work is done (ros.node_main: `work_done`), so the two cannot be confused.
    `reason` is the one line that says why (docs/fault_policy.md, `postbc launch --print`)."""

    action: str
    reason: str
    max_restarts: int = DEFAULT_MAX_RESTARTS
    window_s: float = DEFAULT_RESTART_WINDOW_S
    backoff_s: float = DEFAULT_BACKOFF_S
    exhausted: str = STOP_GRAPH
    on_done: str = ""

    def __post_init__(self):
        if self.action not in EXIT_ACTIONS:
            raise ValueError(f"exit policy action {self.action!r}: must be one of {list(EXIT_ACTIONS)}")
        if self.exhausted not in (STOP_GRAPH, IGNORE):
            raise ValueError(f"exit policy exhausted={self.exhausted!r}: must be {STOP_GRAPH!r} or {IGNORE!r}")
        if self.on_done not in ("", COMPLETE):
            raise ValueError(f"exit policy on_done={self.on_done!r}: must be '' or {COMPLETE!r}")
        if not self.reason.strip():
            raise ValueError("an exit policy needs a one-line reason")
        if self.max_restarts < 1 or self.window_s <= 0 or self.backoff_s < 0:
            raise ValueError(f"exit policy budget: max_restarts >= 1, window_s > 0, backoff_s >= 0; got "
                             f"{self.max_restarts}, {self.window_s}, {self.backoff_s}")

    def summary(self) -> str:
        """e.g. `restart (3 in 60 s, backoff 1 s doubling), then stop_graph; exit 0: complete`."""
        done = f"; exit 0: {self.on_done}" if self.on_done else ""
        if self.action != RESTART:
            return self.action + done
        return (f"restart ({self.max_restarts} in {self.window_s:g} s, backoff {self.backoff_s:g} s doubling), "
                f"then {self.exhausted}{done}")

    def describe(self) -> dict:
        out = {"action": self.action, "reason": self.reason, "summary": self.summary()}
        if self.on_done:
            out["on_done"] = self.on_done
        if self.action == RESTART:
            out.update(max_restarts=self.max_restarts, window_s=self.window_s, backoff_s=self.backoff_s,
                       exhausted=self.exhausted)
        return out


OPTIONAL = ExitPolicy(IGNORE, "optional node: the graph runs on without it")


def resolve_name(namespace: str, name: str) -> str:
    """A topic/service name as a node in `namespace` resolves it (absolute names stay)."""
    if name.startswith("/"):
        return "/" + name.strip("/")
    ns = namespace.strip("/")
    return f"/{ns}/{name.strip('/')}" if ns else f"/{name.strip('/')}"


@dataclass
class NodeSpec:
    """One process of the graph: the same fields launch_ros.actions.Node takes, plus what the
    supervisor does when it exits (`on_exit`) and its access to the hardware command topic
    (`hw_access`: "command" for the arm node, the only publisher; "listen" for the hardware itself,
    the twin's sim_node; "" for every other node, which may not name that topic at all)."""

    name: str
    executable: str
    namespace: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    lifecycle: bool = False
    on_exit: ExitPolicy = OPTIONAL
    interactive: bool = False  # reads the operator's terminal (/dev/tty): keep it in the foreground session
    hw_access: str = ""
    package: str = PACKAGE
    nice: int = 0  # CPU niceness it starts with (0..19): background work (the learner) yields to the control path

    @property
    def fqn(self) -> str:
        """Fully qualified node name, e.g. /robot1/arm."""
        ns = "/" + self.namespace.strip("/") if self.namespace.strip("/") else ""
        return f"{ns}/{self.name}"

    @property
    def required(self) -> bool:
        """The graph cannot run without it: its exit (or a spent restart budget) stops the graph."""
        return self.on_exit.action == STOP_GRAPH or (
            self.on_exit.action == RESTART and self.on_exit.exhausted == STOP_GRAPH)

    def hw_command_topic(self) -> str:
        """The hardware command topic this (arm) node publishes, resolved."""
        return resolve_name(self.namespace, str(self.parameters.get("command_topic", HW_COMMAND_TOPIC)))

    def names_used(self) -> list[str]:
        """Every topic name this node is pointed at by the graph: remapping targets and string
        parameters that look like names, resolved in its namespace."""
        names = [b for _a, b in self.remappings]
        names += [v for v in self.parameters.values() if isinstance(v, str) and "/" in v and " " not in v]
        return [resolve_name(self.namespace, x) for x in names]

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

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Only the arm node publishes where the hardware listens: raises ValueError naming the
        node and the topic when any other node is pointed at an arm's hardware command topic."""
        arms = [n for n in self.nodes if n.hw_access == HW_COMMAND]
        for n in self.nodes:
            if n.hw_access not in ("", HW_COMMAND, HW_LISTEN):
                raise ValueError(f"graph {self.name!r}: node {n.fqn} hw_access={n.hw_access!r}: must be "
                                 f"'', {HW_COMMAND!r} or {HW_LISTEN!r}")
            if n.hw_access == HW_COMMAND and n.executable != "arm_node":
                raise ValueError(f"graph {self.name!r}: node {n.fqn} ({n.executable}) is marked as the hardware "
                                 "command publisher; only arm_node (the safety filter) may be")
        per_ns = [n.namespace.strip("/") for n in arms]
        if len(set(per_ns)) != len(per_ns):
            raise ValueError(f"graph {self.name!r}: more than one arm node in a namespace ({[n.fqn for n in arms]})")
        hw_topics = {a.hw_command_topic(): a for a in arms}
        for n in self.nodes:
            if n.hw_access:
                continue
            for topic in n.names_used():
                if topic in hw_topics or topic.endswith(HW_COMMAND_SUFFIX):
                    owner = hw_topics[topic].fqn if topic in hw_topics else "the arm node"
                    raise ValueError(
                        f"graph {self.name!r}: node {n.fqn} ({n.executable}) is pointed at the hardware command "
                        f"topic {topic}; only {owner} may publish there (every command must pass its safety "
                        "filter): send commands to arm/command instead")

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
                    "on_exit": n.on_exit.describe(),
                    "hw_access": n.hw_access,
                    **({"nice": n.nice} if n.nice else {}),
                }
                for n in self.nodes
            ],
        }
