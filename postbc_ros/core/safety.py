"""Safety filter: THE last step before any arm command reaches hardware (or the twin).

`filter_command(cmd, state, limits, dt)` is a pure function. It either returns a command that
satisfies every configured limit, or asks the caller to hold the arm (`command is None`). It
never raises for bad *commands* (a policy that emits NaN must not crash the controller); it
raises only for a malformed `SafetyLimits` or `dt`, which are programming/configuration errors.

Command layout: ``[q_1 .. q_n, gripper]`` (n arm joints, then the normalised gripper command,
0 = open, 1 = closed) when the limits have a gripper range, otherwise ``[q_1 .. q_n]``.

Checks, in order (each modification is reported as an `Intervention`):

1. shape / finiteness of the command and of the measured state -> reject and hold;
2. gripper range -> clip;
3. joint position limits -> clip;
4. maximum joint step per command, velocity and acceleration limits relative to the
   reference (the previous command if there is one, else the measured position) -> scale
   each joint's step into the allowed interval;
5. Cartesian workspace box of the tool point (forward kinematics) -> reject (hold) or scale
   the step back along the segment from the reference, depending on `workspace.on_violation`.

Guarantee (tested with hypothesis for arbitrary inputs): a returned command has the right
length, is finite, lies inside the joint limits and the gripper range, moves no joint more
than ``min(max_step, max_velocity*dt)`` from the reference, and puts the tool point inside
the workspace box, and changes no joint velocity by more than ``max_acceleration*dt`` except
toward standstill (braking is always allowed: holding is the universal safe fallback, and a
filter that forced motion to respect a deceleration bound would carry the arm past where the
policy asked it to stop). Exceptions are *recoveries*: a joint whose reference lies outside
its limits by more than it may move in one period moves toward them as far as allowed, and
when the reference tool point is already outside the box (`allow_recovery`) a command is only
accepted if it strictly reduces the distance to the box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

# tolerance used when *checking* a limit (clipping itself is exact); it makes the filter
# idempotent in floating point: an output re-filtered with the same state is unchanged.
_TOL = 1e-9

FKFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class SafetyConfigError(ValueError):
    """A safety limits file or object is malformed; the message names the file and field."""


@dataclass(frozen=True)
class Intervention:
    """One modification or rejection performed by the filter.

    kind: invalid_shape | non_finite | invalid_state | gripper_limit | joint_limit |
          max_step | velocity | acceleration | workspace
    joint: joint name (or "gripper", "tool" for the workspace, "command" for whole-vector checks)
    value: the offending value (requested), limit: the bound that was applied.
    """

    kind: str
    joint: str
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box (base frame, metres) that the tool point must stay inside."""

    lower: np.ndarray
    upper: np.ndarray
    on_violation: str = "scale"  # "scale" the step back, or "reject" (hold)
    allow_recovery: bool = True  # from outside the box, accept moves that get closer to it
    bisection_steps: int = 20

    def violation(self, p: np.ndarray) -> float:
        """Euclidean distance from point `p` to the box (0 inside)."""
        d = np.maximum(self.lower - p, 0.0) + np.maximum(p - self.upper, 0.0)
        return float(np.linalg.norm(d))

    def contains(self, p: np.ndarray, tol: float = _TOL) -> bool:
        """True when `p` lies inside the box (with a tiny tolerance)."""
        return bool(np.all(p >= self.lower - tol) and np.all(p <= self.upper + tol))


