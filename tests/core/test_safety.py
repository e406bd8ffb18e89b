"""Safety filter: for ANY input the output is a hold or a command satisfying every limit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from postbc_ros.core.safety import (
    SafetyConfigError,
    SafetyLimits,
    SafetyState,
    WorkspaceBox,
    filter_command,
    limits_from_dict,
    load_safety_limits,
    with_limits,
)
from postbc_ros.robots import get_robot_spec

PROFILES = ["widowx", "ur5e", "widowx_twin", "ur5e_twin"]
LIMITS = {p: load_safety_limits(p) for p in PROFILES}
TOL = 1e-7

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def reference(state: SafetyState, n: int) -> np.ndarray:
    if state.last_command is not None:
        return np.asarray(state.last_command, float)[:n]
    return np.asarray(state.q, float)


def step_interval(state: SafetyState, limits: SafetyLimits, dt: float):
    """Allowed per-joint step interval [d_lo, d_hi] around the reference, from the docs."""
    step = np.minimum(limits.max_step, limits.max_velocity * dt)
    d_lo, d_hi = -step, step
    v_prev = state.last_velocity if state.last_velocity is not None else state.dq
    if v_prev is not None:
        v_prev = np.asarray(v_prev, float)
        lo = np.minimum(0.0, v_prev - limits.max_acceleration * dt)
        hi = np.maximum(0.0, v_prev + limits.max_acceleration * dt)
        d_lo, d_hi = np.maximum(-step, lo * dt), np.minimum(step, hi * dt)
    return d_lo, d_hi


def unreachable_joints(state: SafetyState, limits: SafetyLimits, dt: float) -> set[str]:
    """Joints whose reference lies outside the limits further than one allowed step."""
    ref = reference(state, limits.n_joints)
    d_lo, d_hi = step_interval(state, limits, dt)
    target = np.clip(ref, limits.lower, limits.upper)
    bad = (target < ref + d_lo - 1e-12) | (target > ref + d_hi + 1e-12)
    return {limits.joint_names[i] for i in np.flatnonzero(bad)}


def assert_safe(res, state: SafetyState, limits: SafetyLimits, dt: float) -> None:
    """Every documented guarantee of filter_command, checked independently of its code."""
    if res.held:
        assert res.command is None
        assert res.interventions, "a hold must say why"
        return
    n = limits.n_joints
    c = res.command
    assert c is not None and c.shape == (limits.command_length,)
    assert np.all(np.isfinite(c))
    g_lo, g_hi = limits.gripper_range
    assert g_lo - TOL <= c[n] <= g_hi + TOL
    q = c[:n]
    ref = reference(state, n)
    step = np.minimum(limits.max_step, limits.max_velocity * dt)
    assert np.all(np.abs(q - ref) <= step * (1 + 1e-9) + 1e-9), "step/velocity bound violated"
    # allowed step interval: step bound, and acceleration except toward standstill
    d_lo, d_hi = -step, step
    v_prev = state.last_velocity if state.last_velocity is not None else state.dq
    if v_prev is not None:
        v_prev = np.asarray(v_prev, float)
        v = (q - ref) / dt
        lo = np.minimum(0.0, v_prev - limits.max_acceleration * dt)
        hi = np.maximum(0.0, v_prev + limits.max_acceleration * dt)
        assert np.all(v >= lo - 1e-6 * (1 + np.abs(lo))) and np.all(v <= hi + 1e-6 * (1 + np.abs(hi))), "acceleration bound violated"
        d_lo, d_hi = np.maximum(-step, lo * dt), np.minimum(step, hi * dt)
    target = np.clip(ref, limits.lower, limits.upper)
    reachable = (target >= ref + d_lo - 1e-12) & (target <= ref + d_hi + 1e-12)
    inside = (q >= limits.lower - TOL) & (q <= limits.upper + TOL)
    assert np.all(inside[reachable]), "joint limits violated"
    for i in np.flatnonzero(~reachable):  # recovery: as far toward the limits as allowed
        assert q[i] == pytest.approx(np.clip(target[i], ref[i] + d_lo[i], ref[i] + d_hi[i]), abs=1e-9)
    ws = limits.workspace
    p = limits.fk(q)[0]
    base = np.clip(target, ref + d_lo, ref + d_hi)
    p_base = limits.fk(base)[0]
    if ws.contains(p_base):
        assert ws.contains(p, tol=1e-7), f"tool point {p} left the workspace box"
    else:
        assert ws.violation(p) < ws.violation(p_base), "outside the box, only approaching moves are allowed"


# ---- strategies -----------------------------------------------------------------------------

wild = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite_big = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def scenario(draw):
    profile = draw(st.sampled_from(PROFILES))
    lim = LIMITS[profile]
    n = lim.n_joints
    spec = get_robot_spec(lim.robot)
    dt = draw(st.sampled_from([1e-4, 0.002, 0.01, 0.05, 0.1, 0.5, 2.0]))
    # measured state: mostly near home, sometimes anywhere (outside limits / the box)
    if draw(st.booleans()):
        q = spec.home + np.array(draw(st.lists(st.floats(-0.6, 0.6), min_size=n, max_size=n)))
    else:
        q = np.array(draw(st.lists(st.floats(-7.0, 7.0), min_size=n, max_size=n)))
    last = None
    if draw(st.booleans()):
        last = np.append(q + np.array(draw(st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n))), 0.5)
    vel = None
    if draw(st.booleans()):
        vel = np.array(draw(st.lists(st.floats(-5.0, 5.0), min_size=n, max_size=n)))
    if draw(st.booleans()):  # measured velocity instead of the previous command's
        state = SafetyState(q=q, dq=vel, last_command=last)
    else:
        state = SafetyState(q=q, dq=None, last_command=last, last_velocity=vel)
    kind = draw(st.sampled_from(["wild", "near", "big", "shape"]))
    if kind == "wild":
        cmd = draw(st.lists(wild, min_size=lim.command_length, max_size=lim.command_length))
    elif kind == "near":
        cmd = list(reference(state, n) + np.array(draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n))))
        cmd.append(draw(st.floats(-0.5, 1.5)))
    elif kind == "big":
        cmd = draw(st.lists(finite_big, min_size=lim.command_length, max_size=lim.command_length))
    else:
        cmd = draw(st.one_of(
            st.lists(wild, min_size=0, max_size=12),
            st.just([[0.0] * lim.command_length]),
            st.just("not a command"),
            st.just(None),
            st.just([[1.0, 2.0], [3.0]]),
        ))
    return lim, state, cmd, dt


@SETTINGS
@given(scenario())
def test_any_input_yields_hold_or_safe_command(sc):
    lim, state, cmd, dt = sc
    res = filter_command(cmd, state, lim, dt)
    assert_safe(res, state, lim, dt)


@SETTINGS
@given(scenario())
def test_idempotent(sc):
    lim, state, cmd, dt = sc
    first = filter_command(cmd, state, lim, dt)
    assume(not first.held)
    second = filter_command(first.command, state, lim, dt)
    assert not second.held
    np.testing.assert_allclose(second.command, first.command, rtol=0, atol=1e-9)
    # only still-true conditions are re-reported: recoveries from outside the limits / box
    recovering = unreachable_joints(state, lim, dt)
    for iv in second.interventions:
        assert iv.joint in recovering or (iv.kind == "workspace" and "recovery" in iv.message), iv


def test_idempotent_at_a_limit_the_joint_cannot_reverse_from():
    """Found by hypothesis: the reference sits 1e-111 rad past wrist_2's upper limit (0) and the
    joint still moves up (+1 rad/s, reversing forbidden this period), so the output keeps that
    rounding-level excess; filtering the output again must not report a joint-limit violation."""
    lim = LIMITS["ur5e"]
    state = SafetyState(q=np.zeros(6), dq=None, last_command=np.array([0, 0, 0, 0, 9.738454348343732e-112, 0, 0.5]),
                        last_velocity=np.array([0.0, 0.0, 1.0, 0.0, 1.0, 0.0]))
    first = filter_command([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], state, lim, 1e-4)
    second = filter_command(first.command, state, lim, 1e-4)
    assert not first.held and not second.held
    np.testing.assert_allclose(second.command, first.command, rtol=0, atol=1e-9)
    assert all(iv.joint != "wrist_2_joint" for iv in first.interventions + second.interventions)
    assert_safe(second, state, lim, 1e-4)


@st.composite
def inside_scenario(draw):
    profile = draw(st.sampled_from(PROFILES))
    lim = LIMITS[profile]
    n = lim.n_joints
    spec = get_robot_spec(lim.robot)
    dt = draw(st.sampled_from([0.002, 0.01, 0.05]))
    q = spec.home + np.array(draw(st.lists(st.floats(-0.15, 0.15), min_size=n, max_size=n)))
    step = lim.step_bound(dt)
    frac = np.array(draw(st.lists(st.floats(-0.9, 0.9), min_size=n, max_size=n)))
    # previous velocity equal to the new one: zero acceleration
    cmd = np.append(q + frac * step, draw(st.floats(0.0, 1.0)))
    vel = frac * step / dt if draw(st.booleans()) else None
    return lim, SafetyState(q=q, last_velocity=vel), cmd, dt


@SETTINGS
@given(inside_scenario())
def test_no_intervention_inside_limits(sc):
    lim, state, cmd, dt = sc
    n = lim.n_joints
    assume(np.all(cmd[:n] > lim.lower) and np.all(cmd[:n] < lim.upper))
    assume(lim.workspace.contains(lim.fk(cmd[:n])[0], tol=-1e-4) and lim.workspace.contains(lim.fk(state.q)[0], tol=-1e-4))
    res = filter_command(cmd, state, lim, dt)
    assert res.ok, res.interventions
    np.testing.assert_array_equal(res.command, cmd)


# ---- targeted behaviour ---------------------------------------------------------------------

W = LIMITS["widowx"]
HOME_W = get_robot_spec("widowx").home


def cmd_w(q, g=0.5):
    return np.append(np.asarray(q, float), g)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rejected(bad):
    c = cmd_w(HOME_W)
    c[2] = bad
    res = filter_command(c, SafetyState(q=HOME_W), W, 0.01)
    assert res.held and res.command is None
    assert res.interventions[0].kind == "non_finite" and res.interventions[0].joint == "elbow"


def test_wrong_length_and_nonfinite_state_rejected():
    assert filter_command(HOME_W, SafetyState(q=HOME_W), W, 0.01).kinds == {"invalid_shape"}
    q = HOME_W.copy()
    q[0] = np.nan
    assert filter_command(cmd_w(HOME_W), SafetyState(q=q), W, 0.01).kinds == {"invalid_state"}
    with pytest.raises(ValueError, match="dt"):
        filter_command(cmd_w(HOME_W), SafetyState(q=HOME_W), W, 0.0)


def test_gripper_and_joint_clip_report_values():
    twin = LIMITS["widowx_twin"]
    q = HOME_W.copy()
    target = q.copy()
    target[0] = 10.0  # far beyond the waist limit
    res = filter_command(cmd_w(target, g=3.0), SafetyState(q=q), twin, 0.01)
    kinds = {(iv.kind, iv.joint) for iv in res.interventions}
    assert ("gripper_limit", "gripper") in kinds and ("joint_limit", "waist") in kinds
    assert res.command[-1] == 1.0
    # then velocity-limited: pi rad/s * 0.01 s
    assert res.command[0] == pytest.approx(q[0] + np.pi * 0.01)


def test_velocity_limit_holds_over_a_stream():
    """A policy asking for a far target repeatedly cannot creep faster than max_velocity."""
    dt = 0.02
    state = SafetyState(q=HOME_W.copy())
    target = HOME_W.copy()
    target[0] += 1.0
    positions = []
    for _ in range(30):
        res = filter_command(cmd_w(target), state, W, dt)
        assert not res.held
        positions.append(res.command[0])
        state = state.after(res, q_measured=res.command[:6])
    speeds = np.abs(np.diff(positions)) / dt
    assert np.all(speeds <= W.max_velocity[0] + 1e-9)
    accel = np.abs(np.diff(np.diff(positions) / dt)) / dt
    assert np.all(accel <= W.max_acceleration[0] + 1e-6)


def test_max_step_applies_even_for_long_dt():
    res = filter_command(cmd_w(HOME_W + 0.3), SafetyState(q=HOME_W), W, 1.0)
    assert "max_step" in res.kinds
    assert np.all(np.abs(res.command[:6] - HOME_W) <= W.max_step + 1e-12)


def test_workspace_scale_and_reject():
    lim = with_limits(LIMITS["widowx_twin"], max_step=np.full(6, 1.0), max_velocity=np.full(6, np.pi), max_acceleration=np.full(6, 1e6))
    target = HOME_W.copy()
    target[1] += 0.8  # shoulder forward: the tool dives below the table (z < 0.02)
    p_target = lim.fk(target)[0]
    assert not lim.workspace.contains(p_target)
    res = filter_command(cmd_w(target), SafetyState(q=HOME_W), lim, 1.0)
    assert "workspace" in res.kinds and not res.held
    p = lim.fk(res.command[:6])[0]
    assert lim.workspace.contains(p)
    assert lim.workspace.violation(p) == 0.0
    # scaled to the boundary, not just anywhere inside: a slightly longer step leaves the box
    s_more = HOME_W + 1.01 * (res.command[:6] - HOME_W)
    assert not lim.workspace.contains(lim.fk(s_more)[0], tol=0.0)
    rej = with_limits(lim, workspace=WorkspaceBox(lim.workspace.lower, lim.workspace.upper, on_violation="reject"))
    res2 = filter_command(cmd_w(target), SafetyState(q=HOME_W), rej, 1.0)
    assert res2.held and res2.interventions[-1].kind == "workspace"


def test_workspace_recovery_only_when_approaching():
    lim = with_limits(LIMITS["widowx_twin"], max_step=np.full(6, 1.0), max_acceleration=np.full(6, 1e6))
    outside = HOME_W.copy()
    outside[1] += 0.8
    assert not lim.workspace.contains(lim.fk(outside)[0])
    back = filter_command(cmd_w(HOME_W), SafetyState(q=outside), lim, 1.0)
    assert back.ok and lim.workspace.contains(lim.fk(back.command[:6])[0])
    closer = outside.copy()
    closer[1] -= 0.05
    assert not lim.workspace.contains(lim.fk(closer)[0])
    part = filter_command(cmd_w(closer), SafetyState(q=outside), lim, 1.0)
    assert not part.held and "recovery" in part.interventions[-1].message
    away = outside.copy()
    away[1] += 0.2
    assert filter_command(cmd_w(away), SafetyState(q=outside), lim, 1.0).held


def test_acceleration_scaled_when_feasible():
    dt = 0.01
    state = SafetyState(q=HOME_W, last_velocity=np.zeros(6))
    target = HOME_W + 0.05
    res = filter_command(cmd_w(target), state, W, dt)
    v = (res.command[:6] - HOME_W) / dt
    assert np.all(np.abs(v) <= W.max_acceleration * dt + 1e-9)
    assert "acceleration" in res.kinds


# ---- limits files ---------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_home_is_safe(profile):
    lim = LIMITS[profile]
    spec = get_robot_spec(lim.robot)
    assert np.all(spec.home >= lim.lower) and np.all(spec.home <= lim.upper)
    assert lim.workspace.contains(lim.fk(spec.home)[0])
    assert np.all(lim.lower >= spec.lower - 1e-6) and np.all(lim.upper <= spec.upper + 1e-6)


def test_missing_file_names_path_and_fix(tmp_path: Path):
    with pytest.raises(SafetyConfigError, match=r"nope/safety.yaml.*not found.*copying"):
        load_safety_limits("nope", calibration_dir=tmp_path)


def _base_dict():
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "calibration/widowx/safety.yaml").read_text())


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(max_velocity=[1.0, 2.0]), "max_velocity"),
        (lambda d: d.update(max_step=-1), "max_step"),
        (lambda d: d["joint_limits"].update(lower=[-9] * 6), "joint_limits.lower[0]"),
        (lambda d: d.update(robot="kuka"), "robot"),
        (lambda d: d.update(speed=3), "speed"),
        (lambda d: d["workspace"].update(min=[0.6, 0, 0]), "workspace"),
        (lambda d: d["workspace"].update(on_violation="ignore"), "workspace.on_violation"),
        (lambda d: d.update(max_velocity=10.0), "max_velocity"),
        (lambda d: d.update(gripper={"min": 0}), "gripper"),
    ],
)
def test_bad_fields_named(tmp_path: Path, mutate, field):
    import yaml

    d = _base_dict()
    mutate(d)
    path = tmp_path / "rig" / "safety.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(SafetyConfigError) as ei:
        load_safety_limits("rig", calibration_dir=tmp_path)
    msg = str(ei.value)
    assert str(path) in msg and f"'{field}'" in msg


def test_scalars_broadcast_and_margin():
    d = _base_dict()
    lim = limits_from_dict(d, source="x.yaml")
    assert lim.max_acceleration.shape == (6,) and np.all(lim.max_acceleration == 6.0)
    assert lim.lower[0] == pytest.approx(-1.5708 + 0.02)
