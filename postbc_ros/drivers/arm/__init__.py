"""Arm backends behind `ArmInterface`, chosen by name with `make_arm(backend, robot, **params)`.

Backends: ``ur_rtde`` (UR over RTDE), ``widowx`` (Dynamixel Protocol 2.0), ``mujoco`` (the
in-process twin), ``fake`` (kinematic integrator). ``ros2_control`` lives in
`postbc_ros.ros.ros2_control_arm` (it needs an rclpy node; arm_node builds it itself).
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from postbc_ros.drivers.arm.base import ArmError, ArmFault, ArmInterface, ArmState, CalibrationError

BACKENDS: dict[str, str] = {
    "ur_rtde": "postbc_ros.drivers.arm.ur_rtde:URRtdeArm",
    "widowx": "postbc_ros.drivers.arm.widowx:WidowXArm",
    "mujoco": "postbc_ros.drivers.arm.mujoco:MujocoArm",
    "fake": "postbc_ros.drivers.arm.fake:FakeArm",
}
# connection parameters arm_node passes to every backend; a backend that has no use for one
# ignores it (a fake arm has no host). Anything else unknown is an error (typos must not pass).
GENERIC_PARAMS = {"host", "port", "baudrate", "control_dt"}


def backend_class(backend: str) -> type[ArmInterface]:
    if backend not in BACKENDS:
        raise ValueError(f"unknown arm backend {backend!r}; choose one of {sorted(BACKENDS)} (or ros2_control in arm_node)")
    mod, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_arm(backend: str, robot: str, **params: Any) -> ArmInterface:
    """Build (not connect) an arm backend. Empty-string/None generic params are dropped so
    ROS parameters left at their defaults fall back to the calibration files."""
    cls = backend_class(backend)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "robot"}
    kwargs = {}
    for k, v in params.items():
        if k in accepted:
            if k in GENERIC_PARAMS and (v is None or v == "" or (k == "baudrate" and v == 0)):
                continue
            kwargs[k] = v
        elif k not in GENERIC_PARAMS:
            raise TypeError(f"arm backend {backend!r} has no parameter {k!r}; it accepts {sorted(accepted)}")
    return cls(robot, **kwargs)


__all__ = ["ArmError", "ArmFault", "ArmInterface", "ArmState", "CalibrationError", "BACKENDS", "make_arm", "backend_class"]
