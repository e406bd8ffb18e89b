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


@pytest.mark.parametrize(
    "mutate, field, hint",
    [
        (lambda d: d.update(max_step=50), "max_step", "(0, 0.5] rad per command"),
        (lambda d: d.update(max_acceleration=1e9), "max_acceleration", "(0, 50] rad/s^2"),
        (lambda d: d["workspace"].update(min=[-100, -100, -100], max=[100, 100, 100]), "workspace.min[0]", "[-2, 2] m"),
        (lambda d: d["workspace"].update(allow_recovery="false"), "workspace.allow_recovery", "without quotes"),
        (lambda d: d["workspace"].update(allow_recovery=0), "workspace.allow_recovery", "true or false"),
        (lambda d: d.update(max_step="0.05"), "max_step", "without quotes"),
        (lambda d: d.update(max_step=float("nan")), "max_step", "finite"),
        (lambda d: d.update(max_acceleration=float("inf")), "max_acceleration", "finite"),
        (lambda d: d.update(max_velocity=[1.0, 1.0, -1.0, 1.0, 1.0, 1.0]), "max_velocity[2]", "(0, 3.14159]"),
        (lambda d: d.update(max_velocity=True), "max_velocity", "bool"),
        (lambda d: d.update(max_step=None), "max_step", "a number or a list of 6 numbers"),
        (lambda d: d["joint_limits"].update(margin=1.0), "joint_limits.margin", "[0, 0.5] rad"),
        (lambda d: d["joint_limits"].update(margn=0.1), "joint_limits.margn", "unknown field"),
        (lambda d: d["workspace"].update(alow_recovery=True), "workspace.alow_recovery", "unknown field"),
        (lambda d: d["gripper"].update(max=2.0), "gripper.max", "[0, 1]"),
        (lambda d: d.update(gripper={"min": 0.6, "max": 0.4}), "gripper", "min must be < max"),
        (lambda d: d.update(max_sep=0.1), "max_sep", "unknown field"),
        (lambda d: d.pop("robot"), "robot", "widowx or ur5e"),
        (lambda d: d.update(description=3), "description", "text"),
    ],
)
def test_schema_refuses_unphysical_values(tmp_path: Path, mutate, field, hint):
    """Values only a typo produces, YAML strings posing as numbers/booleans, unknown keys: refused
    with the file, the field and the allowed range (or the fix) named."""
    import yaml

    d = _base_dict()
    mutate(d)
    path = tmp_path / "rig" / "safety.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(SafetyConfigError) as ei:
        load_safety_limits("rig", calibration_dir=tmp_path)
    msg = str(ei.value)
    assert str(path) in msg and f"'{field}'" in msg and hint in msg, msg
    with pytest.raises(SafetyConfigError, match=f"'{field.replace('[', '.').replace(']', '.')}'"):
        limits_from_dict(d, source="dict")  # the same schema for a mapping built in code


def test_yaml_string_false_is_not_true(tmp_path: Path):
    """The finding: `allow_recovery: "false"` used to be read as true."""
    text = (Path(__file__).resolve().parents[2] / "calibration/widowx/safety.yaml").read_text()
    text = text.replace("allow_recovery: true", 'allow_recovery: "false"')
    (tmp_path / "rig").mkdir()
    (tmp_path / "rig" / "safety.yaml").write_text(text)
    with pytest.raises(SafetyConfigError, match="allow_recovery.*must be true or false"):
        load_safety_limits("rig", calibration_dir=tmp_path)
    (tmp_path / "rig" / "safety.yaml").write_text(text.replace('"false"', "false"))
    assert load_safety_limits("rig", calibration_dir=tmp_path).workspace.allow_recovery is False


@pytest.mark.parametrize("profile", PROFILES)
def test_rig_must_match_the_robot(profile):
    own = LIMITS[profile].robot
    other = "ur5e" if own == "widowx" else "widowx"
    assert load_safety_limits(profile, robot=own).robot == own
    with pytest.raises(SafetyConfigError) as ei:
        load_safety_limits(profile, robot=other)
    assert (f"safety rig '{profile}' is for robot {own}, this arm is {other}: set safety_rig:={other} "
            f"(or leave it empty)") in str(ei.value)
    assert f"{profile}/safety.yaml" in str(ei.value)


def test_rig_check_accepts_aliases_and_names_unknown_robots():
    assert load_safety_limits("widowx", robot="wx250s").robot == "widowx"
    with pytest.raises(SafetyConfigError, match="unknown robot 'kuka'"):
        load_safety_limits("widowx", robot="kuka")


def test_limits_are_read_only():
    with pytest.raises(ValueError):
        W.lower[0] = -10.0


# ---- any input: a hold with a reason, never an exception -----------------------------------

class _Explodes:
    def __array__(self, *a, **k):
        raise RuntimeError("no array for you")

    def __repr__(self):
        raise RuntimeError("no repr either")


