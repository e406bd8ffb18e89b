"""Safety filter: THE last step before any arm command reaches hardware (or the twin).

`filter_command(cmd, state, limits, dt)` is a pure function. It either returns a command that
satisfies every configured limit, or asks the caller to hold the arm (`command is None`). It
never raises for any *command* or *state* (a policy that emits NaN, a tensor that still needs
its gradient, a string, None, a dict, an object array, a 0-d array: each is a hold with an
`Intervention` naming the reason); it raises only for a malformed `SafetyLimits` or `dt`, which
are programming/configuration errors. Limits and their file schema live in `safety_limits`.

Command layout: ``[q_1 .. q_n, gripper]`` (n arm joints, then the normalised gripper command,
0 = open, 1 = closed) when the limits have a gripper range, otherwise ``[q_1 .. q_n]``. Anything
numpy reads as a 1-D array of real numbers (float or integer dtype, any precision; lists, CPU
torch tensors) is a command; booleans, strings, complex and object arrays are not.

Checks, in order (each modification is reported as an `Intervention`):

1. type, shape and finiteness of the command and of the measured state -> reject and hold;
2. gripper range -> clip;
3. joint position limits -> clip;
4. maximum joint step per command, velocity and acceleration limits relative to the
   reference (the previous command if there is one, else the measured position) -> scale
   each joint's step into the allowed interval;
5. Cartesian workspace box of the tool point (forward kinematics) -> reject (hold) or scale
   the step back along the segment from the reference, depending on `workspace.on_violation`.

Guarantee (tested with hypothesis for arbitrary inputs, and by `postbc bench safety`): a
returned command has the right length, is finite, lies inside the joint limits and the gripper
range, moves no joint more than ``min(max_step, max_velocity*dt)`` from the reference, and puts
the tool point inside the workspace box, and changes no joint velocity by more than
``max_acceleration*dt`` except toward standstill (braking is always allowed: holding is the
universal safe fallback, and a filter that forced motion to respect a deceleration bound would
carry the arm past where the policy asked it to stop). Exceptions are *recoveries*: a joint
whose reference lies outside its limits by more than it may move in one period moves toward
them as far as allowed, and when the reference tool point is already outside the box
(`allow_recovery`) a command is only accepted if it strictly reduces the distance to the box.

Speed: this runs once per servo period (2 ms at a UR's 500 Hz), so the hot path reads limits
prepared once per `SafetyLimits`, runs the per-joint stages on Python floats (a handful per
joint: cheaper than numpy calls on 6-element arrays, same IEEE arithmetic), formats intervention
messages only when they are read, and evaluates the tool point of single joint vectors with the
chain on Python floats (`PointChain.point`, ~2 µs against ~10 µs for a numpy batch of one): once
per command, and for a step that leaves the box a handful of times while `_scale_into_box`
narrows a bracket with a bisection and then chord estimates (5-6 evaluations at the median)
instead of 20 bisection steps of a numpy FK each. `postbc bench safety` measures it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from postbc_ros.core.safety_limits import (  # noqa: F401  (re-exported: the filter's public API)
    CHECK_TOL,
    FKFunction,
    SafetyConfigError,
    SafetyLimits,
    WorkspaceBox,
    limits_from_dict,
    load_safety_limits,
    with_limits,
)

_TOL = CHECK_TOL
#: a move out of the box counts as a recovery only if it gets closer to the box by this much [m]
RECOVERY_GAIN_M = 1e-6
#: boundary search: at most this many tool-point evaluations (~2 µs each on Python floats);
#: bisection alone needs log2(1/resolution) = 10 at the default resolution; the search bisects
#: once, then places chord estimates (5-6 evaluations in all at the median, 7-10 at the 99th
#: percentile on the four rigs), bisecting again after SEARCH_SLOW_ROUNDS that did not halve it
SEARCH_EVALS = 32
#: a chord round's two candidates sit this fraction of the resolution either side of the chord's
#: estimate of the exit: two good guesses close the bracket to within the resolution
SEARCH_PAIR = 0.45
#: chord rounds in a row that may fail to halve the bracket before a bisection (the first round's
#: chord spans the whole step and often misses; the next, from a point just inside, rarely does)
SEARCH_SLOW_ROUNDS = 2
#: candidates stay this far inside the bracket (fraction of its width)
_SEARCH_EDGE = 1e-9
_F64 = np.dtype(np.float64)


class Intervention:
    """One modification or rejection performed by the filter.

    kind: invalid_type | invalid_shape | non_finite | invalid_state | gripper_limit | joint_limit |
          max_step | velocity | acceleration | workspace | filter_error
    joint: joint name (or "gripper", "tool" for the workspace, "command" for whole-vector checks,
    "state" / "last_command" / "velocity" for the measured state)
    value: the offending value (requested), limit: the bound that was applied.
    message: the explanation. Built as ``Intervention(kind, joint, value, limit, message)``; the
    filter passes ``message % args`` as a template and its arguments instead, formatted when the
    message is first read (a filter call may report a dozen joints; formatting them all would
    cost more than the filtering). A value object: treat it as immutable.
    """

    __slots__ = ("kind", "joint", "value", "limit", "_message", "_args")

    def __init__(self, kind: str, joint: str, value: float, limit: float, message: str, args: tuple | None = None):
        self.kind, self.joint, self.value, self.limit = kind, joint, value, limit
        self._message, self._args = message, args

    @property
    def message(self) -> str:
        if self._args is not None:
            self._message, self._args = self._message % self._args, None
        return self._message

    def _key(self) -> tuple:
        return (self.kind, self.joint, self.value, self.limit, self.message)

    def __eq__(self, other) -> bool:
        return isinstance(other, Intervention) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Intervention(kind={self.kind!r}, joint={self.joint!r}, value={self.value!r}, limit={self.limit!r}, "
                f"message={self.message!r})")


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


def _describe(x: Any) -> str:
    """A short description of an input for a hold message (never raises, cheap: no array repr)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        text = repr(x)
        return text if len(text) <= 60 else text[:57] + "..."
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is not None:
        return f"{type(x).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return f"a {type(x).__name__}"


