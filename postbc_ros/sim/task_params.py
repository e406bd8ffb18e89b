"""Per-robot task geometry: workspace, object sizes, tolerances, action scales.

Pure data (no mujoco import) so that models/generate_models.py and the envs read the same
numbers: the MJCF objects are sized from here and the envs sample poses from here. The WidowX
numbers are scaled to its ~0.45 m reach, the UR5e ones to its 0.85 m reach.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskParams:
    """Geometry and control scales of the three tasks for one arm (metres, seconds)."""

    workspace_center: tuple[float, float]
    object_low: tuple[float, float]  # xy sampling box of objects / goals on the table
    object_high: tuple[float, float]
    ee_low: tuple[float, float, float]  # box the commanded tool point is clipped into
    ee_high: tuple[float, float, float]
    max_step: float  # ee_delta action 1.0 = this many metres per control step
    max_joint_step: float  # joint_delta action 1.0 = this many radians per control step
    reach_tol: float
    reach_z: tuple[float, float]  # height range of reach goals
    push_tol: float  # goal region radius
    push_dist: tuple[float, float]  # object-goal distance range
    puck_radius: float
    puck_half_height: float
    puck_mass: float
    obj_radius: float
    obj_half_height: float
    obj_mass: float
    bowl_radius: float  # inner radius
    bowl_height: float
    carry_z: float  # tool height while carrying an object over the bowl
    min_separation: float  # min xy distance object <-> bowl at reset


TASK_PARAMS: dict[str, TaskParams] = {
    "widowx": TaskParams(
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
    ),
    "ur5e": TaskParams(
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
    ),
}

HORIZONS: dict[str, int] = {"reach": 40, "push": 80, "pick_place": 100}
CONTROL_DT = 0.1  # 10 Hz control, like the real WidowX setups (BridgeData: 5 Hz)
