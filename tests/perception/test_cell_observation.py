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
