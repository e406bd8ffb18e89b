"""3Dconnexion SpaceMouse through Linux hidraw (/dev/hidraw*): no driver, no spacenavd.

HID input reports (report id first, little-endian int16 values, about +-350 full scale):
  id 1: translation x, y, z (6 bytes); SpaceMouse Wireless/Compact/Pro send 12 bytes: x y z rx ry rz
  id 2: rotation rx, ry, rz (6 bytes)
  id 3: button bitmask (bit 0 left, bit 1 right on the two-button models; the Pro, Enterprise and
        SpacePilot spread more buttons over more bytes: bit = 8 * (byte - 1) + bit-in-byte, bytes
        counted from the report id at 0 as pyspacemouse's device table counts them)
Device axes: x right, y towards the user, z down. Mapped to the robot base frame: push forward
-> +x, push left -> +y, lift -> +z.

The finder (spacemouse_models) picks a hidraw node only by its (vendor, product) pair: Logitech's
vendor id alone also matches a Unifying receiver (046d:c52b).

Buttons. With the dead-man (`deadman=True`, the default) one button is the enable button
(`deadman_button`: "left" by default, "right", or a bit number of report 3): the arm moves only
while it is held (`TeleopCommand.enabled`). When the dead-man is the left or right button, the
other one (F) does the rest:
  F clicked while the dead-man is held     toggle the gripper
  F clicked alone (pressed and released)   start / stop an episode
  F held, then the dead-man pressed        abort (as are both pressed in one report)
Without the dead-man, or with it on another bit (Pro, Enterprise): left click toggles the gripper,
right click starts / stops an episode, both together abort.
"""
from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np

from postbc_ros.drivers.teleop.base import TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError, is_char_device, open_device, read_available
from postbc_ros.drivers.teleop.spacemouse_models import SPACEMOUSE_MODELS, find_spacemouse, hidraw_devices

__all__ = ["SPACEMOUSE_MODELS", "SpaceMouseTeleop", "button_bit", "find_spacemouse", "hidraw_devices"]

FULL_SCALE = 350.0
DEFAULT_REPORT_SIZES = {1: 6, 2: 6, 3: 2}  # payload bytes per report id, for byte streams
BUTTON_BITS = {"left": 0, "right": 1}  # report 3 bits of the two-button models (Compact, Navigator, Wireless)
MAX_BUTTON_BIT = 31  # the largest button report (Enterprise) uses bits 0..26


def button_bit(spec: str | int) -> int:
    """The report-3 bit of a button given as "left", "right" or a bit number."""
    bit = BUTTON_BITS.get(str(spec).strip().lower())
    if bit is None and str(spec).strip().isdigit():
        bit = int(str(spec).strip())
    if bit is None or not 0 <= bit <= MAX_BUTTON_BIT:
        raise ValueError(f"SpaceMouse dead-man button {spec!r}: use left, right or a button bit 0..{MAX_BUTTON_BIT} "
                         "(8 * (byte - 1) + bit of report 3; pyspacemouse's device table lists each model's buttons)")
    return bit


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
        deadman: bool = True,
        deadman_button: str | int = "",
    ) -> None:
        super().__init__(gain=gain, deadzone=deadzone)
        self.deadman = bool(deadman)
        self.deadman_bit = button_bit(deadman_button or "left")  # checked before the device is opened
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
        self._alone = False  # F is down without the dead-man: start/stop on its release, abort if the dead-man follows

    @property
    def enabled(self) -> bool:
        """The dead-man is held (always True without one)."""
        return not self.deadman or bool(self.buttons >> self.deadman_bit & 1)

    def reset(self) -> None:
        super().reset()
        self._running = False

    def _start_stop(self) -> None:
        self._events.fire("stop" if self._running else "start")
        self._running = not self._running

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
            pressed, released = buttons & ~self.buttons, self.buttons & ~buttons
            self.buttons = buttons
            if self.deadman and self.deadman_bit in BUTTON_BITS.values():
                self._chord(pressed, released, buttons)
            else:
                self._plain(pressed, buttons)

    def _plain(self, pressed: int, buttons: int) -> None:
        """Left click: gripper; right click: start / stop; both: abort."""
        if (buttons & 0b11) == 0b11 and pressed & 0b11:
            self._events.fire("abort")
        elif pressed & 0b01:
            self.toggle_gripper()
        elif pressed & 0b10:
            self._start_stop()

    def _chord(self, pressed: int, released: int, buttons: int) -> None:
        """The dead-man D is the left or right button; the other one, F, is read with it (module docstring)."""
        d, f = 1 << self.deadman_bit, 1 << (1 - self.deadman_bit)
        if pressed & f and pressed & d:
            self._events.fire("abort")
        elif pressed & f:
            if buttons & d:
                self.toggle_gripper()
            else:
                self._alone = True
        elif pressed & d and self._alone:
            self._alone = False
            self._events.fire("abort")
        if released & f and self._alone:
            self._alone = False
            self._start_stop()

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
        return self._events.pop(self._motion(np.array([-ty, -tx, -tz])), self.enabled)

    def close(self) -> None:
        if self._own_fd and self.fd is not None:
            os.close(self.fd)
            self.fd = None