def _as_vector(x: Any) -> tuple[np.ndarray | None, tuple[str, str] | None]:
    """`x` as a 1-D float64 array, or (None, (kind, why)) when it is not one."""
    if type(x) is np.ndarray and x.dtype is _F64 and x.ndim == 1:
        return x, None
    try:
        arr = np.asarray(x)
        kind = arr.dtype.kind
        if kind not in "fiu":
            return None, ("invalid_type", f"must be real numbers, got {type(x).__name__} with dtype {arr.dtype}")
        if arr.ndim != 1:
            return None, ("invalid_shape", f"must be a flat vector, got {type(x).__name__} of shape {arr.shape}")
        return arr.astype(np.float64), None  # wider floats beyond float64's range become inf (held)
    except Exception as e:  # ragged lists, tensors needing grad or on a GPU, objects whose __array__ raises
        return None, ("invalid_type", f"cannot be read as numbers ({type(x).__name__}: {type(e).__name__}: {e})")


def _bad_state(iv, joint: str, n: int, x: Any, why: str) -> SafetyResult:
    return _hold(iv, "invalid_state", joint, float("nan"), n, f"{why}, got {_describe(x)}; holding")


def filter_command(cmd: Any, state: SafetyState, limits: SafetyLimits, dt: float) -> SafetyResult:
    """Make `cmd` safe to send, or decide to hold. Pure: no I/O, no clock, no mutation.

    cmd: ``[q_1..q_n, gripper]`` (see module docstring); anything else is rejected.
    state: measured joint state and the previously sent command (`SafetyState`).
    limits: `SafetyLimits`; dt: command period [s] (> 0) used for velocity/acceleration.
    """
    if not (isinstance(dt, (int, float, np.floating)) and not isinstance(dt, bool) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"filter_command: dt must be a finite period > 0 seconds, got {dt!r}")
    if not isinstance(limits, SafetyLimits):
        raise TypeError(f"filter_command: limits must be SafetyLimits (load_safety_limits), got {type(limits).__name__}")
    try:
        with np.errstate(all="ignore"):
            return _filter(cmd, state, limits, float(dt))
    except Exception as e:  # last line of defence: a bug here must hold the arm, not kill the controller
        return _hold([], "filter_error", "command", float("nan"), float("nan"),
                     f"safety filter failed ({type(e).__name__}: {e}); holding")