def _junk_inputs():
    import torch

    good = cmd_w(HOME_W)
    return [
        ("tensor_grad", torch.tensor(good, requires_grad=True), "invalid_type"),
        ("string", "0.1 0.2", "invalid_type"),
        ("strings", [str(x) for x in good], "invalid_type"),
        ("none", None, "invalid_type"),
        ("dict", {"q": list(good)}, "invalid_type"),
        ("object_array", np.array(list(good[:-1]) + [None], dtype=object), "invalid_type"),
        ("bools", np.ones(7, dtype=bool), "invalid_type"),
        ("complex", good.astype(complex), "invalid_type"),
        ("ragged", [[1.0, 2.0], [3.0]], "invalid_type"),
        ("explodes", _Explodes(), "invalid_type"),
        ("int", 7, "invalid_shape"),
        ("zero_d", np.array(0.3), "invalid_shape"),
        ("matrix", good[None, :], "invalid_shape"),
        ("tensor_2d", torch.tensor(good[None, :]), "invalid_shape"),
        ("huge_longdouble", np.full(7, np.finfo(np.longdouble).max, dtype=np.longdouble), "non_finite"),
        ("huge_int", [10 ** 400] * 7, "invalid_type"),
    ]


@pytest.mark.parametrize("name, junk, kind", _junk_inputs(), ids=[j[0] for j in _junk_inputs()])
def test_unconvertible_command_is_a_hold_with_a_reason(name, junk, kind):
    res = filter_command(junk, SafetyState(q=HOME_W), W, 0.01)
    assert res.held and res.command is None
    assert res.kinds == {kind}, res.interventions
    assert "holding" in res.interventions[0].message


@pytest.mark.parametrize("convert", [
    lambda c: c.astype(np.float32), lambda c: c.tolist(), lambda c: tuple(c.tolist()),
    lambda c: __import__("torch").tensor(c), lambda c: __import__("torch").tensor(c, dtype=__import__("torch").float32),
])
def test_numeric_commands_of_any_dtype_are_filtered(convert):
    c = cmd_w(HOME_W + 0.01)
    res = filter_command(convert(c), SafetyState(q=HOME_W), W, 0.01)
    assert not res.held and res.command.dtype == np.float64
    np.testing.assert_allclose(res.command, filter_command(c, SafetyState(q=HOME_W), W, 0.01).command, atol=1e-6)


def test_int_commands_and_huge_values_stay_safe():
    res = filter_command(np.zeros(7, dtype=np.int64), SafetyState(q=HOME_W), W, 0.01)
    assert_safe(res, SafetyState(q=HOME_W), W, 0.01)
    state = SafetyState(q=HOME_W, last_command=np.full(7, -1e308), last_velocity=np.full(6, 1e308))
    for c in (np.full(7, 1e308), np.full(7, -1e308), cmd_w(HOME_W)):
        assert_safe(filter_command(c, state, W, 0.01), state, W, 0.01)


@pytest.mark.parametrize("state, who", [
    (None, "state"), ({"q": HOME_W}, "state"), (SafetyState(q=None), "state"), (SafetyState(q="home"), "state"),
    (SafetyState(q=HOME_W[:3]), "state"), (SafetyState(q=_Explodes()), "state"),
    (SafetyState(q=HOME_W, last_command={"a": 1}), "last_command"),
    (SafetyState(q=HOME_W, last_command=np.full(7, np.nan)), "last_command"),
    (SafetyState(q=HOME_W, last_velocity="fast"), "velocity"), (SafetyState(q=HOME_W, dq=np.ones(2)), "velocity"),
], ids=["none", "dict", "q_none", "q_str", "q_short", "q_explodes", "last_dict", "last_nan", "vel_str", "dq_short"])
def test_unusable_state_is_a_hold_with_a_reason(state, who):
    res = filter_command(cmd_w(HOME_W), state, W, 0.01)
    assert res.held and res.kinds == {"invalid_state"} and res.interventions[0].joint == who


def test_state_tensor_is_read():
    import torch

    res = filter_command(cmd_w(HOME_W), SafetyState(q=torch.tensor(HOME_W)), W, 0.01)
    assert res.ok


def test_filter_bug_holds_instead_of_raising(monkeypatch):
    """Defence in depth: an exception inside the filter itself is a hold named filter_error."""
    import postbc_ros.core.safety as safety

    def broken(*a):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(safety, "_workspace", broken)
    target = HOME_W.copy()
    target[1] += 1.0
    lim = LIMITS["widowx_twin"]
    res = filter_command(cmd_w(target), SafetyState(q=HOME_W + [0, 0.7, 0, 0, 0, 0]), lim, 1.0)
    assert res.held and res.kinds == {"filter_error"} and "ZeroDivisionError" in res.interventions[0].message


def _cast(x, dtype):
    with np.errstate(all="ignore"):
        return np.array(x, dtype=float).astype(dtype)


