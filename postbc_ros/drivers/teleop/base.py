"""TeleopDevice interface: what every teleoperation backend returns each control step.

A device is read once per control step with the current observation (only the scripted operator
looks at it). Motion is an `ee_delta` action [dx, dy, dz, gripper] in [-1, 1] (gripper -1 open,
+1 closed), the env's action space for teleoperation. Buttons are edge-triggered events: a flag
is True in exactly one `read()` per press.

`enabled` is the dead-man / enable state, a level (not an event): True while the operator holds
the device's enable button (SpaceMouse, gamepad with `deadman=True`), always True for devices
without one (keyboard: every motion is a momentary key press; scripted: no human). The device
reports it with every read; the teleop session (core.teleop_session) lets the arm move only
while it is True and holds it otherwise.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

ACTION_DIM = 4  # ee_delta: dx, dy, dz, gripper
GRIPPER_OPEN, GRIPPER_CLOSED = -1.0, 1.0


@dataclass
class TeleopCommand:
    """One read of a teleop device.

    action: ee_delta action, or None when the device produced no motion command this step.
    start/stop: begin/end an episode; success/failure: end it with that label; abort: discard
    the episode in flight and stop collecting; intervene: the human takes over (during policy
    rollouts; recorded per frame). enabled: the dead-man / enable button is held (or the device
    has none) -- a state, not an event.
    """

    action: np.ndarray | None = None
    start: bool = False
    stop: bool = False
    success: bool = False
    failure: bool = False
    abort: bool = False
    intervene: bool = False
    enabled: bool = True

    def events(self) -> list[str]:
        """The button events of this read (the action and the enable state are not events)."""
        return [f.name for f in fields(self) if f.name not in _NOT_EVENTS and getattr(self, f.name)]


_NOT_EVENTS = ("action", "enabled")


@dataclass
class _Events:
    """Accumulates button events between two reads."""

    flags: dict[str, bool] = field(default_factory=dict)

    def fire(self, name: str) -> None:
        self.flags[name] = True

    def pop(self, action: np.ndarray | None, enabled: bool = True) -> TeleopCommand:
        cmd = TeleopCommand(action=action, enabled=bool(enabled), **self.flags)
        self.flags = {}
        return cmd


class TeleopDevice(abc.ABC):
    """Base class of teleop backends.

    requires_start: the recorder waits for a `start` event before an episode (humans get ready);
    realtime: the recorder paces steps at the env's control rate (humans need wall-clock time).
    """

    name = "teleop"
    requires_start = True
    realtime = True

    def __init__(self, gain: float = 1.0, deadzone: float = 0.05) -> None:
        self.gain = float(gain)
        self.deadzone = float(deadzone)
        self.gripper = GRIPPER_OPEN
        self._events = _Events()

    def reset(self) -> None:
        """Called at the start of every episode (the gripper command goes back to open)."""
        self.gripper = GRIPPER_OPEN

    @abc.abstractmethod
    def read(self, obs: Any = None) -> TeleopCommand:
        """Drain pending input and return the command for this control step (non-blocking)."""

    def close(self) -> None:
        """Release the device (restore terminal modes, close file descriptors)."""

    def toggle_gripper(self) -> None:
        self.gripper = GRIPPER_CLOSED if self.gripper < 0 else GRIPPER_OPEN

    def _motion(self, xyz: np.ndarray) -> np.ndarray:
        """Scale, dead-zone and clip a translation in [-1, 1] and append the gripper command."""
        v = np.asarray(xyz, dtype=np.float64) * self.gain
        v = np.where(np.abs(v) < self.deadzone, 0.0, v)
        return np.concatenate([np.clip(v, -1.0, 1.0), [self.gripper]]).astype(np.float32)

    def __enter__(self) -> "TeleopDevice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
