"""Robot specs: published limits and forward kinematics (pure numpy, no MuJoCo)."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.robots import get_robot_spec
from postbc_ros.robots import ur5e as ur5e_mod
from postbc_ros.robots import widowx as widowx_mod


@pytest.mark.parametrize("name", ["widowx", "ur5e"])
def test_spec_fields_follow_the_contract(name):
    s = get_robot_spec(name)
    assert s.name == name
    assert len(s.joint_names) == 6
    for arr in (s.lower, s.upper, s.velocity_limits, s.accel_limits, s.home):
        assert arr.shape == (6,)
    assert np.all(s.lower < s.upper)
    assert np.all(s.velocity_limits > 0) and np.all(s.accel_limits > 0)
    assert s.within_limits(s.home)
    assert s.gripper_range == (0.0, 1.0)


def test_widowx_limits_are_the_interbotix_wx250s_ones():
    s = get_robot_spec("widowx")
    assert s.joint_names == ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"]
    np.testing.assert_allclose(np.rad2deg(s.lower), [-180, -108, -123, -180, -100, -180])
    np.testing.assert_allclose(np.rad2deg(s.upper), [180, 114, 92, 180, 123, 180])
    np.testing.assert_allclose(s.velocity_limits, np.pi)


def test_ur5e_limits_are_the_datasheet_ones():
    s = get_robot_spec("ur5e")
    assert s.joint_names[0] == "shoulder_pan_joint" and s.joint_names[2] == "elbow_joint"
    np.testing.assert_allclose(s.upper, [2 * np.pi, 2 * np.pi, np.pi, 2 * np.pi, 2 * np.pi, 2 * np.pi])
    np.testing.assert_allclose(s.lower, -s.upper)
    np.testing.assert_allclose(np.rad2deg(s.velocity_limits), 180.0)


def test_unknown_robot_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown robot"):
        get_robot_spec("panda")


def test_ur5e_zero_pose_matches_the_dh_table():
    # at q = 0 the UR arm is stretched along -x: flange at (a2 + a3, -(d4 + d6), d1 - d5)
    s = get_robot_spec("ur5e")
    pos, rot = s.fk(np.zeros(6))
    flange = np.array([-0.425 - 0.3922, -(0.1333 + 0.0996), 0.1625 - 0.0997])
    np.testing.assert_allclose(pos - ur5e_mod.TOOL_OFFSET * rot[:, 2], flange, atol=1e-9)
    np.testing.assert_allclose(rot[:, 2], [0, -1, 0], atol=1e-9)  # flange z points along -y


def test_ur5e_home_points_the_gripper_down():
    s = get_robot_spec("ur5e")
    _, rot = s.fk(s.home)
    np.testing.assert_allclose(rot[:, 2], [0, 0, -1], atol=1e-4)


def test_ur5e_shoulder_pan_rotates_the_tool_about_the_base_axis():
    s = get_robot_spec("ur5e")
    rng = np.random.default_rng(0)
    q = rng.uniform(-2, 2, 6)
    p0, _ = s.fk(q)
    q2 = q.copy()
    q2[0] += 0.7
    p1, _ = s.fk(q2)
    c, sn = np.cos(0.7), np.sin(0.7)
    np.testing.assert_allclose(p1, [c * p0[0] - sn * p0[1], sn * p0[0] + c * p0[1], p0[2]], atol=1e-12)


def _widowx_planar(shoulder, elbow, wrist):
    """WidowX FK in the x-z plane written from the URDF offsets with 2-D trigonometry
    (waist = forearm_roll = wrist_rotate = 0): an independent check of the 3-D chain."""

    def rot(v, a):  # rotation about +y by a, acting on (x, z)
        return np.array([v[0] * np.cos(a) + v[1] * np.sin(a), -v[0] * np.sin(a) + v[1] * np.cos(a)])

    p = np.array([0.0, 0.072 + 0.03865])
    p = p + rot([0.04975, 0.25], shoulder)
    p = p + rot([0.175 + 0.075, 0.0], shoulder + elbow)
    p = p + rot([0.065 + 0.043 + 0.023 + 0.027575, 0.0], shoulder + elbow + wrist)
    return p


def test_widowx_fk_matches_published_link_dimensions():
    s = get_robot_spec("widowx")
    pos, rot = s.fk(np.zeros(6))
    np.testing.assert_allclose(pos, [0.04975 + 0.175 + 0.075 + 0.065 + 0.093575, 0, 0.072 + 0.03865 + 0.25], atol=1e-12)
    np.testing.assert_allclose(rot, np.eye(3), atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(20):
        sh, el, wr = rng.uniform(s.lower[[1, 2, 4]], s.upper[[1, 2, 4]])
        pos, _ = s.fk([0, sh, el, 0, wr, 0])
        np.testing.assert_allclose(pos[[0, 2]], _widowx_planar(sh, el, wr), atol=1e-9)
        assert abs(pos[1]) < 1e-12


def test_widowx_waist_and_home():
    s = get_robot_spec("widowx")
    _, rot = s.fk(s.home)
    np.testing.assert_allclose(rot[:, 0], [0, 0, -1], atol=2e-3)  # approach axis points down
    q = s.home.copy()
    q[0] = np.pi / 2
    pos, _ = s.fk(q)
    assert pos[0] == pytest.approx(0.0, abs=1e-12) and pos[1] > 0.2
    np.testing.assert_allclose(widowx_mod.TOOL_OFFSET, [0.093575, 0, 0])


@pytest.mark.parametrize("name", ["widowx", "ur5e"])
def test_fk_rotation_is_orthonormal_and_bad_input_rejected(name):
    s = get_robot_spec(name)
    rng = np.random.default_rng(2)
    for _ in range(10):
        _, rot = s.fk(rng.uniform(s.lower, s.upper))
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected 6 joint angles"):
        s.fk(np.zeros(7))
    with pytest.raises(ValueError, match="finite"):
        s.fk([np.nan] * 6)
    assert not s.within_limits(s.upper + 0.1)
    np.testing.assert_allclose(s.clip(s.upper + 1), s.upper)