junk = st.one_of(
    st.none(), st.text(max_size=5), st.integers(), st.booleans(), st.floats(),
    st.dictionaries(st.text(max_size=3), st.floats(), max_size=3),
    st.lists(st.one_of(st.floats(), st.text(max_size=2), st.none(), st.integers(min_value=-10 ** 30, max_value=10 ** 30)), max_size=9),
    st.builds(lambda x, dt: _cast(x, dt), st.lists(st.floats(-6e4, 6e4), min_size=0, max_size=8),
              st.sampled_from([np.float16, np.float32, np.float64, np.longdouble, np.int8, np.int64, np.uint16, bool, complex, object])),
    st.builds(lambda x: np.asarray(x).reshape(1, -1), st.lists(st.floats(), min_size=7, max_size=7)),
)


@SETTINGS
@given(scenario(), junk, st.sampled_from(["cmd", "q", "last_command", "last_velocity", "dq"]))
def test_any_junk_anywhere_is_a_hold_or_safe(sc, bad, where):
    """Whatever lands in the command or any state field, the filter returns, never raises."""
    lim, state, cmd, dt = sc
    if where == "cmd":
        cmd = bad
    else:
        state = SafetyState(**{**state.__dict__, where: bad})
    res = filter_command(cmd, state, lim, dt)
    assert "filter_error" not in res.kinds, res.interventions
    if not res.held:
        assert_safe(res, state, lim, dt)
    else:
        assert res.interventions and res.command is None


# ---- the fast kinematics and the boundary search --------------------------------------------

@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_point_chain_agrees_with_the_robot_fk(robot):
    from postbc_ros.core.safety_kinematics import PointChain, tool_point

    spec = get_robot_spec(robot)
    pos = tool_point(spec.fk, 6)
    assert isinstance(pos, PointChain) and pos.used == 5  # the wrist roll about the tool axis is dropped
    q = np.random.default_rng(3).uniform(-7, 7, (200, 6))
    # the one-point evaluation on Python floats (the filter's per-command check)
    np.testing.assert_allclose([pos.point(r) for r in q.tolist()], np.array([spec.fk(r)[0] for r in q]), rtol=0, atol=1e-12)


def test_unknown_or_wrong_kinematics_fall_back_to_the_fk_itself():
    import sys
    import types

    from postbc_ros.core.safety_kinematics import FkPoint, tool_point
    from postbc_ros.robots import widowx

    spec = get_robot_spec("widowx")
    shifted = lambda q: (spec.fk(q)[0] + 0.01, spec.fk(q)[1])  # noqa: E731
    assert isinstance(tool_point(shifted, 6), FkPoint)
    # a module whose constants do not describe its fk: the chain fails the check and is not used
    mod = types.ModuleType("fake_arm_for_safety_test")
    mod.JOINT_OFFSETS, mod.JOINT_AXES = widowx.JOINT_OFFSETS, widowx.JOINT_AXES
    mod.TOOL_OFFSET = widowx.TOOL_OFFSET + 0.05

    def fk(q):
        return widowx.fk(q)

    fk.__module__ = mod.__name__
    sys.modules[mod.__name__] = mod
    try:
        pos = tool_point(fk, 6)
    finally:
        del sys.modules[mod.__name__]
    assert isinstance(pos, FkPoint)
    lim = with_limits(LIMITS["widowx_twin"], fk=shifted)
    q = np.array([HOME_W, HOME_W + 0.1])
    np.testing.assert_allclose([lim._hot.point(r) for r in q], np.array([shifted(r)[0] for r in q]))


def _outward_steps(profile: str, count: int, seed: int = 0):
    """Steps from inside the box whose target leaves it (the workspace-scaling path)."""
    lim = LIMITS[profile]
    spec = get_robot_spec(lim.robot)
    rng = np.random.default_rng(seed)
    dt = 0.1
    step = lim.step_bound(dt)
    out = []
    while len(out) < count:
        q0 = np.clip(spec.home + rng.uniform(-1, 1, 6), lim.lower, lim.upper)
        c = q0 + rng.uniform(-1, 1, 6) * step
        if (lim.workspace.contains(lim.fk(q0)[0]) and not lim.workspace.contains(lim.fk(c)[0])
                and np.all((c > lim.lower) & (c < lim.upper))):
            out.append((q0, c))
    return lim, dt, out


@pytest.mark.parametrize("profile", PROFILES)
def test_scaled_steps_end_inside_and_at_the_boundary(profile):
    """Every scaled step ends inside the box by the robot's own fk (exactly, no tolerance) and,
    but for paths that graze a face, within the search resolution of where the step leaves it."""
    lim, dt, steps = _outward_steps(profile, 300)
    res_frac = lim.workspace.resolution
    near = 0
    for q0, c in steps:
        res = filter_command(cmd_w(c), SafetyState(q=q0), lim, dt)
        assert not res.held and "workspace" in res.kinds
        q = res.command[:6]
        assert lim.workspace.violation(lim.fk(q)[0]) == 0.0
        d = c - q0
        i = int(np.argmax(np.abs(d)))
        s = (q[i] - q0[i]) / d[i]
        np.testing.assert_allclose(q, q0 + s * d, atol=1e-12)  # on the segment
        near += not lim.workspace.contains(lim.fk(q0 + min(1.0, s + res_frac * 1.001) * d)[0], tol=0.0)
    assert near >= 0.99 * len(steps)
