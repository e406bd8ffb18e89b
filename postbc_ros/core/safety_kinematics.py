"""The tool point of one joint vector on Python floats: the safety filter's forward kinematics.

The filter checks the tool point against the workspace box on every command and, when a step
leaves the box, searches along the step for the boundary with a handful more evaluations.
Calling a robot's `fk(q)` (a chain of 4x4 products with numpy, ~30 µs) or a numpy batch of one
(~10 µs: per-call overhead on 6-element arrays) costs more than the rest of the filter, so it
evaluates a `PointChain` on Python floats (~2 µs):

    p(q) = F_0 R(q_1) F_1 R(q_2) ... R(q_m) v

(F_i fixed rigid transforms, R a rotation about a principal axis, v the tool point in the last
frame). Every serial arm of revolute joints about principal axes has this form; the chain is
built from the constants the robot module's own `fk` uses (URDF-style `JOINT_OFFSETS`/
`JOINT_AXES`/`TOOL_OFFSET`, or standard DH `DH_D`/`DH_A`/`DH_ALPHA` with a `TOOL_OFFSET` along
the flange z axis) and is only used after it reproduced `fk` at `CHECK_CONFIGS` random joint
vectors to `AGREEMENT_M`. Trailing joints that cannot move the tool point (a wrist roll about the
axis through it) are dropped. Any other `fk` is called as it is (`FkPoint`): slower, same answers.
"""
from __future__ import annotations

import functools
import math
import sys
from typing import Callable

import numpy as np

#: random joint vectors at which a built chain must reproduce the robot's fk before it is used
CHECK_CONFIGS = 64
#: largest tool-point disagreement [m] with the robot's fk accepted at those vectors (float
#: round-off of a 6-link chain is ~1e-16 m; the filter shrinks the box by this much when it
#: certifies a scaled step, so the reference fk puts the output inside the box too)
AGREEMENT_M = 1e-12
#: a trailing joint is dropped when its rotation moves the tool point by less than this [m]
INVARIANT_M = 1e-15

_AXES = {"x": 0, "y": 1, "z": 2}


