"""Arm specs (pure numpy): joint names, limits and forward kinematics of the supported arms."""
from __future__ import annotations

from postbc_ros.robots.spec import RobotSpec

ROBOT_NAMES = ("widowx", "ur5e")


def get_robot_spec(name: str) -> RobotSpec:
    """Spec of arm `name` ("widowx" = Interbotix WidowX 250 6-DOF, or "ur5e")."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key in ("widowx", "wx250s", "widowx250", "widowx2506dof"):
        from postbc_ros.robots import widowx

        return widowx.make_spec()
    if key == "ur5e":
        from postbc_ros.robots import ur5e

        return ur5e.make_spec()
    raise ValueError(f"unknown robot {name!r}; choose one of {list(ROBOT_NAMES)}")


__all__ = ["RobotSpec", "get_robot_spec", "ROBOT_NAMES"]
