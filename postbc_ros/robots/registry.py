"""THE list of supported arms: every node, graph, CLI command, twin and benchmark reads its robot
choices and per-robot facts from here (docs/interfaces.md, "Adding a robot").

An entry is registered by the robot's own module (robots/<name>.py defines `ENTRY`); a test or a
user's package can add one at run time with `register_robot`. An entry holds every per-robot fact
the rest of the package needs: the spec (limits, FK), the real arm's driver backend, the
calibration rigs, per-node parameter overrides and the MuJoCo twin's data (None: no twin).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from postbc_ros.robots.spec import RobotSpec
from postbc_ros.robots.twin_data import TwinData

#: modules that define the built-in entries (each has a module-level `ENTRY`)
BUILTIN_MODULES = ("postbc_ros.robots.widowx", "postbc_ros.robots.ur5e")
#: the arm every `robot` parameter / --robot option defaults to
DEFAULT_ROBOT = "widowx"


@dataclass(frozen=True)
class RobotEntry:
    name: str  # the value of every `robot` parameter / --robot option
    title: str  # as written in env ids: postbc/<title><Task>-v0
    make_spec: Callable[[], RobotSpec]
    real_backend: str  # arm backend of the real arm (drivers.arm.BACKENDS key)
    rig: str  # calibration/<rig>/ of the real arm: safety.yaml, camera_<name>.yaml, driver files
    twin_rig: str  # calibration/<twin_rig>/ of its MuJoCo twin
    twin: TwinData | None = None  # the MuJoCo twin's data (robots.twin_data); None: no twin, sim:=false only
    # node name (arm, camera, policy, ...) -> ROS parameters that differ for this arm; the graph
    # applies them over the node's defaults and under the values it derives from launch arguments
    node_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)
    aliases: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)


_ENTRIES: dict[str, RobotEntry] = {}


def _load_builtins() -> None:
    if not _ENTRIES:
        for mod in BUILTIN_MODULES:
            entry = importlib.import_module(mod).ENTRY
            _ENTRIES.setdefault(entry.name, entry)


def register_robot(entry: RobotEntry, replace: bool = False) -> RobotEntry:
    _load_builtins()
    if entry.name in _ENTRIES and not replace:
        raise ValueError(f"robot {entry.name!r} is already registered (pass replace=True to redefine it)")
    _ENTRIES[entry.name] = entry
    return entry


def unregister_robot(name: str) -> None:
    _load_builtins()
    if name in (importlib.import_module(m).ENTRY.name for m in BUILTIN_MODULES):
        raise ValueError(f"robot {name!r} is built in and cannot be removed")
    _ENTRIES.pop(name, None)


def robot_names(*, with_twin: bool = False) -> tuple[str, ...]:
    """Names of the registered arms (with_twin: only those with a MuJoCo twin)."""
    _load_builtins()
    return tuple(n for n, e in _ENTRIES.items() if e.twin is not None or not with_twin)


def twin_robot_names() -> tuple[str, ...]:
    """Registered arms with a MuJoCo twin (a `choices` callable for parameters that need one)."""
    return robot_names(with_twin=True)


def _key(name: str) -> str:
    return str(name).lower().replace("-", "").replace("_", "")


def get_robot(name: str) -> RobotEntry:
    """The entry of `name` or of one of its aliases (case, '-' and '_' ignored)."""
    _load_builtins()
    key = _key(name)
    for e in _ENTRIES.values():
        if key == _key(e.name) or key in map(_key, e.aliases):
            return e
    raise ValueError(f"unknown robot {name!r}; choose one of {list(_ENTRIES)} "
                     "(a new arm: see docs/interfaces.md, 'Adding a robot')")


def get_twin(name: str) -> TwinData:
    """The MuJoCo twin data of robot `name`; ValueError when its entry has none."""
    entry = get_robot(name)
    if entry.twin is None:
        raise ValueError(f"robot {entry.name!r} has no MuJoCo twin (its registry entry sets no `twin`); "
                         f"robots with a twin: {list(robot_names(with_twin=True))}")
    return entry.twin