def _axis_parts(axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rot_axis(q) = E0 + cos(q) Ec + sin(q) Es as homogeneous 4x4 constants."""
    e0, ec, es = np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 4))
    e0[axis, axis] = e0[3, 3] = 1.0
    i, j = [k for k in range(3) if k != axis]
    if axis == 1:  # rot_y: [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        i, j = j, i
    ec[i, i] = ec[j, j] = 1.0
    es[i, j], es[j, i] = -1.0, 1.0
    return e0, ec, es


def _mixed(axis: int) -> tuple[int, int]:
    """The coordinates (i, j) a rotation about `axis` mixes: w_i' = c w_i - s w_j, w_j' = s w_i + c w_j."""
    return (axis + 1) % 3, (axis + 2) % 3


def _translation(p) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = p
    return t


def _rot_x(a: float) -> np.ndarray:
    t = np.eye(4)
    c, s = np.cos(a), np.sin(a)
    t[1:3, 1:3] = [[c, -s], [s, c]]
    return t


class PointChain:
    """The tool position of ``F_0 R(q_1) F_1 R(q_2) ... R(q_n) F_n`` applied to the origin.

    fixed: n + 1 homogeneous 4x4 transforms; axes: n joint axes (0 = x, 1 = y, 2 = z).
    """

    def __init__(self, fixed: list[np.ndarray], axes: list[int]):
        n = len(axes)
        if len(fixed) != n + 1:
            raise ValueError(f"PointChain: {n} joints need {n + 1} fixed transforms, got {len(fixed)}")
        v = fixed[-1][:, 3].copy()  # tool point in the frame after the last joint
        # drop trailing joints whose rotation leaves the tool point where it is
        while n > 1:
            _, ec, es = _axis_parts(axes[n - 1])
            if np.abs(ec @ v).max() > INVARIANT_M or np.abs(es @ v).max() > INVARIANT_M:
                break
            v = fixed[n - 1] @ v
            n -= 1
            fixed = fixed[:n] + [np.eye(4)]  # fixed[n] (now identity) was folded into v
        self.n_joints = len(axes)
        self.used = n  # joints that move the tool point (the first `used`)
        pre = [fixed[0]] + fixed[1:n]  # transform in front of each joint
        # one point on Python floats (`point`): per joint, from the tool inward, the rotation about
        # its axis mixes two coordinates of w, then its fixed transform (R, t) moves w
        self._scalar = [(tuple(p[:3, :3].reshape(9).tolist()), tuple(p[:3, 3].tolist()), *_mixed(a))
                        for p, a in zip(pre, axes[:n])][::-1]
        self._v = tuple(v[:3].tolist())

    def point(self, q) -> list[float]:
        """The tool position [x, y, z] of ONE joint vector `q` (a sequence of floats)."""
        x, y, z = self._v
        cos, sin = math.cos, math.sin
        k = self.used
        for (r0, r1, r2, r3, r4, r5, r6, r7, r8), (t0, t1, t2), i, j in self._scalar:
            k -= 1
            c, s = cos(q[k]), sin(q[k])
            w = [x, y, z]
            wi, wj = w[i], w[j]
            w[i], w[j] = c * wi - s * wj, s * wi + c * wj
            a, b, d = w
            x, y, z = r0 * a + r1 * b + r2 * d + t0, r3 * a + r4 * b + r5 * d + t1, r6 * a + r7 * b + r8 * d + t2
        return [x, y, z]


class FkPoint:
    """The tool position from any single-configuration `fk(q) -> (pos, rot)` (no chain known for it)."""

    def __init__(self, fk: Callable):
        self.fk = fk

    def point(self, q) -> list[float]:
        return np.asarray(self.fk(np.asarray(q, dtype=float))[0], dtype=float).tolist()


def _chain_from_module(mod) -> PointChain | None:
    """A chain from the kinematic constants of a robot module, or None if it has none we know."""
    if all(hasattr(mod, a) for a in ("JOINT_OFFSETS", "JOINT_AXES", "TOOL_OFFSET")):
        offs = np.asarray(mod.JOINT_OFFSETS, dtype=float)
        axes = [_AXES[a] for a in mod.JOINT_AXES]
        # URDF joints: origin translation, then rotation about the axis; then the tool offset
        fixed = [_translation(offs[0])] + [_translation(o) for o in offs[1:]] + [_translation(np.asarray(mod.TOOL_OFFSET, float))]
        return PointChain(fixed, axes)
    if all(hasattr(mod, a) for a in ("DH_D", "DH_A", "DH_ALPHA", "TOOL_OFFSET")) and np.ndim(mod.TOOL_OFFSET) == 0:
        d, a, alpha = (np.asarray(x, dtype=float) for x in (mod.DH_D, mod.DH_A, mod.DH_ALPHA))
        # standard DH: Rz(theta) Tz(d) Tx(a) Rx(alpha); the tool sits TOOL_OFFSET along flange z
        links = [_translation([a[i], 0.0, d[i]]) @ _rot_x(alpha[i]) for i in range(len(d))]
        fixed = [np.eye(4)] + links[:-1] + [links[-1] @ _translation([0.0, 0.0, float(mod.TOOL_OFFSET)])]
        return PointChain(fixed, [2] * len(d))
    return None


def _agrees(chain, fk: Callable, n: int) -> bool:
    """`chain.point` reproduces `fk` to AGREEMENT_M at CHECK_CONFIGS random joint vectors."""
    rng = np.random.default_rng(0)
    q = rng.uniform(-np.pi, np.pi, (CHECK_CONFIGS, n))
    try:
        ref = np.array([np.asarray(fk(row)[0], dtype=float) for row in q])
        got = np.array([chain.point(row) for row in q.tolist()])
    except Exception:  # a chain that cannot even run is not used
        return False
    return bool(got.shape == ref.shape and np.all(np.abs(got - ref) <= AGREEMENT_M))


@functools.lru_cache(maxsize=32)
def _chain_for_function(fn: Callable, n: int) -> PointChain | None:
    mod = sys.modules.get(getattr(fn, "__module__", "") or "")
    chain = _chain_from_module(mod) if mod is not None else None
    if chain is None or chain.n_joints != n or not _agrees(chain, fn, n):
        return None
    return chain


def tool_point(fk: Callable, n_joints: int) -> PointChain | FkPoint:
    """An object whose `point(q)` is the tool position `fk` computes (pos part).

    A `RobotSpec.fk` of a robot module with known kinematic constants gets a verified
    `PointChain`; anything else an `FkPoint` that calls `fk`.
    """
    owner = getattr(fk, "__self__", None)
    inner = getattr(owner, "_fk", None)  # RobotSpec.fk wraps the module's fk with input checks
    for fn in (inner, fk):
        if fn is not None:
            try:
                chain = _chain_for_function(fn, n_joints)
            except TypeError:  # unhashable callable
                chain = None
            if chain is not None:
                return chain
    return FkPoint(fk)


__all__ = ["AGREEMENT_M", "FkPoint", "PointChain", "tool_point"]
