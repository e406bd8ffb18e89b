"""Teleoperation devices behind one interface (`TeleopDevice.read(obs) -> TeleopCommand`).

Backends by name: keyboard (terminal), spacemouse (hidraw), gamepad (joystick API),
scripted (the sim's scripted operator). Motion maps to the ee_delta action space.
The SpaceMouse and the gamepad have a dead-man / enable button (on by default; the reading's
`enabled`); the keyboard and the scripted operator are always enabled (see their modules).
"""
from __future__ import annotations

from typing import Any

from postbc_ros.drivers.teleop.base import ACTION_DIM, TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError

BACKENDS = ("keyboard", "spacemouse", "gamepad", "scripted")


DEADMAN_BACKENDS = ("spacemouse", "gamepad")  # the backends with a dead-man / enable button


def make_teleop_device(name: str, *, env=None, seed: int | None = None, path: str | None = None,
                       deadman: bool = True, deadman_button: str = "", **kwargs: Any) -> TeleopDevice:
    """Build a backend by name. `env`/`seed` are for `scripted`; `path` is the device file.
    deadman / deadman_button: the SpaceMouse's and the gamepad's enable button (held = the arm may
    move; '' = the device's default: SpaceMouse left button, gamepad LB); other backends have none."""
    if name == "keyboard":
        from postbc_ros.drivers.teleop.keyboard import KeyboardTeleop

        return KeyboardTeleop(path, **kwargs)
    if name == "spacemouse":
        from postbc_ros.drivers.teleop.spacemouse import SpaceMouseTeleop

        return SpaceMouseTeleop(path, deadman=deadman, deadman_button=deadman_button, **kwargs)
    if name == "gamepad":
        from postbc_ros.drivers.teleop.gamepad import GamepadTeleop

        return GamepadTeleop(path, deadman=deadman, deadman_button=deadman_button, **kwargs)
    if name == "scripted":
        if env is None:
            raise ValueError("the scripted teleop device needs the env it operates (env=...)")
        from postbc_ros.drivers.teleop.scripted import ScriptedTeleop

        return ScriptedTeleop(env, seed, **kwargs)
    raise ValueError(f"unknown teleop device {name!r}; choose one of {BACKENDS}")


__all__ = ["ACTION_DIM", "BACKENDS", "DEADMAN_BACKENDS", "TeleopCommand", "TeleopDevice", "TeleopError",
           "make_teleop_device"]
