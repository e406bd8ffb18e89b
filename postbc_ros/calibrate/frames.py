"""Where the arm's forward kinematics ends and which named link a wrist camera is mounted on.

`RobotSpec.fk` gives the tool point (the grasp point between the fingers); the camera files name
the wrist link the camera is fixed to (`gripper_link` on the WidowX, `link6` on the UR5e, as the
MuJoCo twins and calibration/<rig>/camera_wrist.yaml do). An eye-in-hand result is solved in the
tool frame and written in the wrist link's frame: camera-in-link = T_link_tool @ camera-in-tool.
A test checks these transforms against the twins' MuJoCo models. Eye-to-hand results are in the
FK base frame, written as `base_link` (the name every rig file uses for it).
"""
from __future__ import annotations

import numpy as np

from postbc_ros.robots import ur5e, widowx

BASE_FRAME = "base_link"
TOOL_FRAME = "tool"  # parent frame name used for a robot without an entry below


def _translation(xyz) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = xyz
    return T


# robot -> (wrist link name, 4x4 pose of the FK tool frame in that link)
WRIST_LINKS: dict[str, tuple[str, np.ndarray]] = {
    widowx.NAME: ("gripper_link", _translation(widowx.TOOL_OFFSET)),  # ee_gripper_link: +x of gripper_link
    ur5e.NAME: ("link6", _translation([0.0, 0.0, ur5e.DH_D[5] + ur5e.TOOL_OFFSET])),  # twin link6 -> flange -> grasp point
}


def wrist_link(robot: str) -> tuple[str, np.ndarray]:
    """(frame name, T_link_tool) for an eye-in-hand result of `robot`."""
    return WRIST_LINKS.get(robot, (TOOL_FRAME, np.eye(4)))


def robot_for_rig(rig: str) -> str | None:
    """The registered robot whose real or twin rig is `rig` (None: no robot uses it)."""
    from postbc_ros.robots.registry import get_robot, robot_names

    for name in robot_names():
        e = get_robot(name)
        if rig in (e.rig, e.twin_rig):
            return e.name
    return None