@dataclass(frozen=True)
class SafetyLimits:
    """Every limit the filter enforces for one robot (arrays have one entry per arm joint).

    Built by `load_safety_limits` from ``calibration/<rig>/safety.yaml`` or directly.
    `fk` maps arm joint angles to the tool pose (pos[3], rot[3,3]); it is required when a
    workspace box is set.
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
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                _cfg_error(self.source, name, f"needs {n} values (one per joint in joint_names), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                _cfg_error(self.source, name, f"must be finite numbers, got {arr.tolist()}")
        if np.any(self.lower >= self.upper):
            bad = [self.joint_names[i] for i in np.flatnonzero(self.lower >= self.upper)]
            _cfg_error(self.source, "joint_limits", f"lower must be < upper for every joint; violated for {bad}")
        for name in ("max_velocity", "max_acceleration", "max_step"):
            if np.any(np.asarray(getattr(self, name)) <= 0):
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
            if self.fk is None:
                _cfg_error(self.source, "workspace", "a workspace box needs forward kinematics (fk); set `robot` to a known arm")
        return self


@dataclass(frozen=True)
class SafetyState:
    """What the filter needs to know about the arm right now.

    q: measured arm joint positions. dq: measured velocities (used for the acceleration
    check when no previous command velocity is known). last_command: the previous command
    that was *sent* (arm joints, gripper optional) -- the reference for step/velocity limits,
    so that a stream of commands cannot creep faster than allowed. last_velocity: the joint
    velocity implied by that command.
    """

    q: np.ndarray
    dq: np.ndarray | None = None
    last_command: np.ndarray | None = None
    last_velocity: np.ndarray | None = None

    def after(self, result: "SafetyResult", q_measured=None, dq_measured=None) -> "SafetyState":
        """The state for the next call: remembers what was sent (or the hold)."""
        q_new = self.q if q_measured is None else np.asarray(q_measured, dtype=float)
        dq_new = self.dq if dq_measured is None else np.asarray(dq_measured, dtype=float)
        if result.held or result.command is None:
            return SafetyState(q=q_new, dq=dq_new, last_command=None, last_velocity=np.zeros_like(np.asarray(self.q, float)))
        return SafetyState(q=q_new, dq=dq_new, last_command=result.command.copy(), last_velocity=result.velocity)


@dataclass
class SafetyResult:
    """Output of `filter_command`: a command to send, or `command=None` meaning hold."""

    command: np.ndarray | None
    held: bool
    interventions: list[Intervention]
    velocity: np.ndarray | None = None  # joint velocity implied by `command` (for the next state)

    @property
    def ok(self) -> bool:
        """True when the command passed unchanged."""
        return not self.held and not self.interventions

    @property
    def kinds(self) -> set[str]:
        return {i.kind for i in self.interventions}

    def q(self, n_joints: int) -> np.ndarray | None:
        return None if self.command is None else self.command[:n_joints]

    def gripper(self, n_joints: int) -> float | None:
        if self.command is None or self.command.shape[0] <= n_joints:
            return None
        return float(self.command[n_joints])


def _hold(interventions: list[Intervention], kind: str, joint: str, value: float, limit: float, message: str) -> SafetyResult:
    interventions.append(Intervention(kind, joint, float(value), float(limit), message))
    return SafetyResult(command=None, held=True, interventions=interventions, velocity=None)


def _as_vector(x: Any) -> np.ndarray | None:
    """`x` as a 1-D float64 array, or None if it cannot be one (ragged, strings, ...)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if arr.ndim != 1:
        return None
    return arr


def filter_command(cmd: Any, state: SafetyState, limits: SafetyLimits, dt: float) -> SafetyResult:
    """Make `cmd` safe to send, or decide to hold. Pure: no I/O, no clock, no mutation.

    cmd: ``[q_1..q_n, gripper]`` (see module docstring); anything else is rejected.
    state: measured joint state and the previously sent command (`SafetyState`).
    limits: `SafetyLimits`; dt: command period [s] (> 0) used for velocity/acceleration.
    """
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"filter_command: dt must be a finite period > 0 seconds, got {dt!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        return _filter(cmd, state, limits, float(dt))