def _filter(cmd: Any, state: SafetyState, limits: SafetyLimits, dt: float) -> SafetyResult:
    h = limits._hot
    n = h.n
    names = h.names
    iv: list[Intervention] = []

    # 1. type, shape and finiteness ---------------------------------------------------------
    c, why = _as_vector(cmd)
    if c is None or c.shape[0] != h.length:
        layout = f"{h.length} numbers ({n} joints{' + gripper' if h.g_lo is not None else ''})"
        if c is None:
            return _hold(iv, why[0], "command", float("nan"), h.length, f"command {why[1]}; expected a flat vector of {layout}; holding")
        return _hold(iv, "invalid_shape", "command", c.shape[0], h.length,
                     f"command must be a flat vector of {layout}, got length {c.shape[0]}; holding")
    cl = c.tolist()
    if not all(map(math.isfinite, cl)):
        bad = [i for i, x in enumerate(cl) if not math.isfinite(x)]
        i = bad[0]
        who = names[i] if i < n else "gripper"
        return _hold(iv, "non_finite", who, cl[i], float("nan"), f"command contains non-finite values at {bad} (first: {who}={cl[i]}); holding")
    if not isinstance(state, SafetyState):
        return _bad_state(iv, "state", n, state, "state must be a SafetyState (q, dq, last_command, last_velocity)")
    q_meas, _ = _as_vector(state.q)
    if q_meas is None or q_meas.shape[0] != n or not all(map(math.isfinite, q_meas.tolist())):
        return _bad_state(iv, "state", n, state.q, f"measured joint state must be {n} finite values")
    ref = q_meas
    if state.last_command is not None:
        lc, _ = _as_vector(state.last_command)
        if lc is None or lc.shape[0] < n or not all(map(math.isfinite, lc[:n].tolist())):
            return _bad_state(iv, "last_command", n, state.last_command, f"state.last_command must hold {n} finite joint values")
        ref = lc[:n]
    v_prev = state.last_velocity if state.last_velocity is not None else state.dq
    if v_prev is not None:
        v_in = v_prev
        v_prev, _ = _as_vector(v_prev)
        if v_prev is None or v_prev.shape[0] != n or not all(map(math.isfinite, v_prev.tolist())):
            return _bad_state(iv, "velocity", n, v_in, f"previous velocity must be {n} finite values")

    g_out = None

    # 2. gripper range ---------------------------------------------------------------------
    if h.g_lo is not None:
        g = cl[n]
        if g < h.g_lo or g > h.g_hi:
            g_out = h.g_lo if g < h.g_lo else h.g_hi
            iv.append(Intervention("gripper_limit", "gripper", g, g_out, "gripper %.4g outside [%s, %s]; clipped", (g, h.g_lo, h.g_hi)))

    # 3.-4., joint by joint: a handful of floats each, cheaper as Python floats than as numpy
    # calls (same IEEE arithmetic); reports are collected per stage, in stage order
    rl = ref.tolist()
    vl = None if v_prev is None else v_prev.tolist()
    lower, upper, step_l, vmax_l, amax_l = h.lower_l, h.upper_l, h.step_l, h.vmax_l, h.amax_l
    q_out, base, bounds = [0.0] * n, [0.0] * n, [0.0] * n
    limit_iv, step_iv, acc_iv, ref_iv = [], [], [], []
    for i in range(n):
        x, lo, hi, r = cl[i], lower[i], upper[i], rl[i]
        # 3. joint position limits: clipped exactly, reported beyond the numerical tolerance (like
        # every other stage): a target 1e-111 rad past a limit is a rounding artefact, e.g. this
        # filter's own previous output when the reference sat at the limit and the acceleration
        # bound forbade reversing
        xc = lo if x < lo else (hi if x > hi else x)
        if xc != x and abs(xc - x) > _TOL:
            limit_iv.append(Intervention("joint_limit", names[i], x, xc, "%s target %.4g rad outside [%.4g, %.4g]; clipped",
                                         (names[i], x, lo, hi)))
        # 4. step / velocity relative to the reference
        by_vel = vmax_l[i] * dt
        sm = step_l[i] if step_l[i] <= by_vel else by_vel
        bounds[i] = sm
        d = xc - r
        nd = -sm if d < -sm else (sm if d > sm else d)
        moved = nd != d
        if moved and abs(d) > sm * (1 + _TOL) + _TOL:
            if step_l[i] <= by_vel:
                step_iv.append(Intervention("max_step", names[i], d, sm, "%s step %.4g rad exceeds %.4g rad per command (max_step); scaled",
                                            (names[i], d, sm)))
            else:
                step_iv.append(Intervention("velocity", names[i], d, sm, "%s step %.4g rad exceeds %.4g rad per command "
                                            "(max_velocity %.4g rad/s x dt %.4g s); scaled", (names[i], d, sm, vmax_l[i], dt)))
        # acceleration: a joint may speed up (or reverse) by at most max_acceleration*dt per
        # period, but braking toward standstill is always allowed -- a hold is the filter's
        # universal fallback, so stopping is by definition acceptable. The allowed interval for
        # the step therefore always contains 0, which keeps every later stage (joint clip,
        # workspace scaling toward the reference) inside it and the filter idempotent.
        d_lo, d_hi = -sm, sm
        if vl is not None:
            v, dv = vl[i], amax_l[i] * dt
            a_lo, a_hi = (v - dv) * dt, (v + dv) * dt
            a_lo, a_hi = (a_lo if a_lo < 0.0 else 0.0), (a_hi if a_hi > 0.0 else 0.0)
            d_lo, d_hi = (d_lo if d_lo > a_lo else a_lo), (d_hi if d_hi < a_hi else a_hi)
            na = d_lo if nd < d_lo else (d_hi if nd > d_hi else nd)
            if na != nd:
                moved = True
                if abs(na - nd) > _TOL * (1.0 + sm):
                    acc = (nd / dt - v) / dt
                    acc_iv.append(Intervention("acceleration", names[i], acc, amax_l[i],
                                               "%s acceleration %.4g rad/s^2 exceeds %.4g (previous velocity %.4g rad/s); scaled",
                                               (names[i], acc, amax_l[i], v)))
                nd = na
        # an unmodified step keeps the (clipped) target bit for bit: ref + (q - ref) may round
        qi = r + nd if moved else xc
        # the reference itself may sit outside the joint limits (sensor noise at a hard stop, or
        # limits tightened): clip into the limits, but never beyond the allowed step interval
        # around the reference -- if the limits are out of reach this moves toward them as far
        # as that interval allows.
        r_lo, r_hi = r + d_lo, r + d_hi
        q_lim = lo if qi < lo else (hi if qi > hi else qi)
        q_clip = r_lo if q_lim < r_lo else (r_hi if q_lim > r_hi else q_lim)
        if q_clip != qi and abs(q_clip - qi) > _TOL * (1.0 + sm):
            ref_iv.append(Intervention("joint_limit", names[i], qi, q_clip, "%s reference %.4g is outside its limits [%.4g, %.4g]; %s",
                                       (names[i], r, lo, hi, "moving toward them as far as the step limits allow (recovery)"
                                        if q_clip != q_lim else "target clipped into them")))
        q_out[i] = q_clip
        # segment start of the workspace stage: the reference, pulled into the joint limits as far as one step allows
        b = lo if r < lo else (hi if r > hi else r)
        base[i] = r_lo if b < r_lo else (r_hi if b > r_hi else b)
    for part in (limit_iv, step_iv, acc_iv, ref_iv):
        if part:
            iv.extend(part)

    # 5. workspace box: the command's tool point on Python floats (`PointChain.point`) ------------
    if h.ws is not None:
        p_cmd = h.point(q_out)
        if not _inside(p_cmd, h.box_lo_tol, h.box_hi_tol):
            q_ws = _workspace(iv, h, q_out, base, p_cmd)
            if q_ws is None:
                return SafetyResult(command=None, held=True, interventions=iv, velocity=None)
            q_out = q_ws
    q = np.array(q_out)

    out = c.copy()
    out[:n] = q
    if g_out is not None:
        out[n] = g_out
    return SafetyResult(command=out, held=False, interventions=iv, velocity=(q - ref) / dt)


