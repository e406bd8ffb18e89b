"""Trossen Robotics / Interbotix WidowX 250 6-DOF (wx250s): link dimensions and joint limits.

Source: Interbotix/interbotix_ros_manipulators,
interbotix_ros_xsarms/interbotix_xsarm_descriptions/urdf/wx250s.urdf.xacro (joint origins,
axes, limits). All joints have a velocity limit of pi rad/s there.

Kinematic chain (joint origin offsets relative to the parent link, all rpy = 0):
  base_link -> waist        xyz (0, 0, 0.072)       axis z   limits [-pi, pi]
  shoulder_link -> shoulder xyz (0, 0, 0.03865)     axis y   limits [-108 deg, 114 deg]
  upper_arm -> elbow        xyz (0.04975, 0, 0.25)  axis y   limits [-123 deg, 92 deg]
  upper_forearm -> forearm_roll xyz (0.175, 0, 0)   axis x   limits [-pi, pi]
  lower_forearm -> wrist_angle  xyz (0.075, 0, 0)   axis y   limits [-100 deg, 123 deg]
  wrist_link -> wrist_rotate    xyz (0.065, 0, 0)   axis x   limits [-pi, pi]
  gripper_link -> ee_arm 0.043, gripper_bar 0, fingers_link 0.023, ee_gripper 0.027575 (all +x)
(The xacro uses pi - 1e-5 for the +-pi limits; we use exactly +-pi.)

Tool frame = Interbotix's `ee_gripper_link`: 0.093575 m along +x of the gripper_link, the point
between the finger pads that Interbotix's own IK targets. Its x axis is the approach direction
(pointing out of the gripper), y the finger-opening axis.

Acceleration: not published; 4.0 rad/s^2 is a conservative value for the XM430/XM540 servos.
Fingers: left_finger prismatic 0.015 (closed) .. 0.037 m (open), right mirrored.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.robots.registry import RobotEntry
from postbc_ros.robots.spec import RobotSpec, homogeneous, rot_x, rot_y, rot_z
from postbc_ros.robots.twin_data import ObstacleParams, TaskParams, TwinData

NAME = "widowx"
JOINT_NAMES = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"]
# (offset from parent joint, axis) for each joint, from wx250s.urdf.xacro
JOINT_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.072],
        [0.0, 0.0, 0.03865],
        [0.04975, 0.0, 0.25],
        [0.175, 0.0, 0.0],
        [0.075, 0.0, 0.0],
        [0.065, 0.0, 0.0],
    ]
)
JOINT_AXES = ["z", "y", "y", "x", "y", "x"]
TOOL_OFFSET = np.array([0.043 + 0.023 + 0.027575, 0.0, 0.0])  # gripper_link -> ee_gripper_link
FINGER_RANGE = (0.015, 0.037)  # left_finger prismatic limits [m]: closed, open

LOWER = np.deg2rad([-180.0, -108.0, -123.0, -180.0, -100.0, -180.0])
UPPER = np.deg2rad([180.0, 114.0, 92.0, 180.0, 123.0, 180.0])
VELOCITY = np.full(6, np.pi)
ACCEL = np.full(6, 4.0)
# gripper pointing straight down, ~0.30 m in front of the base, ~0.16 m above it
HOME = np.array([0.0, -0.2, 0.55, 0.0, 1.22, 0.0])

_ROT = {"x": rot_x, "y": rot_y, "z": rot_z}


def fk(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grasp-point pose (pos, rotmat) in the base frame: product of the URDF link transforms."""
    t = np.eye(4)
    for i in range(6):
        t = t @ homogeneous(_ROT[JOINT_AXES[i]](q[i]), JOINT_OFFSETS[i])
    t = t @ homogeneous(np.eye(3), TOOL_OFFSET)
    return t[:3, 3].copy(), t[:3, :3].copy()


def make_spec() -> RobotSpec:
    """The WidowX 250 6-DOF spec (see module docstring for the source)."""
    return RobotSpec(
        name=NAME,
        joint_names=list(JOINT_NAMES),
        lower=LOWER.copy(),
        upper=UPPER.copy(),
        velocity_limits=VELOCITY.copy(),
        accel_limits=ACCEL.copy(),
        home=HOME.copy(),
        gripper_range=(0.0, 1.0),
        _fk=fk,
        source="Interbotix interbotix_xsarm_descriptions/urdf/wx250s.urdf.xacro",
    )


# Twin tasks scaled to the arm's ~0.45 m reach
TASK = TaskParams(
    workspace_center=(0.30, 0.0),
    object_low=(0.22, -0.14),
    object_high=(0.38, 0.14),
    ee_low=(0.12, -0.30, 0.015),
    ee_high=(0.46, 0.30, 0.30),
    max_step=0.02,
    max_joint_step=0.15,
    reach_tol=0.02,
    reach_z=(0.04, 0.20),
    push_tol=0.03,
    push_dist=(0.08, 0.13),
    puck_radius=0.02,
    puck_half_height=0.015,
    puck_mass=0.05,
    obj_radius=0.015,
    obj_half_height=0.025,
    obj_mass=0.03,
    bowl_radius=0.045,
    bowl_height=0.03,
    carry_z=0.12,
    min_separation=0.12,
    obstacle=ObstacleParams(  # coverage task reach_obstacle (docs/coverage_tasks.md)
        radius=0.04,
        height=0.32,  # above ee_high z: the tool cannot pass over it
        block_prob=0.4,
        tool_clearance=0.035,
        link_clearance=0.025,
        margin=0.01,
        low=(0.10, -0.28),
        high=(0.46, 0.28),
    ),
)
TWIN = TwinData(
    arm_model="widowx250",
    task_model_prefix=NAME,
    finger_open_closed=(FINGER_RANGE[1], FINGER_RANGE[0]),
    finger_speed=0.12,
    grasp_rotation=((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),  # approach = tool x
    pusher_half_width=0.012,
    operator_scale=1.0,
    task=TASK,
)

ENTRY = RobotEntry(
    name=NAME,
    title="WidowX",
    make_spec=make_spec,
    real_backend="widowx",  # drivers/arm/widowx.py (Dynamixel bus); motors.yaml in calibration/<rig>/
    rig=NAME,
    twin_rig=f"{NAME}_twin",
    twin=TWIN,
    node_params={"arm": {
        "watchdog_timeout": 0.3,  # s without a fresh command -> hold (policy streams at 10 Hz)
        "control_rate": 50.0,  # Hz
    }},
    aliases=("wx250s", "widowx250", "widowx2506dof"),
)
