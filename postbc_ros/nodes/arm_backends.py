"""Backend selection for arm_node: our ros2_control backend or the drivers' `make_arm`.

Every backend seen by arm_node has the drivers' ArmInterface surface: connect(), disconnect(),
read_state() -> ArmState(q, dq, gripper, stamp); send(q, gripper); hold().
"""
from __future__ import annotations

from typing import Any


def make_backend(kind: str, node, spec, params: dict[str, Any], period: float):
    if kind == "ros2_control":
        from postbc_ros.ros.ros2_control_arm import Ros2ControlArm

        return Ros2ControlArm(node, list(spec.joint_names), state_topic=params["state_topic"],
                              command_topic=params["command_topic"], gripper_joint=params["gripper_joint"],
                              setpoint_time=period)
    try:
        from postbc_ros.drivers.arm import make_arm
    except ImportError as e:
        raise RuntimeError(f"arm backend {kind!r} needs postbc_ros.drivers.arm.make_arm ({e})") from e
    # empty host/port/baudrate fall back to calibration/<robot>/ files (drivers' make_arm)
    return make_arm(kind, spec.name, host=params["host"], port=params["port"],
                    baudrate=int(params["baudrate"]), control_dt=period)