def _filter(cmd: Any, state: SafetyState, limits: SafetyLimits, dt: float) -> SafetyResult:
    n = limits.n_joints
    names = limits.joint_names
    iv: list[Intervention] = []

    # 1. shape and finiteness --------------------------------------------------------------
    c = _as_vector(cmd)
    if c is None or c.shape[0] != limits.command_length:
        got = "unparseable" if c is None else f"length {c.shape[0]}"
        return _hold(iv, "invalid_shape", "command", float("nan") if c is None else c.shape[0], limits.command_length,
                     f"command must be a flat vector of {limits.command_length} numbers "
                     f"({n} joints{' + gripper' if limits.gripper_range is not None else ''}), got {got}; holding")
    bad = np.flatnonzero(~np.isfinite(c))
    if bad.size:
        i = int(bad[0])
        who = names[i] if i < n else "gripper"
        return _hold(iv, "non_finite", who, c[i], float("nan"), f"command contains non-finite values at {[int(b) for b in bad]} (first: {who}={c[i]}); holding")
    q_meas = _as_vector(state.q)
    if q_meas is None or q_meas.shape[0] != n or not np.all(np.isfinite(q_meas)):
        return _hold(iv, "invalid_state", "state", float("nan"), n, f"measured joint state must be {n} finite values, got {state.q!r}; holding")

    ref = q_meas
    if state.last_command is not None:
        lc = _as_vector(state.last_command)
        if lc is None or lc.shape[0] < n or not np.all(np.isfinite(lc[:n])):
            return _hold(iv, "invalid_state", "last_command", float("nan"), n, f"state.last_command must hold {n} finite joint values, got {state.last_command!r}; holding")
        ref = lc[:n]
    v_prev = state.last_velocity if state.last_velocity is not None else state.dq
    if v_prev is not None:
        v_prev = _as_vector(v_prev)
        if v_prev is None or v_prev.shape[0] != n or not np.all(np.isfinite(v_prev)):
            return _hold(iv, "invalid_state", "velocity", float("nan"), n, f"previous velocity must be {n} finite values, got {v_prev!r}; holding")

    q = c[:n].copy()
    out = c.copy()

    # 2. gripper range ---------------------------------------------------------------------
    if limits.gripper_range is not None:
        g_lo, g_hi = limits.gripper_range
        g = c[n]
        if g < g_lo or g > g_hi:
            lim = g_lo if g < g_lo else g_hi
            iv.append(Intervention("gripper_limit", "gripper", float(g), float(lim), f"gripper {g:.4g} outside [{g_lo}, {g_hi}]; clipped"))
            out[n] = lim

    # 3. joint position limits -------------------------------------------------------------
    clipped = np.clip(q, limits.lower, limits.upper)
    # clipped exactly, reported beyond the numerical tolerance (like every other stage): a target
    # 1e-111 rad past a limit is a rounding artefact, e.g. this filter's own previous output
    # when the reference sat at the limit and the acceleration bound forbade reversing
    for i in np.flatnonzero(np.abs(clipped - q) > _TOL):
        lim = clipped[i]
        iv.append(Intervention("joint_limit", names[i], float(q[i]), float(lim), f"{names[i]} target {q[i]:.4g} rad outside [{limits.lower[i]:.4g}, {limits.upper[i]:.4g}]; clipped"))
    q = clipped

    # 4. step / velocity / acceleration relative to the reference ---------------------------
    step_max = limits.step_bound(dt)
    delta = q - ref
    new_delta = np.clip(delta, -step_max, step_max)
    for i in np.flatnonzero(np.abs(delta) > step_max * (1 + _TOL) + _TOL):
        by_step = limits.max_step[i] <= limits.max_velocity[i] * dt
        kind = "max_step" if by_step else "velocity"
        lim = float(step_max[i])
        iv.append(Intervention(kind, names[i], float(delta[i]), lim, f"{names[i]} step {delta[i]:.4g} rad exceeds {lim:.4g} rad per command "
                               f"({'max_step' if by_step else f'max_velocity {limits.max_velocity[i]:.4g} rad/s x dt {dt:.4g} s'}); scaled"))
    # acceleration: a joint may speed up (or reverse) by at most max_acceleration*dt per
    # period, but braking toward standstill is always allowed -- a hold is the filter's
    # universal fallback, so stopping is by definition acceptable. The allowed interval for
    # the step therefore always contains 0, which keeps every later stage (joint clip,
    # workspace scaling toward the reference) inside it and the filter idempotent.
    d_lo, d_hi = -step_max, step_max
    if v_prev is not None:
        a_lo = np.minimum(0.0, (v_prev - limits.max_acceleration * dt) * dt)
        a_hi = np.maximum(0.0, (v_prev + limits.max_acceleration * dt) * dt)
        d_lo, d_hi = np.maximum(-step_max, a_lo), np.minimum(step_max, a_hi)
        acc_delta = np.clip(new_delta, d_lo, d_hi)
        for i in np.flatnonzero(np.abs(acc_delta - new_delta) > _TOL * (1.0 + step_max)):
            acc = (new_delta[i] / dt - v_prev[i]) / dt
            iv.append(Intervention("acceleration", names[i], float(acc), float(limits.max_acceleration[i]),
                                   f"{names[i]} acceleration {acc:.4g} rad/s^2 exceeds {limits.max_acceleration[i]:.4g} "
                                   f"(previous velocity {v_prev[i]:.4g} rad/s); scaled"))
        new_delta = acc_delta
    q = ref + new_delta
    # the reference itself may sit outside the joint limits (sensor noise at a hard stop, or
    # limits tightened): clip into the limits, but never beyond the allowed step interval
    # around the reference -- if the limits are out of reach this moves toward them as far
    # as that interval allows.
    q_lim = np.clip(q, limits.lower, limits.upper)
    q_clip = np.clip(q_lim, ref + d_lo, ref + d_hi)
    for i in np.flatnonzero(np.abs(q_clip - q) > _TOL * (1.0 + step_max)):
        recovering = q_clip[i] != q_lim[i]
        iv.append(Intervention("joint_limit", names[i], float(q[i]), float(q_clip[i]),
                               f"{names[i]} reference {ref[i]:.4g} is outside its limits [{limits.lower[i]:.4g}, {limits.upper[i]:.4g}]; "
                               + ("moving toward them as far as the step limits allow (recovery)" if recovering else "target clipped into them")))
    q = q_clip

    # 5. workspace box ---------------------------------------------------------------------
    ws = limits.workspace
    if ws is not None and limits.fk is not None:
        p_cmd = np.asarray(limits.fk(q)[0], dtype=float)
        if not ws.contains(p_cmd):
            # segment start: the reference, pulled into the joint limits as far as one step allows
            base = np.clip(np.clip(ref, limits.lower, limits.upper), ref + d_lo, ref + d_hi)
            p_base = np.asarray(limits.fk(base)[0], dtype=float)
            if not ws.contains(p_base):
                # already outside: only moves that strictly approach the box are allowed
                d_base, d_cmd = ws.violation(p_base), ws.violation(p_cmd)
                if ws.allow_recovery and d_cmd < d_base - 1e-6:
                    iv.append(Intervention("workspace", "tool", d_cmd, 0.0, f"tool point {np.round(p_cmd, 4).tolist()} outside the workspace box; accepted as recovery (distance {d_base:.4g} -> {d_cmd:.4g} m)"))
                else:
                    return _hold(iv, "workspace", "tool", d_cmd, 0.0, f"tool point {np.round(p_cmd, 4).tolist()} outside the workspace box "
                                 f"[{ws.lower.tolist()}, {ws.upper.tolist()}] and not approaching it; holding")
            elif ws.on_violation == "reject":
                return _hold(iv, "workspace", "tool", ws.violation(p_cmd), 0.0, f"tool point {np.round(p_cmd, 4).tolist()} outside the workspace box "
                             f"[{ws.lower.tolist()}, {ws.upper.tolist()}]; rejected, holding")
            else:
                s_in, s_out = 0.0, 1.0
                for _ in range(ws.bisection_steps):
                    mid = 0.5 * (s_in + s_out)
                    if ws.contains(np.asarray(limits.fk(base + mid * (q - base))[0], dtype=float), tol=0.0):
                        s_in = mid
                    else:
                        s_out = mid
                q_ws = base + s_in * (q - base)
                iv.append(Intervention("workspace", "tool", ws.violation(p_cmd), 0.0, f"tool point {np.round(p_cmd, 4).tolist()} outside the workspace box; step scaled back to {s_in:.3f} of the way"))
                q = q_ws

    out[:n] = q
    velocity = (q - ref) / dt
    return SafetyResult(command=out, held=False, interventions=iv, velocity=velocity)