def _inside(p: list[float], lo: list[float], hi: list[float]) -> bool:
    return lo[0] <= p[0] <= hi[0] and lo[1] <= p[1] <= hi[1] and lo[2] <= p[2] <= hi[2]


def _distance(p: list[float], lo: list[float], hi: list[float]) -> float:
    """Euclidean distance from `p` to the box [lo, hi] (0 inside)."""
    return math.sqrt(sum(max(a - x, 0.0, x - b) ** 2 for x, a, b in zip(p, lo, hi)))


def _workspace(iv: list[Intervention], h, q: list[float], base: list[float], p_cmd: list[float]) -> list[float] | None:
    """The command `q`'s tool point `p_cmd` is outside the box: a scaled step from `base` (the
    segment start), or None to hold (reported in `iv`)."""
    ws = h.ws
    lo, hi = h.box_lo_list, h.box_hi_list
    d_cmd = _distance(p_cmd, lo, hi)
    box = h.box_text
    tool = "tool point [%.4f, %.4f, %.4f] outside the workspace box"
    p_base = h.point(base)
    if not _inside(p_base, h.box_lo_tol, h.box_hi_tol):
        # already outside: only moves that strictly approach the box are allowed
        d_base = _distance(p_base, lo, hi)
        if ws.allow_recovery and d_cmd < d_base - RECOVERY_GAIN_M:
            iv.append(Intervention("workspace", "tool", d_cmd, 0.0, tool + "; accepted as recovery (distance %.4g -> %.4g m)",
                                   (*p_cmd, d_base, d_cmd)))
            return q
        iv.append(Intervention("workspace", "tool", d_cmd, 0.0, tool + " %s and not approaching it; holding", (*p_cmd, box)))
        return None
    if ws.on_violation == "reject":
        iv.append(Intervention("workspace", "tool", d_cmd, 0.0, tool + " %s; rejected, holding", (*p_cmd, box)))
        return None
    q_ws, s = _scale_into_box(h, base, [a - b for a, b in zip(q, base)], p_base, p_cmd)
    iv.append(Intervention("workspace", "tool", d_cmd, 0.0, tool + "; step scaled back to %.3f of the way", (*p_cmd, s)))
    return q_ws


