"""Safety limits: the `SafetyLimits` object and ``calibration/<rig>/safety.yaml``'s schema.

A limits file is the one thing between a policy and the motors, so it is read strictly: every
field has a type, a unit and a physical range (below), YAML strings are never numbers or
booleans (``allow_recovery: "false"`` is refused, not read as true), unknown keys (typos) are
refused, and every error names the file, the field, the allowed range and the fix. A rig's limits
are also checked against its arm: `load_safety_limits(rig, robot=...)` refuses a rig written for
another robot (a WidowX run with ``safety_rig:=ur5e``).

`SafetyLimits` built in code (tests, benchmarks, `with_limits`) is checked for consistency only
(shapes, finite, positive, lower < upper); the physical ranges apply to files and dicts, the
configurations an operator writes.

Physical ranges of a file (per joint where a list; a scalar applies to every joint):

=====================  =======================================  =====================================
field                  allowed                                  why
=====================  =======================================  =====================================
robot                  a registered arm (widowx, ur5e)          FK, hardware limits, joint names
joint_names            the arm's joint names, in its order      command layout
joint_limits.lower/up  inside the arm's hardware limits [rad]   limits may only be tighter
joint_limits.margin    0 .. MAX_MARGIN_RAD                       kept off each bound
max_velocity           > 0 .. the arm's velocity limit [rad/s]  datasheet
max_acceleration       > 0 .. MAX_ACCELERATION_RAD_S2           typo guard (1e9)
max_step               > 0 .. MAX_STEP_RAD [rad per command]    one missed tick must not jump
gripper.min/max        0 .. 1, min < max (normalised)           0 = open, 1 = closed
workspace.min/max      within +-WORKSPACE_MAX_EXTENT_M, min<max  reach-plausible box [m]
workspace.on_violation scale | reject
workspace.allow_recov. true | false (a YAML boolean)
description            text
=====================  =======================================  =====================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from postbc_ros.core.safety_kinematics import AGREEMENT_M, tool_point

#: largest joint step per command [rad] a file may allow: at the 0.2 rad of the twins a missed
#: tick already moves a link ~10 cm; 0.5 rad (29 deg) is the most any command may jump
MAX_STEP_RAD = 0.5
#: largest joint acceleration [rad/s^2] a file may allow: above every rig's value (6 .. 20) with
#: room to spare, below values that only a typo produces (1e9 disables the check)
MAX_ACCELERATION_RAD_S2 = 50.0
#: largest joint_limits.margin [rad]: a margin this big already removes most of a joint's range
MAX_MARGIN_RAD = 0.5
#: every workspace box coordinate within +-this of the base [m]: both arms reach < 1 m (WidowX
#: 250 ~0.65 m, UR5e 0.85 m); a box beyond 2 m is a unit error (mm, cm), not a workspace
WORKSPACE_MAX_EXTENT_M = 2.0
#: normalised gripper command range: 0 = open, 1 = closed
GRIPPER_BOUNDS = (0.0, 1.0)
#: tolerance [m or rad] with which the filter *checks* a limit (clipping itself is exact): an
#: output re-filtered with the same state is unchanged
CHECK_TOL = 1e-9
#: default resolution of the workspace boundary search: a step scaled back to the box ends at most
#: this fraction of the step short of where it leaves the box (<= 0.5 mrad at the largest allowed
#: step, ~0.2 mm of tool travel on these arms); the 20 bisection steps before resolved 1e-6 at
#: 20 FK evaluations, one batched round now reaches 1e-3
WORKSPACE_RESOLUTION = 1e-3

FKFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

_TOP_KEYS = ("robot", "joint_names", "joint_limits", "max_velocity", "max_acceleration", "max_step", "gripper",
             "workspace", "description")
_JOINT_LIMIT_KEYS = ("lower", "upper", "margin")
_GRIPPER_KEYS = ("min", "max")
_WORKSPACE_KEYS = ("min", "max", "on_violation", "allow_recovery")


class SafetyConfigError(ValueError):
    """A safety limits file or object is malformed; the message names the file and field."""


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box (base frame, metres) that the tool point must stay inside."""

    lower: np.ndarray
    upper: np.ndarray
    on_violation: str = "scale"  # "scale" the step back, or "reject" (hold)
    allow_recovery: bool = True  # from outside the box, accept moves that get closer to it
    resolution: float = WORKSPACE_RESOLUTION  # a scaled step ends within this fraction of the boundary

    def __post_init__(self):
        object.__setattr__(self, "lower", _frozen(self.lower))
        object.__setattr__(self, "upper", _frozen(self.upper))

    def violation(self, p: np.ndarray) -> float:
        """Euclidean distance from point `p` to the box (0 inside)."""
        d = np.maximum(self.lower - p, 0.0) + np.maximum(p - self.upper, 0.0)
        return float(np.linalg.norm(d))

    def contains(self, p: np.ndarray, tol: float = CHECK_TOL) -> bool:
        """True when `p` lies inside the box (with a tiny tolerance)."""
        return bool(np.all(p >= self.lower - tol) and np.all(p <= self.upper + tol))


