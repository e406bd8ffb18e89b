"""UR arm over RTDE (SDU Robotics' ur_rtde): servoJ streaming, getActualQ/Qd, servoStop.

The real `rtde_control.RTDEControlInterface` / `rtde_receive.RTDEReceiveInterface` are used
unless `control_cls` / `receive_cls` are injected (tests pass fakes with the library's exact
pybind signatures). Only the arm is driven: a UR has no built-in gripper, so `gripper` is
reported as None and gripper commands are ignored unless a gripper is configured (below).

servoJ parameters (ur_rtde docs): `lookahead_time` in [0.03, 0.2] s smooths the trajectory,
`gain` in [100, 2000] is the proportional gain; `time` is the period the command controls the
robot for -- our control period. speed/acceleration are unused by servoJ but must be passed.

Gripper: a UR has none built in. ``gripper="robotiq"`` drives a Robotiq 2F through the
Robotiq URCap's socket on the same host (`postbc_ros.drivers.arm.robotiq`); with the default
``gripper="none"`` the state reports gripper None and gripper commands are ignored.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmInterface, ArmState
from postbc_ros.robots.ur5e import NAME as UR5E


class URRtdeArm(ArmInterface):
    """UR5e (or any 6-joint UR) through ur_rtde."""

    name = "ur_rtde"

    def __init__(
        self,
        robot: str = UR5E,
        host: str = "192.168.1.102",
        frequency: float = 500.0,
        control_dt: float = 0.008,
        lookahead_time: float = 0.1,
        gain: float = 300.0,
        stop_deceleration: float = 2.0,
        rt_priority: int = 0,
        gripper: str = "none",
        gripper_port: int = 63352,
        control_cls: Any = None,
        receive_cls: Any = None,
    ) -> None:
        super().__init__(robot)
        if not host:
            raise ArmError("ur_rtde: `host` (the robot's IP address) is required, e.g. host:=192.168.1.102")
        if not 0.03 <= float(lookahead_time) <= 0.2:
            raise ArmError(f"ur_rtde: lookahead_time must be in [0.03, 0.2] s (ur_rtde servoJ), got {lookahead_time}")
        if not 100 <= float(gain) <= 2000:
            raise ArmError(f"ur_rtde: gain must be in [100, 2000] (ur_rtde servoJ), got {gain}")
        if not float(control_dt) > 0:
            raise ArmError(f"ur_rtde: control_dt must be > 0 s, got {control_dt}")
        self.host = str(host)
        self.frequency = float(frequency)
        self.control_dt = float(control_dt)
        self.lookahead_time = float(lookahead_time)
        self.gain = float(gain)
        self.stop_deceleration = float(stop_deceleration)
        self.rt_priority = int(rt_priority)
        self._control_cls = control_cls
        self._receive_cls = receive_cls
        self._ctrl = None
        self._recv = None
        self._servoing = False
        if gripper not in ("none", "robotiq"):
            raise ArmError(f"ur_rtde: gripper must be 'none' or 'robotiq', got {gripper!r}")
        self._gripper = None
        if gripper == "robotiq":
            from postbc_ros.drivers.arm.robotiq import RobotiqSocketGripper

            self._gripper = RobotiqSocketGripper(self.host, gripper_port)

    def connect(self) -> None:
        ctrl_cls, recv_cls = self._control_cls, self._receive_cls
        if ctrl_cls is None or recv_cls is None:
            try:
                import rtde_control
                import rtde_receive
            except ImportError as e:  # pragma: no cover - ur_rtde is a declared dependency
                raise ArmError(f"ur_rtde backend needs the ur-rtde package (pip install ur-rtde): {e}") from e
            ctrl_cls = ctrl_cls or rtde_control.RTDEControlInterface
            recv_cls = recv_cls or rtde_receive.RTDEReceiveInterface
        try:
            self._recv = recv_cls(self.host, self.frequency)
            self._ctrl = ctrl_cls(self.host, self.frequency)
        except RuntimeError as e:
            self._ctrl = self._recv = None
            raise ArmError(f"ur_rtde: cannot connect to the UR controller at {self.host}: {e}. Check the IP, that the robot is "
                           "powered on in remote control mode, and that the External Control / RTDE ports are reachable.") from e
        q = self._recv.getActualQ()
        if len(q) != len(self.joint_names):
            raise ArmError(f"ur_rtde: controller reports {len(q)} joints, expected {len(self.joint_names)}")
        self._servoing = False
        if self._gripper is not None:
            try:
                self._gripper.connect()
            except ArmError:
                self.disconnect()  # leave nothing half-connected
                raise

    def disconnect(self) -> None:
        if self._ctrl is not None:
            try:
                if self._servoing:
                    self._ctrl.servoStop(self.stop_deceleration)
                self._ctrl.stopScript()
                self._ctrl.disconnect()
            finally:
                self._ctrl = None
        if self._recv is not None:
            self._recv.disconnect()
            self._recv = None
        if self._gripper is not None:
            self._gripper.close()
        self._servoing = False

    def is_connected(self) -> bool:
        return self._ctrl is not None and self._recv is not None and bool(self._ctrl.isConnected()) and bool(self._recv.isConnected())

    def read_state(self) -> ArmState:
        self._require_connected()
        q = np.asarray(self._recv.getActualQ(), dtype=float)
        dq = np.asarray(self._recv.getActualQd(), dtype=float)
        g = self._gripper.position() if self._gripper is not None else None
        return ArmState(q=q, dq=dq, gripper=g, stamp=time.monotonic())

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        ok = self._ctrl.servoJ([float(x) for x in q], 0.0, 0.0, self.control_dt, self.lookahead_time, self.gain)
        if not ok:
            self._servoing = False
            raise ArmError("ur_rtde: servoJ was rejected by the controller (protective stop, emergency stop or the "
                           "program was stopped on the teach pendant); clear it on the pendant and reconnect")
        self._servoing = True
        if gripper is not None and self._gripper is not None:
            self._gripper.command(gripper)

    def hold(self) -> None:
        """Leave servo mode decelerating at `stop_deceleration` (the arm then holds still)."""
        self._require_connected()
        if self._servoing:
            self._ctrl.servoStop(self.stop_deceleration)
            self._servoing = False
