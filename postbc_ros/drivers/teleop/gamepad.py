"""Gamepad through the Linux joystick API (/dev/input/js*): struct js_event, 8 bytes.

    struct js_event { __u32 time; __s16 value; __u8 type; __u8 number; };  (little-endian)
type 0x01 button, 0x02 axis, OR 0x80 for the synthetic events sent at open (initial state).
Xbox-style layout (xpad): axis 0/1 left stick x/y, 3/4 right stick x/y (up is negative), 2/5 triggers.
Left stick: +x forward, +y left; right stick up/down: +z/-z.
Buttons: A success, B failure, X toggle gripper, Y intervene, Back abort, Start start/stop.

Dead-man (`deadman=True`, the default): the arm moves only while the enable input is held
(`TeleopCommand.enabled`). `deadman_button` picks it: "LB" (default; evdev BTN_TL 0x136, js button
4 under xpad), "RB" (BTN_TR 0x137, button 5), "LT" / "L2" (trigger, evdev ABS_Z,
js axis 2), "RT" / "R2" (ABS_RZ, axis 5), or a js button number. A trigger counts as held beyond
`TRIGGER_HELD` of its travel. The joystick API replays the held buttons and axes at open
(JS_EVENT_INIT), so the state is right from the first read.
"""
from __future__ import annotations

import glob
import os
import struct
from typing import Any

import numpy as np

from postbc_ros.drivers.teleop.base import TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError, open_device, read_available

JS_EVENT = struct.Struct("<IhBB")
JS_EVENT_BUTTON, JS_EVENT_AXIS, JS_EVENT_INIT = 0x01, 0x02, 0x80
AXIS_MAX = 32767.0
BUTTON_EVENTS = {0: "success", 1: "failure", 3: "intervene", 6: "abort"}
BUTTON_GRIPPER, BUTTON_START = 2, 7
# dead-man inputs by name: ("button", js button) or ("axis", js axis); evdev codes in the docstring
DEADMAN_INPUTS = {"LB": ("button", 4), "RB": ("button", 5), "LT": ("axis", 2), "L2": ("axis", 2),
                  "RT": ("axis", 5), "R2": ("axis", 5)}
DEFAULT_DEADMAN = "LB"
TRIGGER_HELD = 0.5  # a trigger axis runs -1 (released) .. +1 (pressed): held beyond 3/4 of its travel
TRIGGER_RELEASED = -1.0  # a trigger's value before any event reports it


def deadman_input(spec: str | int) -> tuple[str, int]:
    """("button" | "axis", number) of a dead-man given by name (LB, RB, LT/L2, RT/R2) or js button number."""
    key = str(spec).strip().upper()
    if key in DEADMAN_INPUTS:
        return DEADMAN_INPUTS[key]
    if key.isdigit():
        n = int(key)
        used = {BUTTON_GRIPPER: "gripper", BUTTON_START: "start/stop", **BUTTON_EVENTS}
        if n in used:
            raise ValueError(f"gamepad dead-man button {n} is the {used[n]} button; "
                             "pick LB, RB, LT, RT or a free button")
        return "button", n
    raise ValueError(f"gamepad dead-man {spec!r}: use one of {', '.join(DEADMAN_INPUTS)} or a js button number")


def find_gamepad() -> str:
    devs = sorted(glob.glob("/dev/input/js*"))
    if not devs:
        raise TeleopError("no joystick under /dev/input/js*; plug the gamepad in or pass --device-path")
    return devs[0]


class GamepadTeleop(TeleopDevice):
    name = "gamepad"

    def __init__(self, path: str | None = None, *, fd: int | None = None, gain: float = 1.0,
                 deadzone: float = 0.1, deadman: bool = True, deadman_button: str | int = "") -> None:
        super().__init__(gain=gain, deadzone=deadzone)
        self.deadman = bool(deadman)
        self.deadman_kind, self.deadman_number = deadman_input(deadman_button or DEFAULT_DEADMAN)
        self._own_fd = fd is None
        if fd is None:
            fd = open_device(path or find_gamepad(), "gamepad", "check ls /dev/input/js*")
        self.fd = fd
        self._buf = b""
        self.axes: dict[int, float] = {}
        self.buttons: dict[int, int] = {}
        self._running = False

    @property
    def enabled(self) -> bool:
        """The dead-man is held (always True without one)."""
        if not self.deadman:
            return True
        if self.deadman_kind == "button":
            return bool(self.buttons.get(self.deadman_number, 0))
        return self.axes.get(self.deadman_number, TRIGGER_RELEASED) > TRIGGER_HELD

    def reset(self) -> None:
        super().reset()
        self._running = False

    def _event(self, value: int, etype: int, number: int) -> None:
        init = bool(etype & JS_EVENT_INIT)
        etype &= ~JS_EVENT_INIT
        if etype == JS_EVENT_AXIS:
            self.axes[number] = value / AXIS_MAX
        elif etype == JS_EVENT_BUTTON:
            was = self.buttons.get(number, 0)
            self.buttons[number] = value
            if init or not value or was:
                return  # initial state, releases and repeats fire nothing
            if number == BUTTON_GRIPPER:
                self.toggle_gripper()
            elif number == BUTTON_START:
                self._events.fire("stop" if self._running else "start")
                self._running = not self._running
            elif number in BUTTON_EVENTS:
                self._events.fire(BUTTON_EVENTS[number])

    def read(self, obs: Any = None) -> TeleopCommand:
        for chunk in read_available(self.fd):
            self._buf += chunk
        n = len(self._buf) // JS_EVENT.size
        for k in range(n):
            _t, value, etype, number = JS_EVENT.unpack_from(self._buf, k * JS_EVENT.size)
            self._event(value, etype, number)
        self._buf = self._buf[n * JS_EVENT.size :]
        ax = self.axes.get
        xyz = np.array([-ax(1, 0.0), -ax(0, 0.0), -ax(4, 0.0)])
        return self._events.pop(self._motion(xyz), self.enabled)

    def close(self) -> None:
        if self._own_fd and self.fd is not None:
            os.close(self.fd)
            self.fd = None