def _chord_exit(p0: list[float], p1: list[float], lo: list[float], hi: list[float]) -> float:
    """Fraction of the straight segment p0 -> p1 (p0 inside) at which it leaves the box [lo, hi]."""
    t = 1.0
    for a in range(3):
        x0, x1 = p0[a], p1[a]
        if x1 > hi[a] and x1 > x0:
            t = min(t, (hi[a] - x0) / (x1 - x0))
        elif x1 < lo[a] and x1 < x0:
            t = min(t, (lo[a] - x0) / (x1 - x0))
    return max(t, 0.0)


def _scale_into_box(h, base: list[float], step: list[float], p_base: list[float],
                    p_cmd: list[float]) -> tuple[list[float], float]:
    """The farthest point of the step found inside the box (the segment start is inside), and its fraction.

    A bracket [s_in, s_out] of the step (tool point inside at s_in, outside at s_out), first the
    whole step, is narrowed by evaluating the tool point of single joint vectors: first its
    midpoint, then per round two candidates either side of where the chord between the bracket's
    tool points leaves the box (the tool path is nearly straight over a short bracket: the
    estimate's error shrinks with the square of the bracket's width), or the midpoint again after
    SEARCH_SLOW_ROUNDS rounds in a row that did not halve the bracket.
    The returned joint vector is the very one whose tool point was found inside the box (shrunk
    by the chain's agreement with fk), so the guarantee does not depend on the estimates, only
    the distance to the boundary does (within `WorkspaceBox.resolution` of the step unless the
    SEARCH_EVALS budget ran out first).
    """
    in_lo, in_hi = h.in_lo_list, h.in_hi_list
    resolution, point = h.ws.resolution, h.point
    s_in, q_in, p_in = 0.0, base, p_base
    s_out, p_out = 1.0, p_cmd
    evals, bisect, slow = 0, True, 0  # first the midpoint: the chord over the whole step is often far off
    while s_out - s_in > resolution and evals < SEARCH_EVALS:
        width = s_out - s_in
        if bisect:
            cands = (s_in + 0.5 * width,)
        else:
            guess = s_in + width * _chord_exit(p_in, p_out, in_lo, in_hi)
            cands = (guess - SEARCH_PAIR * resolution, guess + SEARCH_PAIR * resolution)
        for s in cands:
            edge = _SEARCH_EDGE * (s_out - s_in)
            s = min(max(s, s_in + edge), s_out - edge)  # into what is left of the bracket
            if not s_in < s < s_out:
                continue
            q_c = [b + s * d for b, d in zip(base, step)]
            p_c = point(q_c)
            evals += 1
            if _inside(p_c, in_lo, in_hi):
                s_in, q_in, p_in = s, q_c, p_c
            else:
                s_out, p_out = s, p_c
                break  # the next candidate lies beyond the new outside end
        slow = 0 if bisect or (s_out - s_in) <= 0.5 * width else slow + 1
        bisect = slow >= SEARCH_SLOW_ROUNDS
    return q_in, s_in


__all__ = [
    "Intervention", "SafetyConfigError", "SafetyLimits", "SafetyResult", "SafetyState", "WorkspaceBox",
    "filter_command", "limits_from_dict", "load_safety_limits", "with_limits",
]
