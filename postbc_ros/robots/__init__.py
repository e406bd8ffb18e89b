"""Arm specs (pure numpy) and THE registry of supported arms (`robots.registry`)."""
from __future__ import annotations

from postbc_ros.robots.registry import (
    DEFAULT_ROBOT, RobotEntry, get_robot, get_twin, register_robot, robot_names, twin_robot_names,
    unregister_robot,
)
from postbc_ros.robots.spec import RobotSpec
from postbc_ros.robots.twin_data import TaskParams, TwinData


def get_robot_spec(name: str) -> RobotSpec:
    """Spec of a registered arm (see `robot_names()`)."""
    return get_robot(name).make_spec()


__all__ = ["DEFAULT_ROBOT", "RobotEntry", "RobotSpec", "TaskParams", "TwinData", "get_robot", "get_robot_spec",
           "get_twin", "register_robot", "robot_names", "twin_robot_names", "unregister_robot"]