# --------------------------------------------------------------------------------------------
# loading limits from calibration/<rig>/safety.yaml
# --------------------------------------------------------------------------------------------

def _cfg_error(source: str, fieldname: str, problem: str) -> None:
    raise SafetyConfigError(f"{source}: field '{fieldname}': {problem}")


def _vec(data: dict, key: str, n: int, source: str, default=None) -> np.ndarray:
    if key not in data:
        if default is not None:
            return np.asarray(default, dtype=float)
        _cfg_error(source, key, "missing")
    val = data[key]
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        val = [float(val)] * n
    try:
        arr = np.asarray(val, dtype=float)
    except (TypeError, ValueError):
        _cfg_error(source, key, f"must be a number or a list of {n} numbers, got {val!r}")
    if arr.shape != (n,):
        _cfg_error(source, key, f"needs {n} values (one per joint), got {len(np.atleast_1d(arr))}")
    if not np.all(np.isfinite(arr)):
        _cfg_error(source, key, f"must be finite, got {arr.tolist()}")
    return arr


def limits_from_dict(data: dict, source: str = "<dict>", fk: FKFunction | None = None) -> SafetyLimits:
    """Build and validate `SafetyLimits` from a parsed safety.yaml mapping.

    Joint limits may be tighter than the robot spec's, never wider (checked when the robot
    is known). Scalars broadcast to every joint.
    """
    if not isinstance(data, dict):
        raise SafetyConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    allowed = {"robot", "joint_names", "joint_limits", "max_velocity", "max_acceleration", "max_step", "gripper", "workspace", "description"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        _cfg_error(source, unknown[0], f"unknown field; allowed: {sorted(allowed)}")
    robot = data.get("robot")
    if not isinstance(robot, str) or not robot:
        _cfg_error(source, "robot", "missing; set it to the arm name (widowx or ur5e)")
    spec = None
    try:
        from postbc_ros.robots import get_robot_spec

        spec = get_robot_spec(robot)
    except ValueError as e:
        _cfg_error(source, "robot", str(e))
    names = data.get("joint_names", list(spec.joint_names) if spec else None)
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        _cfg_error(source, "joint_names", "must be a list of joint names")
    n = len(names)
    if spec is not None and list(names) != list(spec.joint_names):
        _cfg_error(source, "joint_names", f"must match the {robot} spec order {spec.joint_names}, got {names}")
    jl = data.get("joint_limits")
    if jl is None:
        if spec is None:
            _cfg_error(source, "joint_limits", "missing")
        lower, upper = spec.lower.copy(), spec.upper.copy()
        margin = 0.0
    else:
        if not isinstance(jl, dict):
            _cfg_error(source, "joint_limits", "must be a mapping with lower/upper (rad) and optional margin")
        lower = _vec(jl, "lower", n, source + " joint_limits", spec.lower if spec is not None else None)
        upper = _vec(jl, "upper", n, source + " joint_limits", spec.upper if spec is not None else None)
        margin = float(jl.get("margin", 0.0))
        if not (math.isfinite(margin) and margin >= 0):
            _cfg_error(source, "joint_limits.margin", f"must be >= 0 rad, got {margin}")
    if spec is not None:
        if np.any(lower < spec.lower - 1e-6) or np.any(upper > spec.upper + 1e-6):
            _cfg_error(source, "joint_limits", f"wider than the {robot} hardware limits {spec.lower.round(4).tolist()} .. {spec.upper.round(4).tolist()}; safety limits may only be tighter")
    lower, upper = lower + margin, upper - margin
    vmax = _vec(data, "max_velocity", n, source)
    amax = _vec(data, "max_acceleration", n, source)
    step = _vec(data, "max_step", n, source)
    if spec is not None and np.any(vmax > spec.velocity_limits + 1e-6):
        _cfg_error(source, "max_velocity", f"exceeds the {robot} velocity limits {spec.velocity_limits.round(4).tolist()} rad/s")
    grip = data.get("gripper", {"min": 0.0, "max": 1.0})
    if grip is None:
        grange = None
    else:
        if not isinstance(grip, dict) or "min" not in grip or "max" not in grip:
            _cfg_error(source, "gripper", "must be a mapping {min, max} (normalised 0 = open, 1 = closed) or null for no gripper")
        try:
            grange = (float(grip["min"]), float(grip["max"]))
        except (TypeError, ValueError):
            _cfg_error(source, "gripper", f"min/max must be numbers, got {grip}")
    ws = data.get("workspace")
    box = None
    if ws is not None:
        if not isinstance(ws, dict) or "min" not in ws or "max" not in ws:
            _cfg_error(source, "workspace", "must be a mapping with min: [x, y, z] and max: [x, y, z] (metres, base frame)")
        box = WorkspaceBox(
            lower=_vec(ws, "min", 3, source + " workspace"),
            upper=_vec(ws, "max", 3, source + " workspace"),
            on_violation=str(ws.get("on_violation", "scale")),
            allow_recovery=bool(ws.get("allow_recovery", True)),
        )
    if fk is None and spec is not None:
        fk = spec.fk
    limits = SafetyLimits(
        robot=robot, joint_names=tuple(names), lower=lower, upper=upper, max_velocity=vmax,
        max_acceleration=amax, max_step=step, gripper_range=grange, workspace=box, fk=fk, source=source,
    )
    return limits.validate()


def load_safety_limits(rig_or_path: str | Path, calibration_dir: str | Path | None = None) -> SafetyLimits:
    """Load ``calibration/<rig>/safety.yaml`` (or an explicit YAML path) as `SafetyLimits`."""
    import yaml

    from postbc_ros.resources import calibration_root

    p = Path(rig_or_path)
    if p.suffix in (".yaml", ".yml"):
        path = p
    else:
        root = Path(calibration_dir) if calibration_dir is not None else calibration_root()
        path = root / str(rig_or_path) / "safety.yaml"
    if not path.is_file():
        raise SafetyConfigError(
            f"{path}: safety limits file not found. Create it by copying calibration/widowx/safety.yaml "
            f"(or ur5e/) and editing joint_limits, max_velocity, max_acceleration, max_step, gripper and workspace for this rig."
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SafetyConfigError(f"{path}: not valid YAML: {e}") from e
    return limits_from_dict(data, source=str(path))


def with_limits(limits: SafetyLimits, **changes) -> SafetyLimits:
    """A validated copy of `limits` with some fields replaced (arrays as numpy)."""
    return replace(limits, **changes).validate()


__all__ = [
    "Intervention", "SafetyConfigError", "SafetyLimits", "SafetyResult", "SafetyState", "WorkspaceBox",
    "filter_command", "limits_from_dict", "load_safety_limits", "with_limits",
]
