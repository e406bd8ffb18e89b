"""Doctor check of the teleoperation devices: a SpaceMouse (hidraw) and a gamepad (joystick API),
found with the teleop drivers' own finders, and whether this user can open them.

One check: teleop needs one of the two; both are listed when present.
"""
from __future__ import annotations

import os

from postbc_ros.doctor.check import Check, failed, passed
from postbc_ros.drivers.teleop.fdio import TeleopError

UDEV_FIX = ('a udev rule giving your user access, e.g. /etc/udev/rules.d/99-spacemouse.rules: KERNEL=="hidraw*", '
            'ATTRS{idVendor}=="256f", MODE="0666" (3Dconnexion; 046d for older models); gamepads: be in group input')


def _find(finder) -> tuple[str | None, str]:
    try:
        return finder(), ""
    except (TeleopError, OSError) as e:
        return None, str(e)


def check_teleop(name: str = "teleop", find_spacemouse=None, find_gamepad=None) -> list[Check]:
    """The finders default to the drivers' `find_spacemouse` / `find_gamepad`."""
    if find_spacemouse is None:
        from postbc_ros.drivers.teleop.spacemouse import find_spacemouse
    if find_gamepad is None:
        from postbc_ros.drivers.teleop.gamepad import find_gamepad
    found = {"SpaceMouse": _find(find_spacemouse), "gamepad": _find(find_gamepad)}
    present = {k: path for k, (path, _why) in found.items() if path}
    if not present:
        return [failed(name, "no SpaceMouse (/dev/hidraw*, 3Dconnexion) and no gamepad (/dev/input/js*)",
                       "plug in a SpaceMouse or a gamepad for teleoperation and interventions (not needed for "
                       "autonomous runs)")]
    locked = [f"{k} {p}" for k, p in present.items() if not os.access(p, os.R_OK)]
    listing = ", ".join(f"{k} at {p}" for k, p in present.items())
    if locked:
        return [failed(name, f"found {listing}, but {', '.join(locked)} cannot be read by this user", UDEV_FIX)]
    return [passed(name, f"found {listing}")]
