"""3Dconnexion SpaceMouse through Linux hidraw (/dev/hidraw*): no driver, no spacenavd.

HID input reports (report id first, little-endian int16 values, about +-350 full scale):
  id 1: translation x, y, z (6 bytes); SpaceMouse Wireless/Compact/Pro send 12 bytes: x y z rx ry rz
  id 2: rotation rx, ry, rz (6 bytes)
  id 3: button bitmask (bit 0 left, bit 1 right)
Device axes: x right, y towards the user, z down. Mapped to the robot base frame: push forward
-> +x, push left -> +y, lift -> +z. Left button toggles the gripper, right button starts / stops
an episode, both together abort.
"""
from __future__ import annotations

import glob
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from postbc_ros.drivers.teleop.base import TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError, is_char_device, open_device, read_available

VENDOR_IDS = {0x046D, 0x256F}  # Logitech (older 3Dconnexion devices), 3Dconnexion
FULL_SCALE = 350.0
DEFAULT_REPORT_SIZES = {1: 6, 2: 6, 3: 2}  # payload bytes per report id, for byte streams


def find_spacemouse(sys_class: str = "/sys/class/hidraw") -> str:
    """The /dev/hidrawN of the first 3Dconnexion device (from its HID_ID in sysfs)."""
    for uevent in sorted(glob.glob(os.path.join(sys_class, "hidraw*", "device", "uevent"))):
        text = Path(uevent).read_text()
        for line in text.splitlines():
            if line.startswith("HID_ID="):
                _bus, vendor, _product = line.split("=", 1)[1].split(":")
                if int(vendor, 16) in VENDOR_IDS:
                    return "/dev/" + Path(uevent).parent.parent.name
    raise TeleopError(
        "no SpaceMouse found under /sys/class/hidraw (3Dconnexion vendor 046d/256f); plug it in or pass "
        "--device-path /dev/hidrawN"
    )


class SpaceMouseTeleop(TeleopDevice):
    name = "spacemouse"

    def __init__(
        self,
        path: str | None = None,
        *,
        fd: int | None = None,
        datagram: bool | None = None,
        gain: float = 1.0,
        deadzone: float = 0.1,
        report_sizes: dict[int, int] | None = None,
    ) -> None:
        super().__init__(gain=gain, deadzone=deadzone)
        self._own_fd = fd is None
        if fd is None:
            path = path or find_spacemouse()
            fd = open_device(path, "SpaceMouse", "check /dev/hidraw* (ls /sys/class/hidraw/*/device/uevent)")
        self.fd = fd
        # hidraw char devices (and SEQPACKET sockets) return one report per read(); FIFOs are streams
        self.datagram = is_char_device(fd) if datagram is None else datagram
        self.report_sizes = dict(report_sizes or DEFAULT_REPORT_SIZES)
        self._buf = b""
        self.translation = np.zeros(3)
        self.rotation = np.zeros(3)
        self.buttons = 0
        self._running = False

    def reset(self) -> None:
        super().reset()
        self._running = False

    def _report(self, rid: int, payload: bytes) -> None:
        if rid in (1, 2) and len(payload) >= 6:
            vals = np.array(struct.unpack("<3h", payload[:6]), dtype=np.float64)
            if rid == 1:
                self.translation = vals
                if len(payload) >= 12:
                    self.rotation = np.array(struct.unpack("<3h", payload[6:12]), dtype=np.float64)
            else:
                self.rotation = vals
        elif rid == 3 and payload:
            buttons = int.from_bytes(payload, "little")
            pressed = buttons & ~self.buttons
            if (buttons & 0b11) == 0b11 and pressed & 0b11:
                self._events.fire("abort")
            elif pressed & 0b01:
                self.toggle_gripper()
            elif pressed & 0b10:
                self._events.fire("stop" if self._running else "start")
                self._running = not self._running
            self.buttons = buttons

    def _parse_stream(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            rid = self._buf[0]
            size = self.report_sizes.get(rid)
            if size is None:
                raise TeleopError(
                    f"SpaceMouse stream: unknown report id {rid}; pass report_sizes for this device model"
                )
            if len(self._buf) < 1 + size:
                return  # wait for the rest of the report
            self._report(rid, self._buf[1 : 1 + size])
            self._buf = self._buf[1 + size :]

    def read(self, obs: Any = None) -> TeleopCommand:
        for chunk in read_available(self.fd):
            if self.datagram:
                if chunk:
                    self._report(chunk[0], chunk[1:])
            else:
                self._parse_stream(chunk)
        tx, ty, tz = self.translation / FULL_SCALE
        return self._events.pop(self._motion(np.array([-ty, -tx, -tz])))

    def close(self) -> None:
        if self._own_fd and self.fd is not None:
            os.close(self.fd)
            self.fd = None