def _frozen(x) -> np.ndarray:
    """A read-only float64 copy (limits must not change under a running filter)."""
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise SafetyConfigError(f"limits must be numbers, got {x!r}: {e}") from e
    arr.setflags(write=False)
    return arr


class _Hot:
    """Everything `filter_command` reads per call, prepared once per `SafetyLimits` (plain attributes)."""

    __slots__ = ("n", "length", "names", "g_lo", "g_hi", "lower", "upper", "vmax", "amax", "step", "ws", "point",
                 "box_lo_list", "box_hi_list", "box_lo_tol", "box_hi_tol", "in_lo", "in_hi", "in_lo_list", "in_hi_list", "box_text",
                 "lower_l", "upper_l", "vmax_l", "amax_l", "step_l")


@dataclass(frozen=True)
class SafetyLimits:
    """Every limit the filter enforces for one robot (arrays have one entry per arm joint).

    Built by `load_safety_limits` from ``calibration/<rig>/safety.yaml`` or directly (checked
    for consistency on construction; arrays are stored read-only). `fk` maps arm joint angles
    to the tool pose (pos[3], rot[3,3]); it is required when a workspace box is set.
    """

    robot: str
    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray
    max_step: np.ndarray
    gripper_range: tuple[float, float] | None = (0.0, 1.0)
    workspace: WorkspaceBox | None = None
    fk: FKFunction | None = field(default=None, repr=False, compare=False)
    source: str = "<in-memory>"

    def __post_init__(self):
        for name in ("lower", "upper", "max_velocity", "max_acceleration", "max_step"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        self.validate()
        object.__setattr__(self, "_hot", self._prepare())

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def command_length(self) -> int:
        """Length of a command vector: arm joints (+1 when a gripper range is set)."""
        return self.n_joints + (1 if self.gripper_range is not None else 0)

    def step_bound(self, dt: float) -> np.ndarray:
        """Largest allowed per-joint position change for one command period `dt`."""
        return np.minimum(self.max_step, self.max_velocity * dt)

    def validate(self) -> "SafetyLimits":
        """Raise `SafetyConfigError` naming the source and field if anything is inconsistent."""
        n = self.n_joints
        if n == 0:
            _cfg_error(self.source, "joint_names", "must list at least one joint")
        for name in ("lower", "upper", "max_velocity", "max_acceleration", "max_step"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                _cfg_error(self.source, name, f"needs {n} values (one per joint in joint_names), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                _cfg_error(self.source, name, f"must be finite numbers, got {arr.tolist()}")
        if np.any(self.lower >= self.upper):
            bad = [self.joint_names[i] for i in np.flatnonzero(self.lower >= self.upper)]
            _cfg_error(self.source, "joint_limits", f"lower must be < upper for every joint; violated for {bad}")
        for name in ("max_velocity", "max_acceleration", "max_step"):
            if np.any(getattr(self, name) <= 0):
                _cfg_error(self.source, name, "must be > 0 for every joint")
        if self.gripper_range is not None:
            lo, hi = self.gripper_range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                _cfg_error(self.source, "gripper", f"needs finite min <= max, got {self.gripper_range}")
        if self.workspace is not None:
            ws = self.workspace
            if ws.lower.shape != (3,) or ws.upper.shape != (3,):
                _cfg_error(self.source, "workspace", "min and max need 3 values [x, y, z] in metres")
            if not (np.all(np.isfinite(ws.lower)) and np.all(np.isfinite(ws.upper))):
                _cfg_error(self.source, "workspace", "min and max must be finite")
            if np.any(ws.lower >= ws.upper):
                _cfg_error(self.source, "workspace", f"min must be < max on every axis, got min={ws.lower.tolist()} max={ws.upper.tolist()}")
            if ws.on_violation not in ("scale", "reject"):
                _cfg_error(self.source, "workspace.on_violation", f"must be 'scale' or 'reject', got {ws.on_violation!r}")
            if not isinstance(ws.allow_recovery, (bool, np.bool_)):
                _cfg_error(self.source, "workspace.allow_recovery", f"must be True or False, got {ws.allow_recovery!r}")
            if not (0.0 < ws.resolution < 1.0):
                _cfg_error(self.source, "workspace.resolution", f"must be a fraction in (0, 1), got {ws.resolution!r}")
            if self.fk is None:
                _cfg_error(self.source, "workspace", "a workspace box needs forward kinematics (fk); set `robot` to a known arm")
        return self

    def _prepare(self) -> _Hot:
        h = _Hot()
        h.n, h.length, h.names = self.n_joints, self.command_length, self.joint_names
        h.g_lo, h.g_hi = (None, None) if self.gripper_range is None else (float(self.gripper_range[0]), float(self.gripper_range[1]))
        h.lower, h.upper = self.lower, self.upper
        h.vmax, h.amax, h.step = self.max_velocity, self.max_acceleration, self.max_step
        # the same as lists: reports read single joints (a numpy scalar formats ~2x slower)
        h.lower_l, h.upper_l = self.lower.tolist(), self.upper.tolist()
        h.vmax_l, h.amax_l, h.step_l = self.max_velocity.tolist(), self.max_acceleration.tolist(), self.max_step.tolist()
        h.ws = self.workspace
        h.point = None
        if self.workspace is not None:
            h.point = tool_point(self.fk, self.n_joints).point  # one joint vector on Python floats
            lo, hi = self.workspace.lower, self.workspace.upper
            h.box_lo_list, h.box_hi_list = lo.tolist(), hi.tolist()
            h.box_text = f"[{h.box_lo_list}, {h.box_hi_list}]"
            # an unchanged command passes with the filter's checking tolerance (idempotence) ...
            h.box_lo_tol, h.box_hi_tol = (lo - CHECK_TOL).tolist(), (hi + CHECK_TOL).tolist()
            # ... a scaled step is certified against the box shrunk by the chain's agreement with fk
            h.in_lo, h.in_hi = lo + AGREEMENT_M, hi - AGREEMENT_M
            h.in_lo_list, h.in_hi_list = h.in_lo.tolist(), h.in_hi.tolist()
        return h


def with_limits(limits: SafetyLimits, **changes) -> SafetyLimits:
    """A validated copy of `limits` with some fields replaced (arrays as numpy)."""
    return replace(limits, **changes)


# --------------------------------------------------------------------------------------------
# the file schema
# --------------------------------------------------------------------------------------------

def _cfg_error(source: str, fieldname: str, problem: str) -> None:
    raise SafetyConfigError(f"{source}: field '{fieldname}': {problem}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v: Any, source: str, name: str, lo: float, hi: float, *, lo_open: bool = False, unit: str = "") -> float:
    """A real number (not a bool, not a string) in [lo, hi] ((lo, hi] with lo_open)."""
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]{(' ' + unit) if unit else ''}"
    if isinstance(v, str):
        _cfg_error(source, name, f"must be a number in {rng}, got the string {v!r}; write it without quotes")
    if not _is_number(v):
        _cfg_error(source, name, f"must be a number in {rng}, got {v!r} ({type(v).__name__})")
    x = float(v)
    if not math.isfinite(x):
        _cfg_error(source, name, f"must be a finite number in {rng}, got {v!r}")
    if x < lo or x > hi or (lo_open and x <= lo):
        _cfg_error(source, name, f"{v!r} is outside the allowed range {rng}")
    return x


def _vector(data: dict, key: str, n: int, source: str, lo, hi, *, lo_open: bool = False, unit: str = "",
            name: str | None = None, default=None) -> np.ndarray:
    """A number (broadcast to n) or a list of n numbers, each inside [lo_i, hi_i]."""
    name = name or key
    if key not in data:
        if default is not None:
            return np.asarray(default, dtype=float)
        _cfg_error(source, name, f"missing; give a number or a list of {n} numbers{(' in ' + unit) if unit else ''}")
    val = data[key]
    lo_v, hi_v = np.broadcast_to(np.asarray(lo, float), (n,)), np.broadcast_to(np.asarray(hi, float), (n,))
    if not isinstance(val, list):
        if isinstance(val, (dict, tuple, set)) or val is None:
            _cfg_error(source, name, f"must be a number or a list of {n} numbers, got {val!r}")
        # a scalar applies to every joint: it must fit every joint's range
        return np.array([_number(val, source, name, lo_v[i], hi_v[i], lo_open=lo_open, unit=unit) for i in range(n)])
    if len(val) != n:
        _cfg_error(source, name, f"needs {n} values (one per joint), got {len(val)}")
    return np.array([_number(v, source, f"{name}[{i}]" if n > 1 else name, lo_v[i], hi_v[i], lo_open=lo_open, unit=unit)
                     for i, v in enumerate(val)])


def _mapping(v: Any, source: str, name: str, keys: tuple[str, ...], what: str) -> dict:
    if not isinstance(v, dict):
        _cfg_error(source, name, f"must be a mapping {what}, got {v!r}")
    unknown = sorted(str(k) for k in v if k not in keys)
    if unknown:
        _cfg_error(source, f"{name}.{unknown[0]}", f"unknown field (a typo?); allowed in '{name}': {list(keys)}")
    return v


def limits_from_dict(data: dict, source: str = "<dict>", fk: FKFunction | None = None) -> SafetyLimits:
    """Build `SafetyLimits` from a parsed safety.yaml mapping, checked against the schema above.

    Joint limits may be tighter than the robot spec's, never wider. Scalars broadcast to every
    joint.
    """
    if not isinstance(data, dict):
        raise SafetyConfigError(f"{source}: expected a mapping at the top level (robot:, joint_names:, ...), "
                                f"got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        _cfg_error(source, unknown[0], f"unknown field (a typo?); allowed: {list(_TOP_KEYS)}")
    robot = data.get("robot")
    if not isinstance(robot, str) or not robot:
        _cfg_error(source, "robot", "missing; set it to the arm name (widowx or ur5e)")
    from postbc_ros.robots import get_robot_spec

    try:
        spec = get_robot_spec(robot)
    except ValueError as e:
        _cfg_error(source, "robot", str(e))
    if "description" in data and not isinstance(data["description"], str):
        _cfg_error(source, "description", f"must be text, got {data['description']!r}")
    names = data.get("joint_names", list(spec.joint_names))
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        _cfg_error(source, "joint_names", f"must be a list of joint names, e.g. {list(spec.joint_names)}")
    n = len(names)
    if list(names) != list(spec.joint_names):
        _cfg_error(source, "joint_names", f"must match the {robot} spec order {spec.joint_names}, got {names}")
    hw = f"the {robot} hardware limits"
    jl = data.get("joint_limits")
    if jl is None:
        lower, upper, margin = spec.lower.copy(), spec.upper.copy(), 0.0
    else:
        jl = _mapping(jl, source, "joint_limits", _JOINT_LIMIT_KEYS, "with lower/upper (rad) and optional margin")
        lower = _vector(jl, "lower", n, source, spec.lower - 1e-6, spec.upper, unit=f"rad ({hw}; safety limits may only be tighter)",
                        name="joint_limits.lower", default=spec.lower)
        upper = _vector(jl, "upper", n, source, spec.lower, spec.upper + 1e-6, unit=f"rad ({hw}; safety limits may only be tighter)",
                        name="joint_limits.upper", default=spec.upper)
        margin = _number(jl.get("margin", 0.0), source, "joint_limits.margin", 0.0, MAX_MARGIN_RAD, unit="rad")
    lower, upper = lower + margin, upper - margin
    if np.any(lower >= upper):
        bad = [names[i] for i in np.flatnonzero(lower >= upper)]
        _cfg_error(source, "joint_limits", f"lower + margin must be < upper - margin for every joint; violated for {bad}")
    vmax = _vector(data, "max_velocity", n, source, 0.0, spec.velocity_limits, lo_open=True, unit=f"rad/s (the {robot} velocity limits)")
    amax = _vector(data, "max_acceleration", n, source, 0.0, MAX_ACCELERATION_RAD_S2, lo_open=True, unit="rad/s^2")
    step = _vector(data, "max_step", n, source, 0.0, MAX_STEP_RAD, lo_open=True, unit="rad per command")
    grip = data.get("gripper", {"min": 0.0, "max": 1.0})
    if grip is None:
        grange = None
    else:
        grip = _mapping(grip, source, "gripper", _GRIPPER_KEYS, "{min, max} (normalised 0 = open, 1 = closed) or null for no gripper")
        for k in _GRIPPER_KEYS:
            if k not in grip:
                _cfg_error(source, "gripper", f"needs both min and max (normalised 0 = open, 1 = closed), '{k}' is missing")
        grange = tuple(_number(grip[k], source, f"gripper.{k}", *GRIPPER_BOUNDS) for k in _GRIPPER_KEYS)
        if grange[0] >= grange[1]:
            _cfg_error(source, "gripper", f"min must be < max, got {grange}")
    ws = data.get("workspace")
    box = None
    if ws is not None:
        ws = _mapping(ws, source, "workspace", _WORKSPACE_KEYS, "with min: [x, y, z] and max: [x, y, z] (metres, base frame)")
        ext = WORKSPACE_MAX_EXTENT_M
        corners = [_vector(ws, k, 3, source, -ext, ext, unit="m from the base", name=f"workspace.{k}") for k in ("min", "max")]
        if np.any(corners[0] >= corners[1]):
            _cfg_error(source, "workspace", f"min must be < max on every axis, got min={corners[0].tolist()} max={corners[1].tolist()}")
        on_violation = ws.get("on_violation", "scale")
        if on_violation not in ("scale", "reject"):
            _cfg_error(source, "workspace.on_violation", f"must be 'scale' or 'reject', got {on_violation!r}")
        allow = ws.get("allow_recovery", True)
        if not isinstance(allow, bool):
            _cfg_error(source, "workspace.allow_recovery", f"must be true or false (a YAML boolean), got {allow!r} "
                       f"({type(allow).__name__}); write allow_recovery: false without quotes")
        box = WorkspaceBox(lower=corners[0], upper=corners[1], on_violation=on_violation, allow_recovery=allow)
    return SafetyLimits(
        robot=spec.name, joint_names=tuple(names), lower=lower, upper=upper, max_velocity=vmax,
        max_acceleration=amax, max_step=step, gripper_range=grange, workspace=box, fk=fk or spec.fk, source=source,
    )


def _check_robot(limits: SafetyLimits, rig: str, robot: str) -> None:
    """Refuse limits written for another arm than the one they are about to drive."""
    from postbc_ros.robots import get_robot, get_robot_spec

    try:
        entry = get_robot(robot)
    except ValueError as e:
        raise SafetyConfigError(f"{limits.source}: cannot check the rig against robot {robot!r}: {e}") from e
    spec = get_robot_spec(entry.name)
    if get_robot(limits.robot).name != entry.name:
        raise SafetyConfigError(
            f"{limits.source}: field 'robot': safety rig '{rig}' is for robot {limits.robot}, this arm is {entry.name}: "
            f"set safety_rig:={entry.rig} (or leave it empty)")
    if tuple(spec.joint_names) != tuple(limits.joint_names):
        raise SafetyConfigError(
            f"{limits.source}: field 'joint_names': safety rig '{rig}' lists joints {list(limits.joint_names)}, this "
            f"arm ({entry.name}) has {list(spec.joint_names)}: set safety_rig:={entry.rig} (or leave it empty)")


def load_safety_limits(rig_or_path: str | Path, calibration_dir: str | Path | None = None,
                       robot: str | None = None) -> SafetyLimits:
    """Load ``calibration/<rig>/safety.yaml`` (or an explicit YAML path) as `SafetyLimits`.

    robot: the arm these limits will drive; a rig written for another arm (or other joints) is
    refused with the safety_rig to use instead.
    """
    import yaml

    from postbc_ros.resources import calibration_root

    p = Path(rig_or_path)
    if p.suffix in (".yaml", ".yml"):
        path, rig = p, p.parent.name
    else:
        root = Path(calibration_dir) if calibration_dir is not None else calibration_root()
        path, rig = root / str(rig_or_path) / "safety.yaml", str(rig_or_path)
    if not path.is_file():
        raise SafetyConfigError(
            f"{path}: safety limits file not found. Create it by copying calibration/widowx/safety.yaml "
            f"(or ur5e/) and editing joint_limits, max_velocity, max_acceleration, max_step, gripper and workspace for this rig."
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SafetyConfigError(f"{path}: not valid YAML: {e}") from e
    limits = limits_from_dict(data, source=str(path))
    if robot is not None:
        _check_robot(limits, rig, robot)
    return limits


__all__ = [
    "GRIPPER_BOUNDS", "MAX_ACCELERATION_RAD_S2", "MAX_MARGIN_RAD", "MAX_STEP_RAD", "SafetyConfigError", "SafetyLimits",
    "WORKSPACE_MAX_EXTENT_M", "WORKSPACE_RESOLUTION", "WorkspaceBox", "limits_from_dict", "load_safety_limits",
    "with_limits",
]
