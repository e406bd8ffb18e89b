"""Which /dev/hidraw node is a SpaceMouse: 3Dconnexion's models by USB (vendor, product) id.

The kernel names every HID device's ids in /sys/class/hidraw/hidrawN/device/uevent
(HID_ID=bus:vendor:product, HID_NAME=...). A node is taken only when its (vendor, product) pair is
in `SPACEMOUSE_MODELS`: Logitech's vendor id alone also matches a Unifying receiver (046d:c52b),
keyboards and mice, which send no SpaceMouse reports.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from postbc_ros.drivers.teleop.fdio import TeleopError

LOGITECH, TDX = 0x046D, 0x256F  # USB vendor ids: Logitech (3Dconnexion's older products), 3Dconnexion
# (vendor, product) -> model, the devices pyspacemouse's device table lists (OpenSCAD's HID table
# adds the receiver / cabled ids of the Wireless models)
SPACEMOUSE_MODELS: dict[tuple[int, int], str] = {
    (LOGITECH, 0xC625): "SpacePilot",
    (LOGITECH, 0xC626): "SpaceNavigator",
    (LOGITECH, 0xC627): "SpaceExplorer",
    (LOGITECH, 0xC629): "SpacePilot Pro",
    (LOGITECH, 0xC62B): "SpaceMouse Pro",
    (TDX, 0xC62E): "SpaceMouse Wireless (cabled)",
    (TDX, 0xC62F): "SpaceMouse Wireless (receiver)",
    (TDX, 0xC631): "SpaceMouse Pro Wireless (cabled)",
    (TDX, 0xC632): "SpaceMouse Pro Wireless (receiver)",
    (TDX, 0xC633): "SpaceMouse Enterprise",
    (TDX, 0xC635): "SpaceMouse Compact",
    (TDX, 0xC638): "SpaceMouse Pro Wireless (Bluetooth)",
    (TDX, 0xC63A): "SpaceMouse Wireless (2nd generation)",
    (TDX, 0xC641): "SpaceMouse (USB, no buttons)",
    (TDX, 0xC652): "3Dconnexion Universal Receiver",
}
UDEV_FIX = ('give your user access with a udev rule, e.g. /etc/udev/rules.d/99-spacemouse.rules: '
            'KERNEL=="hidraw*", ATTRS{idVendor}=="256f", MODE="0666" (and a line with "046d" and your '
            'model\'s ATTRS{idProduct} for the older ones), then '
            '`sudo udevadm control --reload && sudo udevadm trigger`')


def hidraw_devices(sys_class: str = "/sys/class/hidraw") -> list[tuple[str, int, int, str]]:
    """(hidrawN, vendor, product, HID_NAME) of every hidraw node, from its device's uevent HID_ID."""
    found = []
    for uevent in sorted(glob.glob(os.path.join(sys_class, "hidraw*", "device", "uevent"))):
        info = dict(line.split("=", 1) for line in Path(uevent).read_text().splitlines() if "=" in line)
        try:
            _bus, vendor, product = info["HID_ID"].split(":")
            ids = int(vendor, 16), int(product, 16)
        except (KeyError, ValueError):
            continue  # not a HID device we can identify
        found.append((Path(uevent).parent.parent.name, *ids, info.get("HID_NAME", "?")))
    return found


def find_spacemouse(sys_class: str = "/sys/class/hidraw", dev_dir: str = "/dev") -> str:
    """The device file (dev_dir/hidrawN) of the first SpaceMouse model of `SPACEMOUSE_MODELS`."""
    seen = hidraw_devices(sys_class)
    for node, vendor, product, _name in seen:
        if (vendor, product) in SPACEMOUSE_MODELS:
            return os.path.join(dev_dir, node)
    listed = "; ".join(f"{node} {v:04x}:{p:04x} {name}" for node, v, p, name in seen) or "none"
    raise TeleopError(
        f"no SpaceMouse found under {sys_class} (hidraw devices seen: {listed}). Plug the SpaceMouse in "
        f"(known models: {', '.join(sorted(set(SPACEMOUSE_MODELS.values())))}); {UDEV_FIX}; or pass "
        "--device-path /dev/hidrawN (teleop_node: device_path) for a model not in the table"
    )
