"""Keyboard teleop from a terminal in cbreak mode: works over SSH, needs no X server.

Keys (printed by `postbc collect --device keyboard`):
  w / s, Up / Down     +x / -x          a / d, Left / Right  +y / -y
  r / f                +z / -z          space                toggle gripper (c close, o open)
  Enter                start episode    x                    stop (label from the task's success)
  y                    success          n                    failure
  i                    intervene        q, Esc               abort (discard episode, stop collecting)

A terminal reports key presses, not releases: each press moves one control step along its axis
(held keys auto-repeat), so a read returns the presses since the previous read, clipped to [-1, 1].

No dead-man: `enabled` is always True. Every motion is a momentary key press, so when the operator
lets go of the keys the next read (one control period later) has zero motion; a terminal cannot
report a key being held (no release events), so a held enable key cannot be read, and a toggled
one would stay "enabled" after the operator looked away -- weaker than the presses themselves.
"""
from __future__ import annotations

import os
import sys
import termios
import tty
from typing import Any

import numpy as np

from postbc_ros.drivers.teleop.base import GRIPPER_CLOSED, GRIPPER_OPEN, TeleopCommand, TeleopDevice
from postbc_ros.drivers.teleop.fdio import TeleopError, open_device, read_available

KEY_AXES: dict[str, tuple[int, float]] = {
    "w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0),
    "UP": (0, 1.0), "DOWN": (0, -1.0), "LEFT": (1, 1.0), "RIGHT": (1, -1.0),
}
KEY_EVENTS = {"\r": "start", "\n": "start", "x": "stop", "y": "success", "n": "failure", "i": "intervene",
              "q": "abort", "ESC": "abort"}
ARROWS = {"A": "UP", "B": "DOWN", "C": "RIGHT", "D": "LEFT"}


def parse_keys(data: str) -> list[str]:
    """Split terminal input into key names (arrow escape sequences -> UP/DOWN/LEFT/RIGHT, lone ESC)."""
    keys, i = [], 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            if data[i + 1 : i + 2] in ("[", "O") and data[i + 2 : i + 3] in ARROWS:
                keys.append(ARROWS[data[i + 2]])
                i += 3
                continue
            keys.append("ESC")
        else:
            keys.append(ch.lower() if ch.isalpha() else ch)
        i += 1
    return keys


class KeyboardTeleop(TeleopDevice):
    name = "keyboard"

    def __init__(self, path: str | None = None, *, fd: int | None = None, gain: float = 1.0) -> None:
        super().__init__(gain=gain, deadzone=0.0)
        self._own_fd = False
        if fd is None and path is not None:
            fd = open_device(path, "keyboard terminal", "pass the tty of the operator's terminal", write=True)
            self._own_fd = True
        self.fd = sys.stdin.fileno() if fd is None else fd
        if not os.isatty(self.fd):
            raise TeleopError(
                "keyboard teleop needs a terminal: stdin is not a tty. Run `postbc collect --device keyboard` "
                "in an interactive shell (ssh -t for remote), or use --device spacemouse/gamepad"
            )
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)  # no line buffering, no echo; Ctrl-C still interrupts
        self._count = np.zeros(3)

    def read(self, obs: Any = None) -> TeleopCommand:
        self._count[:] = 0.0
        for chunk in read_available(self.fd):
            for key in parse_keys(chunk.decode("utf-8", errors="ignore")):
                if key in KEY_AXES:
                    axis, sign = KEY_AXES[key]
                    self._count[axis] += sign
                elif key == " ":
                    self.toggle_gripper()
                elif key == "c":
                    self.gripper = GRIPPER_CLOSED
                elif key == "o":
                    self.gripper = GRIPPER_OPEN
                elif key in KEY_EVENTS:
                    self._events.fire(KEY_EVENTS[key])
        return self._events.pop(self._motion(self._count))

    def close(self) -> None:
        if self._saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass
            self._saved = None
        if self._own_fd:
            os.close(self.fd)
            self._own_fd = False
