"""Arm device interface: one API for the UR (ur_rtde), the WidowX (Dynamixel), the MuJoCo twin
and a kinematic fake, so arm_node and tests never care which arm is behind it.

Commands reaching an `ArmInterface` are assumed to be already safety-filtered
(`postbc_ros.core.safety.filter_command`); the backends still refuse malformed input
(wrong length, NaN) with `ArmError`, because a driver must never forward garbage to hardware.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ArmError(RuntimeError):
    """Hardware/communication problem or invalid request; the message says what to do."""


class ArmFault(ArmError):
    """The arm stopped accepting motion (protective/emergency stop, lost link, rejected command):
    streaming is halted until an operator clears the cause and confirms. `kind` names the fault
    (e.g. "protective_stop"), `action` says what the operator must do; str() holds both."""

    def __init__(self, kind: str, detail: str, action: str) -> None:
        self.kind, self.detail, self.action = kind, detail, action
        super().__init__(f"{kind.replace('_', ' ')}: {detail}. {action}")


class CalibrationError(ArmError, ValueError):
    """A calibration file is missing or malformed; the message names the path/field and the fix."""


@dataclass(frozen=True)
class ArmState:
    """Measured arm state. q/dq: arm joints in `joint_names` order [rad, rad/s]; gripper:
    normalised closure (0 open .. 1 closed, None without a gripper); stamp: when it was
    measured (time.monotonic seconds unless the backend documents another clock)."""

    q: np.ndarray
    dq: np.ndarray | None
    gripper: float | None
    stamp: float


class ArmInterface(abc.ABC):
    """Common arm API. Lifecycle: connect() -> read_state()/command()/hold() -> disconnect().
    Usable as a context manager. No home(): a move home goes through the safety filter like any
    other command (arm_node's arm/home service, core.arm_controller)."""

    name: str = "arm"

    def __init__(self, robot: str) -> None:
        from postbc_ros.robots import get_robot_spec

        self.spec = get_robot_spec(robot)
        self.robot = self.spec.name
        self.joint_names: list[str] = list(self.spec.joint_names)

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection and make the arm ready to accept commands (torque on...)."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop streaming and close the connection (idempotent)."""

    @abc.abstractmethod
    def is_connected(self) -> bool:
        """True while commands can be sent."""

    # -- I/O ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_state(self) -> ArmState:
        """Measured joint positions/velocities and gripper."""

    @abc.abstractmethod
    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        """Backend-specific: send a validated joint position setpoint."""

    @abc.abstractmethod
    def hold(self) -> None:
        """Stop and hold the current position (used on stale commands, estop, safety holds)."""

    def command(self, q, gripper: float | None = None) -> None:
        """Send a joint position setpoint (arm joints, normalised gripper 0..1 or None)."""
        self._require_connected()
        q_arr = np.asarray(q, dtype=float).reshape(-1)
        if q_arr.shape != (len(self.joint_names),):
            raise ArmError(f"{self.name}: command needs {len(self.joint_names)} joint positions {self.joint_names}, got shape {q_arr.shape}")
        if not np.all(np.isfinite(q_arr)):
            raise ArmError(f"{self.name}: refusing non-finite joint command {q_arr.tolist()}")
        g = None
        if gripper is not None:
            g = float(gripper)
            if not math.isfinite(g):
                raise ArmError(f"{self.name}: refusing non-finite gripper command {gripper!r}")
            g = min(max(g, 0.0), 1.0)
        self._command(q_arr, g)

    # arm_node calls send(q, gripper)
    send = command

    # -- hardware faults ---------------------------------------------------------------------
    @property
    def fault(self) -> ArmError | None:
        """A latched hardware fault (the arm stopped accepting motion until an operator clears
        it), or None. arm_node latches on it at once (core.arm_loop)."""
        return None

    def recover(self, confirmed: bool = False) -> str:
        """Clear the latched fault after the operator confirmed (arm_node: `postbc arm reset`);
        refused (ArmError) without confirmation. A backend without hardware faults has nothing to do."""
        return "no hardware fault to clear"

    # -- moving by hand ----------------------------------------------------------------------
    #: free_drive is supported (`postbc calibrate hand-eye-capture` releases the arm between samples)
    can_free_drive: bool = False
    #: what the operator must know before free drive (said when asking for the confirmation)
    free_drive_hazard: str = ""

    def free_drive(self, on: bool, confirmed: bool = False) -> str:
        """`on`: release the arm so that a person can move it by hand (commands are refused
        meanwhile; needs `confirmed`: the operator supports the arm); off: hold it where it is now
        and accept commands again. Returns what was done; ArmError where not supported."""
        raise ArmError(f"{self.name}: this backend cannot release the arm to be moved by hand (free drive)")

    def _require_connected(self) -> None:
        if not self.is_connected():
            raise ArmError(f"{self.name}: not connected; call connect() first")

    def __enter__(self) -> "ArmInterface":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()


def require_calibration_file(path: Path, what: str, how: str) -> Path:
    """`path` if it exists, else a `CalibrationError` naming it and how to create it."""
    if not path.is_file():
        raise CalibrationError(f"{path}: {what} not found. {how}")
    return path
