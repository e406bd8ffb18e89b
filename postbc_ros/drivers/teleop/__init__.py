"""Teleoperation devices behind one interface (`TeleopDevice.read(obs) -> TeleopCommand`).

Backends by name: keyboard (terminal), spacemouse (hidraw), gamepad (joystick API),
scripted (the sim's scripted operator). Motion maps to the ee_delta action space.
"""
from __future__ import annotations

from typing import Any

from postbc_ros.drivers.teleop.base import ACTION_DIM, TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError

BACKENDS = ("keyboard", "spacemouse", "gamepad", "scripted")


def make_teleop_device(name: str, *, env=None, seed: int | None = None, path: str | None = None,
                       **kwargs: Any) -> TeleopDevice:
    """Build a backend by name. `env`/`seed` are for `scripted`; `path` is the device file."""
    if name == "keyboard":
        from postbc_ros.drivers.teleop.keyboard import KeyboardTeleop

        return KeyboardTeleop(path, **kwargs)
    if name == "spacemouse":
        from postbc_ros.drivers.teleop.spacemouse import SpaceMouseTeleop

        return SpaceMouseTeleop(path, **kwargs)
    if name == "gamepad":
        from postbc_ros.drivers.teleop.gamepad import GamepadTeleop

        return GamepadTeleop(path, **kwargs)
    if name == "scripted":
        if env is None:
            raise ValueError("the scripted teleop device needs the env it operates (env=...)")
        from postbc_ros.drivers.teleop.scripted import ScriptedTeleop

        return ScriptedTeleop(env, seed, **kwargs)
    raise ValueError(f"unknown teleop device {name!r}; choose one of {BACKENDS}")


__all__ = ["ACTION_DIM", "BACKENDS", "TeleopCommand", "TeleopDevice", "TeleopError", "make_teleop_device"]
