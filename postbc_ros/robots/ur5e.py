"""Universal Robots UR5e: published DH kinematics and datasheet limits.

Sources
- DH parameters: Universal Robots, "DH parameters for calculations of kinematics and dynamics"
  (universal-robots.com/articles/ur/application-installation/dh-parameters-for-calculations-of-
  kinematics-and-dynamics/), UR5e row: d1=0.1625, a2=-0.425, a3=-0.3922, d4=0.1333, d5=0.0997,
  d6=0.0996 m, alpha=[pi/2, 0, 0, pi/2, -pi/2, 0]; standard (distal) DH convention,
  T_i = Rz(theta_i) Tz(d_i) Tx(a_i) Rx(alpha_i), zero joint offsets.
- Limits: UR5e technical specifications (datasheet): working range +-360 deg on all joints,
  maximum speed 180 deg/s on all joints. We use +-2*pi everywhere except the elbow, which we
  restrict to +-pi as UR's own ROS 2 description does (ur_description
  config/ur5e/joint_limits.yaml) because beyond +-pi the forearm collides with the upper arm.
- Acceleration: UR publishes no joint acceleration limit; 3.0 rad/s^2 is a conservative value
  (ur_rtde's moveJ default is 1.4 rad/s^2, speedJ allows up to 40 rad/s^2).

Frames
- Base frame = the DH base frame ("base" in UR's documentation; ROS "base_link" is this frame
  rotated by pi about z). At q = 0 the arm is stretched along -x.
- Tool frame = grasp point between the fingers of the simple parallel gripper of the MuJoCo
  twin: the flange frame (DH frame 6) translated TOOL_OFFSET = 0.14 m along its z axis
  (approach axis pointing out of the flange). x/y axes are those of the flange.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.robots.registry import RobotEntry
from postbc_ros.robots.spec import RobotSpec
from postbc_ros.robots.twin_data import ObstacleParams, TaskParams, TwinData

NAME = "ur5e"
DH_D = np.array([0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996])
DH_A = np.array([0.0, -0.425, -0.3922, 0.0, 0.0, 0.0])
DH_ALPHA = np.array([np.pi / 2, 0.0, 0.0, np.pi / 2, -np.pi / 2, 0.0])
TOOL_OFFSET = 0.14  # flange -> grasp point along flange z [m]
FINGER_RANGE = (0.0, 0.0425)  # twin gripper: left finger prismatic travel [m], closed .. open

JOINT_NAMES = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
]
LOWER = np.array([-2 * np.pi, -2 * np.pi, -np.pi, -2 * np.pi, -2 * np.pi, -2 * np.pi])
UPPER = -LOWER
VELOCITY = np.full(6, np.deg2rad(180.0))
ACCEL = np.full(6, 3.0)
# tool pointing straight down (-z of base), at about (0.35, 0.13, 0.33) m in the base frame
HOME = np.array([np.pi, -1.9, 1.9, -1.5708, -1.5708, 0.0])


def dh_transform(theta: float, d: float, a: float, alpha: float) -> np.ndarray:
    """Standard DH link transform Rz(theta) Tz(d) Tx(a) Rx(alpha) as 4x4."""
    ct, st = np.cos(theta), np.sin(theta)
    ca, sa = np.cos(alpha), np.sin(alpha)
    return np.array(
        [
            [ct, -st * ca, st * sa, a * ct],
            [st, ct * ca, -ct * sa, a * st],
            [0.0, sa, ca, d],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def flange_transform(q: np.ndarray) -> np.ndarray:
    """4x4 pose of the flange (DH frame 6) in the base frame."""
    t = np.eye(4)
    for i in range(6):
        t = t @ dh_transform(q[i], DH_D[i], DH_A[i], DH_ALPHA[i])
    return t


def fk(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grasp-point pose (pos, rotmat) in the base frame."""
    t = flange_transform(q)
    rot = t[:3, :3]
    return t[:3, 3] + TOOL_OFFSET * rot[:, 2], rot.copy()


def make_spec() -> RobotSpec:
    """The UR5e spec (see module docstring for sources)."""
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
        source="UR5e DH parameters + UR5e datasheet; ur_description joint_limits.yaml (elbow)",
    )


# Twin tasks scaled to the arm's 0.85 m reach
TASK = TaskParams(
    workspace_center=(0.50, 0.13),
    object_low=(0.38, -0.09),
    object_high=(0.64, 0.35),
    ee_low=(0.22, -0.30, 0.03),
    ee_high=(0.82, 0.55, 0.50),
    max_step=0.03,
    max_joint_step=0.12,
    reach_tol=0.03,
    reach_z=(0.08, 0.35),
    push_tol=0.045,
    push_dist=(0.12, 0.19),
    puck_radius=0.03,
    puck_half_height=0.02,
    puck_mass=0.1,
    obj_radius=0.02,
    obj_half_height=0.035,
    obj_mass=0.08,
    bowl_radius=0.065,
    bowl_height=0.045,
    carry_z=0.2,
    min_separation=0.17,
    obstacle=ObstacleParams(  # coverage task reach_obstacle (docs/coverage_tasks.md)
        radius=0.06,
        height=0.52,  # above ee_high z: the tool cannot pass over it
        block_prob=0.4,
        tool_clearance=0.055,
        link_clearance=0.06,
        margin=0.015,
        low=(0.22, -0.30),
        high=(0.82, 0.55),
        wrist_offset=(-0.12, -0.11),  # wrist_1 joint seen from above (measured on the twin)
    ),
)
TWIN = TwinData(
    arm_model=NAME,
    task_model_prefix=NAME,
    finger_open_closed=(FINGER_RANGE[1], FINGER_RANGE[0]),
    finger_speed=0.15,
    grasp_rotation=((0.0, -1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),  # approach = tool z
    pusher_half_width=0.013,
    operator_scale=1.5,
    task=TASK,
)

ENTRY = RobotEntry(
    name=NAME,
    title="UR5e",
    make_spec=make_spec,
    real_backend="ur_rtde",  # drivers/arm/ur_rtde.py (RTDE servoJ); controller address: arm parameter host
    rig=NAME,
    twin_rig=f"{NAME}_twin",
    twin=TWIN,
    node_params={"arm": {
        "watchdog_timeout": 0.3,  # s without a fresh command -> hold (policy streams at 10 Hz)
        "control_rate": 125.0,  # Hz (RTDE servoJ)
    }},
)
