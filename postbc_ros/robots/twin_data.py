"""What the MuJoCo twin of one arm needs to know about it, as pure data (no mujoco import).

Each robot module defines its `TWIN = TwinData(...)` and names it in its registry entry; the sim
(`postbc_ros.sim`) reads it from there and models/generate_models.py sizes the MJCF objects from
the same numbers, so the twin, its tasks and the scripted operator cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObstacleParams:
    """The post of the coverage task `reach_obstacle` (docs/coverage_tasks.md) for one arm: a fixed
    vertical cylinder standing on the table, taller than the tool can reach, placed per layout
    either on the scripted operator's common ("left") detour or clear of both detours."""

    radius: float  # post radius [m]
    height: float  # post height above the table [m]; above ee_high z, so the tool cannot pass over it
    block_prob: float  # fraction of layouts whose post blocks the common detour
    tool_clearance: float  # the gripper's horizontal extent around the tool point [m]
    link_clearance: float  # half-width of the arm's links seen from above [m] (base -> tool shadow)
    margin: float  # extra distance the post keeps from every path it must not touch [m]
    low: tuple[float, float]  # xy sampling box of a post that blocks nothing
    high: tuple[float, float]
    # where the forearm ends (the wrist), seen from above, relative to the tool point: metres along
    # the base -> tool direction and to its left; (0, 0) for an arm whose links lie in the vertical
    # plane through its base and tool (WidowX), UR5e: the wrist is offset by its DH d4
    wrist_offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class TaskParams:
    """Geometry and control scales of the twin tasks for one arm (metres, seconds)."""

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
    obstacle: ObstacleParams | None = None  # coverage task reach_obstacle (None: the arm has none)


@dataclass(frozen=True)
class TwinData:
    """The twin's model files, gripper, grasp orientation, scripted-operator scale and task geometry."""

    arm_model: str  # models/<arm_model>.xml: table scene + arm + gripper + scene/wrist cameras
    task_model_prefix: str  # models/<task_model_prefix>_<task>.xml: the arm model + the task's objects
    finger_open_closed: tuple[float, float]  # left finger joint [m] when open / closed (right mirrors)
    finger_speed: float  # m/s per finger
    # tool orientation with the gripper pointing straight down at yaw 0 (fingers closing across the
    # radial direction from the base); the IK target is yaw_rotation(atan2(y, x)) @ grasp_rotation
    grasp_rotation: tuple[tuple[float, float, float], ...]
    pusher_half_width: float  # finger pad half-width seen from the side, gripper closed [m]
    operator_scale: float  # scripted operator's via-point offsets, heights and tolerances (WidowX = 1)
    task: TaskParams

    def model_file(self, task: str | None = None) -> str:
        """File name under models/ of the arm alone (task None) or of the arm with `task`'s objects."""
        return f"{self.arm_model}.xml" if task is None else f"{self.task_model_prefix}_{task}.xml"
