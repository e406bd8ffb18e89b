"""MuJoCo twins: MJCF kinematics/limits equal the robots/ specs; servo velocity limits; IK."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from postbc_ros.robots import get_robot_spec, widowx
from postbc_ros.sim.ik import DLSIK
from postbc_ros.sim.twin import Twin, model_path


def _set_q(model, data, names, q):
    for n, v in zip(names, q):
        data.qpos[model.joint(n).qposadr[0]] = v
    mujoco.mj_kinematics(model, data)


@pytest.mark.parametrize("robot", ["ur5e", "widowx"])
def test_twin_tool_site_matches_manufacturer_fk(robot):
    spec = get_robot_spec(robot)
    model = mujoco.MjModel.from_xml_path(str(model_path(robot)))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    site = model.site("tool").id
    for _ in range(20):
        q = rng.uniform(spec.lower, spec.upper)
        _set_q(model, data, spec.joint_names, q)
        pos, rot = spec.fk(q)
        assert np.linalg.norm(data.site_xpos[site] - pos) < 1e-3
        np.testing.assert_allclose(data.site_xmat[site].reshape(3, 3), rot, atol=1e-6)


@pytest.mark.parametrize("robot", ["ur5e", "widowx"])
def test_mjcf_joint_ranges_equal_the_documented_limits(robot):
    spec = get_robot_spec(robot)
    model = mujoco.MjModel.from_xml_path(str(model_path(robot, "pick_place")))
    for i, n in enumerate(spec.joint_names):
        j = model.joint(n)
        assert bool(model.jnt_limited[j.id])
        np.testing.assert_allclose(model.jnt_range[j.id], [spec.lower[i], spec.upper[i]], atol=1e-5)
        np.testing.assert_allclose(model.actuator(n).ctrlrange, [spec.lower[i], spec.upper[i]], atol=1e-5)
    if robot == "widowx":
        np.testing.assert_allclose(model.joint("left_finger").range, widowx.FINGER_RANGE, atol=1e-9)
        np.testing.assert_allclose(model.joint("right_finger").range, [-widowx.FINGER_RANGE[1], -widowx.FINGER_RANGE[0]], atol=1e-9)


@pytest.mark.parametrize("robot", ["ur5e", "widowx"])
def test_twin_honours_joint_velocity_limits(robot):
    twin = Twin(robot)
    q0 = twin.joint_positions()
    far = np.clip(q0 + 2.0, twin.spec.lower, twin.spec.upper)
    twin.set_joint_targets(far, 0.0)
    twin.step()
    moved = np.abs(twin.joint_positions() - q0)
    # servo setpoints move at v_max; the joints may lag but never exceed it (5 % slack)
    assert np.all(moved <= twin.spec.velocity_limits * twin.control_dt * 1.05)
    assert np.all(moved > 0.3 * twin.spec.velocity_limits * twin.control_dt)


@pytest.mark.parametrize("robot", ["ur5e", "widowx"])
def test_twin_tracks_setpoints_and_gripper(robot):
    twin = Twin(robot)
    assert twin.joint_names == get_robot_spec(robot).joint_names
    assert twin.control_dt == pytest.approx(0.1)
    target = twin.spec.home + np.array([0.2, -0.1, 0.15, 0.1, -0.2, 0.3])
    twin.set_joint_targets(target, 1.0)
    for _ in range(10):
        twin.step()
    np.testing.assert_allclose(twin.joint_positions(), target, atol=5e-3)
    assert twin.gripper_position() > 0.95
    twin.set_joint_targets(target, 0.0)
    for _ in range(5):
        twin.step()
    assert twin.gripper_position() < 0.05
    pos, rot = twin.ee_pose()
    ref_pos, ref_rot = twin.spec.fk(twin.joint_positions())
    assert np.linalg.norm(pos - ref_pos) < 1e-3
    with pytest.raises(ValueError, match="expected 6 arm joint targets"):
        twin.set_joint_targets(np.zeros(7), 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        twin.set_joint_targets([np.nan] * 6, 0.0)


@pytest.mark.parametrize("robot", ["ur5e", "widowx"])
def test_ik_reaches_targets_with_gripper_down(robot):
    from postbc_ros.sim.ik import yaw_rotation

    twin = Twin(robot)
    ik = DLSIK(twin.model, "tool", twin.joint_names)
    p = twin.params
    rng = np.random.default_rng(3)
    for _ in range(10):
        xy = rng.uniform(p.object_low, p.object_high)
        target = np.array([xy[0], xy[1], rng.uniform(p.ee_low[2] + 0.01, 0.2)])
        rot = yaw_rotation(np.arctan2(target[1], target[0])) @ np.array(twin.twin_data.grasp_rotation)
        q, err = ik.solve(twin.spec.home, target, rot)
        assert err < 1e-3
        pos, got_rot = twin.spec.fk(q)
        assert np.linalg.norm(pos - target) < 1e-3
        assert np.abs(got_rot - rot).max() < 0.02
        assert twin.spec.within_limits(q)


def test_committed_mjcf_is_what_the_generator_writes():
    """models/*.xml are generated from postbc_ros.robots; a spec change without regenerating
    them would silently desynchronise the twin from the real arm."""
    import importlib.util

    from postbc_ros.sim.twin import models_dir

    path = models_dir() / "generate_models.py"
    spec = importlib.util.spec_from_file_location("generate_models", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.model_files()
    # the table scene; per arm: the arm alone + one file per task (3 natural + reach_obstacle)
    assert len(expected) == 1 + 2 * 5
    for name, text in expected.items():
        assert (models_dir() / name).read_text() == text, f"models/{name} is stale: run models/generate_models.py"


def test_set_joint_positions_is_kinematic_and_consistent():
    twin = Twin("widowx", "push")
    q = twin.spec.home + 0.2
    twin.set_joint_positions(q, gripper=1.0)
    np.testing.assert_allclose(twin.joint_positions(), q)
    np.testing.assert_allclose(twin.joint_targets(), q)
    assert twin.gripper_position() == pytest.approx(1.0)
    assert np.linalg.norm(twin.ee_pose()[0] - twin.spec.fk(q)[0]) < 1e-9
    twin.step()  # at rest on its setpoints: nothing moves
    np.testing.assert_allclose(twin.joint_positions(), q, atol=1e-3)


def test_mujoco_warnings_go_to_stderr_not_stdout(capfd):
    """A diverging simulation makes MuJoCo warn; the text must not land in stdout, where commands
    print their JSON (`postbc eval --json`, `postbc sim check --json`)."""
    import mujoco

    import postbc_ros.sim.twin  # noqa: F401 - installs the warning handler

    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom size='0.1'/></body></worldbody></mujoco>")
    data = mujoco.MjData(model)
    data.qvel[:] = float("nan")
    mujoco.mj_step(model, data)
    out, err = capfd.readouterr()
    assert "MuJoCo warning" in err and "WARNING" not in out, (out, err)
