"""Backend selection for arm_node: our ros2_control backend or the drivers' `make_arm`.

Every backend seen by arm_node has the drivers' ArmInterface surface: connect(), disconnect(),
read_state() -> ArmState(q, dq, gripper, stamp); send(q, gripper); hold().
"""
from __future__ import annotations

from postbc_ros.drivers.arm import BACKENDS, make_arm
from postbc_ros.ros.ros2_control_arm import Ros2ControlArm

ROS2_CONTROL = "ros2_control"  # built here (it needs the node), not by the drivers
BACKEND_NAMES = (*BACKENDS, ROS2_CONTROL)  # every value of arm_node's `backend` parameter


def make_backend(kind: str, node, spec, cfg, period: float):
    """Build (not connect) backend `kind` for arm `spec`; `cfg` is arm_node's ArmConfig."""
    if kind == ROS2_CONTROL:
        return Ros2ControlArm(node, list(spec.joint_names), state_topic=cfg.state_topic,
                              command_topic=cfg.command_topic, gripper_joint=cfg.gripper_joint,
                              setpoint_time=period)
    # empty host/port/baudrate fall back to calibration/<robot>/ files (drivers' make_arm)
    return make_arm(kind, spec.name, host=cfg.host, port=cfg.port, baudrate=int(cfg.baudrate), control_dt=period)
