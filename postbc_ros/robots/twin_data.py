"""What the MuJoCo twin of one arm needs to know about it, as pure data (no mujoco import).

Each robot module defines its `TWIN = TwinData(...)` and names it in its registry entry; the sim
(`postbc_ros.sim`) reads it from there and models/generate_models.py sizes the MJCF objects from
the same numbers, so the twin, its tasks and the scripted operator cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

#: fiducial family of every twin marker (OpenCV cv2.aruco predefined dictionary name): 4x4 bits,
#: 50 ids, the most robust family at the few tens of pixels a marker covers in a scene camera
ARUCO_DICTIONARY = "DICT_4X4_50"
#: black square side [m] of every marker of an arm at operator_scale 1 (WidowX); an arm's markers
#: scale with its operator_scale (the UR5e's scene camera stands ~1.5x farther away): ~30 px wide
#: in the 640x480 scene camera, which cv2.aruco detects and localises to a few mm
MARKER_SIDE = 0.03
#: white quiet zone around the black square, in marker cells (a 4x4 marker is 6 cells wide with
#: its border); the printed card is (6 + 2 * margin) / 6 times the black square
MARKER_MARGIN_CELLS = 1
MARKER_CELLS = 6
#: thickness of the marker card [m] (a printed label: visual only, massless)
MARKER_THICKNESS = 0.001
#: gap [m] between a table-side marker card and the centre-line radius it labels (bowl: inner
#: radius, its 12 mm wall included; obstacle: post radius)
MARKER_TAB_GAP = 0.02
#: marker ids, one per role, the same on every arm (the real cell prints the same ids)
MARKER_IDS = {"object": 0, "goal": 1, "obstacle": 2}


@dataclass(frozen=True)
class MarkerSpec:
    """One ArUco marker on a twin task object: its feature name, the MJCF body carrying it, its
    id in ARUCO_DICTIONARY, its black-square side [m], the centre of its printed face in the body
    frame [m] and the directions of the print's right and up in the body frame (MJCF `xyaxes`;
    the face normal is their cross product; default: lying flat, up = body +y)."""

    name: str
    body: str
    marker_id: int
    size: float
    face: tuple[float, float, float]
    xyaxes: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    @property
    def card_side(self) -> float:
        """Side of the printed card (black square + white quiet zone) [m]."""
        return self.size * (MARKER_CELLS + 2 * MARKER_MARGIN_CELLS) / MARKER_CELLS


@dataclass(frozen=True)
class ObstacleParams:
    """The post of the coverage task `reach_obstacle` (docs/coverage_tasks.md) for one arm: a fixed
    vertical cylinder standing on the table, taller than the tool can reach, placed per layout
    either across the scripted operator's common ("left") detour and the straight line, or clear of
    both detours."""

    radius: float  # post radius [m]
    height: float  # post height above the table [m]; above ee_high z, so the tool cannot pass over it
    block_prob: float  # fraction of layouts whose post blocks the common detour
    tool_clearance: float  # the gripper's horizontal extent around the tool point [m]
    link_clearance: float  # half-width of the arm's links seen from above [m] (base -> tool shadow)
    margin: float  # extra distance the post keeps from every path it must not touch [m]
    low: tuple[float, float]  # xy sampling box of a post that blocks nothing
    high: tuple[float, float]
    # a blocking post's axis: this far [m, x the operator scale] to the common side of the start -> goal
    # midpoint, so that the gripper can reach neither the straight line nor any common-mode via point
    # (a policy that averages the two modes and goes straight is blocked too, not only the left detour)
    block_lateral: float = 0.06
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

    def markers(self, task: str) -> tuple[MarkerSpec, ...]:
        """The marker map of `task` (object -> marker id, size, placement), in feature order.

        Cards lie on the objects' top faces (puck, cylinder, push goal disc; above the floating
        reach goal); the bowl has no usable top face, so its card lies on the table beside it, on
        the scene camera's (+x) side; the obstacle post's top is seen edge-on by the scene camera,
        so its card is stuck upright on the post's camera (+x) side, at a quarter of its height."""
        p = self.task
        side = MARKER_SIDE * self.operator_scale
        card = side * (MARKER_CELLS + 2 * MARKER_MARGIN_CELLS) / MARKER_CELLS
        t = MARKER_THICKNESS

        def spec(name: str, body: str, face) -> MarkerSpec:
            return MarkerSpec(name, body, MARKER_IDS[name], side, tuple(float(x) for x in face))

        if task == "reach":
            return (spec("goal", "goal", (0.0, 0.0, p.reach_tol + t)),)
        if task == "reach_obstacle":
            ob = p.obstacle
            if ob is None:
                raise ValueError(f"{self.arm_model}: task reach_obstacle needs TaskParams.obstacle")
            upright = MarkerSpec("obstacle", "obstacle", MARKER_IDS["obstacle"], side,
                                 (ob.radius + t, 0.0, ob.height / 4), (0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
            return (spec("goal", "goal", (0.0, 0.0, p.reach_tol + t)), upright)
        if task == "push":  # goal disc: half height 0.0005 above its body (models/generate_models.py)
            return (spec("object", "object", (0.0, 0.0, p.puck_half_height + t)),
                    spec("goal", "goal", (0.0, 0.0, 0.0005 + t)))
        if task == "pick_place":
            return (spec("object", "object", (0.0, 0.0, p.obj_half_height + t)),
                    spec("goal", "goal", (p.bowl_radius + MARKER_TAB_GAP + card / 2, 0.0, t)))
        raise ValueError(f"{self.arm_model}: no marker map for task {task!r}")
