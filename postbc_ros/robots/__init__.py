"""Arm specs (pure numpy) and THE registry of supported arms (`robots.registry`)."""
from __future__ import annotations

from postbc_ros.robots.spec import RobotSpec


def get_robot_spec(name: str) -> RobotSpec:
    """Spec of a registered arm (see `postbc_ros.robots.registry.robot_names()`)."""
    from postbc_ros.robots.registry import get_robot

    return get_robot(name).make_spec()


def robot_names() -> tuple[str, ...]:
    from postbc_ros.robots.registry import robot_names as names

    return names()


__all__ = ["RobotSpec", "get_robot_spec", "robot_names"]
