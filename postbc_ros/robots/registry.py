"""THE list of supported arms: every node, graph, CLI command, twin and benchmark reads its robot
choices and per-robot facts from here (docs/interfaces.md, "Adding a robot").

An entry is registered by the robot's own module (robots/<name>.py defines `ENTRY`); a test or a
user's package can add one at run time with `register_robot`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from postbc_ros.robots.spec import RobotSpec

#: modules that define the built-in entries (each has a module-level `ENTRY`)
BUILTIN_MODULES = ("postbc_ros.robots.widowx", "postbc_ros.robots.ur5e")


@dataclass(frozen=True)
class RobotEntry:
    name: str  # the value of every `robot` parameter / --robot option
    title: str  # as written in env ids: postbc/<title><Task>-v0
    make_spec: Callable[[], RobotSpec]
    real_backend: str  # arm backend of the real arm (drivers.arm.BACKENDS key)
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


def robot_names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(_ENTRIES)


def get_robot(name: str) -> RobotEntry:
    _load_builtins()
    key = str(name).lower().replace("-", "").replace("_", "")
    for e in _ENTRIES.values():
        if key == e.name.replace("_", "") or key in e.aliases:
            return e
    raise ValueError(f"unknown robot {name!r}; choose one of {list(_ENTRIES)} "
                     "(a new arm: see docs/interfaces.md, 'Adding a robot')")
