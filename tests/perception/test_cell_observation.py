"""A real cell's observation (joint_states + scene camera -> markers -> assembler) is the twin's
`markers` observation: fed the twin's own joints and rendered frame, CellObservation produces the
same observation.state the env does; a camera that stops gives no observation and a named reason."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.perception.cell_observation import CellObservation
from postbc_ros.robots import get_robot
from postbc_ros.sim.envs import MARKER_CAMERA, TwinTaskEnv


@pytest.mark.parametrize("task", ["pick_place", "reach"])
def test_the_cell_pipeline_reproduces_the_twins_marker_observation(task):
    env = TwinTaskEnv("widowx", task, obs_mode="markers")
    try:
        obs, _ = env.reset(seed=3)
        tw = env.twin
        t = 10.0
        cell = CellObservation("widowx", task, get_robot("widowx").twin_rig, clock=lambda: t)
        g = cell.perception.geometry
        cell.joint_state(t, tw.joint_positions(), tw.gripper_position())
        cell.frame(t, tw.render(MARKER_CAMERA, (g.height, g.width)))
        got = cell.observation()
        assert got is not None, cell.reason
        np.testing.assert_allclose(got.observation["observation.state"], obs["state"], atol=1e-5)
        assert got.stamp == t
    finally:
        env.close()


def test_a_camera_that_stops_gives_no_observation_and_says_why():
    env = TwinTaskEnv("widowx", "pick_place", obs_mode="markers")
    try:
        env.reset(seed=1)
        tw, now = env.twin, [5.0]
        cell = CellObservation("widowx", "pick_place", get_robot("widowx").twin_rig, max_age_s=0.2, clock=lambda: now[0])
        g = cell.perception.geometry
        frame = tw.render(MARKER_CAMERA, (g.height, g.width))
        assert cell.observation() is None and "nothing received yet" in cell.reason
        cell.joint_state(5.0, tw.joint_positions(), 0.0)
        cell.frame(5.0, frame)
        assert cell.observation() is not None
        now[0] = 5.5  # joints keep coming, the camera stopped at 5.0
        cell.joint_state(5.5, tw.joint_positions(), 0.0)
        assert cell.observation() is None
        assert cell.reason == "camera scene: last frame 0.50 s old > max_age 0.2 s"
        cell.reset()  # a new episode forgets the old samples
        assert cell.observation() is None and "nothing received yet" in cell.reason
    finally:
        env.close()


def test_a_smaller_frame_is_scaled_to_the_calibration():
    env = TwinTaskEnv("widowx", "reach", obs_mode="markers")
    try:
        env.reset(seed=0)
        cell = CellObservation("widowx", "reach", get_robot("widowx").twin_rig, clock=lambda: 1.0)
        g = cell.perception.geometry
        cell.joint_state(1.0, env.twin.joint_positions(), 0.0)
        h, w = int(g.height * 0.8), int(g.width * 0.8)  # a camera streaming at another resolution
        cell.frame(1.0, env.twin.render(MARKER_CAMERA, (h, w)))
        assert (cell.perception.geometry.width, cell.perception.geometry.height) == (w, h)
        assert cell.observation() is not None, cell.reason
    finally:
        env.close()


def test_the_proprio_layout_publishes_the_twins_image_mode_state_without_any_marker():
    """A cell without fiducial markers (layout proprio): joints, gripper and tool, the state (names
    and values) of the twin's `image` mode; no marker perception runs, so a frame without any marker
    in view (a blank one) still gives an observation, with that frame paired."""
    env = TwinTaskEnv("widowx", "pick_place", obs_mode="image")
    try:
        obs, _ = env.reset(seed=2)
        tw, t = env.twin, 3.0
        cell = CellObservation("widowx", "pick_place", get_robot("widowx").twin_rig, layout="proprio", clock=lambda: t)
        assert cell.perception is None
        assert cell.state_names == env.state_names and len(cell.state_names) == 10
        cell.joint_state(t, tw.joint_positions(), tw.gripper_position())
        assert cell.observation() is None and cell.reason == "camera scene: nothing received yet"
        blank = np.zeros((48, 64, 3), np.uint8)  # no marker anywhere: the markers layout would never publish
        cell.frame(t, blank)
        got = cell.observation()
        assert got is not None, cell.reason
        np.testing.assert_allclose(got.observation["observation.state"], obs["state"], atol=1e-5)
        assert got.observation["observation.images.scene"] is blank and not got.marker_ages
        markers = CellObservation("widowx", "pick_place", get_robot("widowx").twin_rig, clock=lambda: t)
        markers.joint_state(t, tw.joint_positions(), 0.0)
        markers.frame(t, blank)
        assert markers.observation() is None and "not detected yet" in markers.reason
    finally:
        env.close()


def test_the_proprio_layout_without_a_camera_runs_on_joint_states_and_stale_joints_still_block():
    now = [1.0]
    cell = CellObservation("widowx", "reach", "no_such_rig", camera="", layout="proprio", max_age_s=0.2,
                           clock=lambda: now[0])  # no calibration is read: proprio needs none
    q = np.linspace(-0.3, 0.3, len(cell.spec.joint_names))
    cell.joint_state(1.0, q, 0.25)
    got = cell.observation()
    assert got is not None and got.stamp == 1.0 and set(got.observation) == {"observation.state"}
    state = got.observation["observation.state"]
    np.testing.assert_allclose(state[:len(q)], q, atol=1e-6)
    np.testing.assert_allclose(state[len(q) + 1:], cell.spec.fk(q)[0], atol=1e-6)
    assert state[len(q)] == np.float32(0.25)
    now[0] = 1.5  # the arm driver stopped publishing
    assert cell.observation() is None
    assert cell.reason == "joint_states: last sample 0.50 s old > max_age 0.2 s"


def test_an_unknown_layout_or_markers_without_a_camera_is_refused():
    with pytest.raises(ValueError, match="layout 'pose' unknown; choose one of \\['markers', 'proprio'\\]"):
        CellObservation("widowx", "reach", get_robot("widowx").twin_rig, layout="pose")
    with pytest.raises(ValueError, match="name the camera, or use layout 'proprio'"):
        CellObservation("widowx", "reach", get_robot("widowx").twin_rig, camera="")
