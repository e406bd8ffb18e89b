"""The teleop session's recording on a cell (ROS-free): camera frames paired with each step by
stamp (also a frame that arrives after its observation), an unpaired step dropped and counted,
the scripted operator's mirror set from the twin's scene instead of the cell's observation,
a wrongly sized observation refused, and `finished` once the manager ran its episodes."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.core.message_guard import MessageGuard
from postbc_ros.core.teleop_session import TeleopSession
from postbc_ros.data import DatasetWriter, DemoDataset
from postbc_ros.data.camera_frames import CameraFrames, ImageFormat, with_images
from postbc_ros.data.collect import EpisodeRecorder

from test_teleop_session import N_JOINTS, Q, Adapter, Device, act, running

STATE_DIM = 9  # a cell's observation: another layout than the twin's task vector
SIZE = 16


def features():
    return {"observation.state": {"dtype": "float32", "shape": [STATE_DIM], "names": None},
            "action": {"dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "gripper"]},
            "next.success": {"dtype": "bool", "shape": [1], "names": None},
            "intervention": {"dtype": "bool", "shape": [1], "names": None}}


def obs(k: float) -> np.ndarray:
    return np.full(STATE_DIM, k, dtype=np.float32)


def image(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, dtype=np.uint8)


@pytest.fixture
def cell(tmp_path):
    frames = CameraFrames(["scene"], ImageFormat(SIZE), slop_s=0.01)
    writer = DatasetWriter(tmp_path / "ds", with_images(features(), frames), fps=10.0, robot_type="test")
    yield EpisodeRecorder(writer, "reach"), frames
    writer.close()


def test_each_step_stores_the_frame_of_its_stamp_and_an_unpaired_step_is_dropped(tmp_path, cell):
    recorder, frames = cell
    guard = MessageGuard()
    dev = Device(*[act(0.1 * k, 0, 0, -1) for k in range(1, 6)])
    s = TeleopSession(dev, Adapter(), N_JOINTS, recorder=recorder, frames=frames, guard=guard)
    s.on_episode(running(0))
    s.frame("scene", 0.0, image(10))
    s.observe(obs(0), Q, 0.0)
    s.observe(obs(1), Q, 0.1)
    s.frame("scene", 0.1, image(20))  # arrives after its observation: still paired (recorded one step later)
    s.observe(obs(2), Q, 0.2)  # no frame at 0.2 ever: this step is dropped and counted
    s.frame("scene", 0.3, image(40))
    s.observe(obs(3), Q, 0.3)
    s.on_episode({"episode": 0, "state": "done", "success": True, "reason": "success"})
    assert s.saved == 1 and guard.dropped == {"image_unpaired": 1}
    ep = DemoDataset(tmp_path / "ds").episode(0)
    np.testing.assert_array_equal(ep["observation.state"][:, 0], [0, 1, 3])
    assert ep["observation.images.scene"].shape == (3, SIZE, SIZE, 3)
    assert ep["observation.images.scene"][:, 0, 0, 0].tolist() == [10, 20, 40]
    np.testing.assert_allclose(ep["action"][:, 0], [0.1, 0.2, 0.4], rtol=1e-6)


def test_recording_images_needs_the_stamp_and_a_wrong_observation_is_refused(cell):
    recorder, frames = cell
    guard = MessageGuard()
    s = TeleopSession(Device(act(0.1, 0, 0, -1)), Adapter(), N_JOINTS, recorder=recorder, frames=frames, guard=guard)
    s.on_episode(running(0))
    assert s.state_dim == STATE_DIM  # from the recorder's observation.state
    out = s.observe(np.zeros(STATE_DIM + 2, np.float32), Q, 0.0)
    assert out.target is None and guard.dropped == {"observation_shape": 1}
    with pytest.raises(ValueError, match="stamp"):
        s.observe(obs(0), Q)


class Mirror:
    """The kinematic mirror's interface that sync_mirror uses (a twin task env)."""

    state_names = [f"q{i}" for i in range(N_JOINTS)] + ["goal_x", "goal_y", "goal_z"]

    def __init__(self):
        self.twin = self
        self.q = self.goal = None
        self.layout = None

    def set_joint_positions(self, q):
        self.q = np.array(q)

    def set_goal(self, g):
        self.goal = np.array(g)

    def forward(self):
        pass


def test_the_scripted_operator_plans_from_the_twin_scene_while_the_cell_observation_is_recorded(cell):
    recorder, frames = cell
    mirror = Mirror()
    s = TeleopSession(Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1)), Adapter(), N_JOINTS, recorder=recorder,
                      frames=frames, mirror=mirror, scene_view=True)
    s.on_episode(running(0))
    s.frame("scene", 0.0, image(1))
    assert s.observe(obs(0), Q, 0.0).target is None and mirror.q is None  # no view of the scene yet: waits
    scene = np.array([*Q, 0.3, -0.1, 0.05], np.float32)
    s.on_scene(scene)
    assert s.observe(obs(0), Q, 0.0).target is not None
    np.testing.assert_allclose(mirror.goal, [0.3, -0.1, 0.05], rtol=1e-6)
    assert mirror.layout is not None and np.allclose(mirror.layout["goal"], [0.3, -0.1, 0.05])
    with pytest.raises(ValueError, match="finite"):
        s.on_scene(np.array([np.nan]))
    s.on_scene(np.zeros(3, np.float32))  # not the twin's task vector: a clear error, not a silent misread
    with pytest.raises(ValueError, match="scene_topic"):
        s.observe(obs(1), Q, 0.1)


def test_finished_after_the_last_episode_is_saved_only_when_recording(tmp_path, cell):
    recorder, frames = cell
    s = TeleopSession(Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1)), Adapter(), N_JOINTS, recorder=recorder,
                      frames=frames)
    s.on_episode(running(0))
    for k, t in enumerate((0.0, 0.1)):
        s.frame("scene", t, image(k))
        s.observe(obs(k), Q, t)
    s.on_episode({"episode": 0, "state": "done", "success": None, "reason": "operator stop"})
    s.on_episode({"episode": 0, "state": "labelled", "success": True, "reason": "operator stop"})
    assert s.saved == 1 and not s.finished
    s.on_episode({"episode": 0, "state": "finished", "success": None, "reason": ""})
    assert s.finished and DemoDataset(tmp_path / "ds").num_episodes == 1
    driver = TeleopSession(Device(), Adapter(), N_JOINTS)  # drives only (takeover in a finetune graph)
    driver.on_episode({"episode": 0, "state": "finished", "success": None, "reason": ""})
    assert not driver.finished
