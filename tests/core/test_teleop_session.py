"""The teleop session without ROS: a scripted device, a stand-in IK adapter and the real recording
path (EpisodeRecorder -> DatasetWriter -> a LeRobot dataset read back)."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.core.teleop_session import TeleopSession
from postbc_ros.data import DatasetWriter, DemoDataset
from postbc_ros.data.collect import EpisodeRecorder
from postbc_ros.drivers.teleop import TeleopCommand

N_JOINTS = 5  # not 6: the session must slice by the joint count it is given
STATE_NAMES = [f"q{i}" for i in range(N_JOINTS)] + ["goal_x", "goal_y", "goal_z", "obj_x", "obj_y", "obj_z"]
Q = np.linspace(0.1, 0.5, N_JOINTS)


def features():
    return {"observation.state": {"dtype": "float32", "shape": [len(STATE_NAMES)], "names": None},
            "action": {"dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "gripper"]},
            "next.success": {"dtype": "bool", "shape": [1], "names": None},
            "intervention": {"dtype": "bool", "shape": [1], "names": None}}


class Device:
    """Returns the queued commands in order (then no motion); counts resets."""

    def __init__(self, *cmds):
        self.cmds = list(cmds)
        self.resets = 0
        self.seen = []
        self.closed = False

    def reset(self):
        self.resets += 1

    def read(self, obs):
        self.seen.append(obs["state"])
        return self.cmds.pop(0) if self.cmds else TeleopCommand()

    def close(self):
        self.closed = True


class Adapter:
    """IK stand-in: setpoint = measured joints + dx, gripper from the action."""

    def __init__(self):
        self.resets = []

    def reset(self, q):
        self.resets.append(np.array(q))

    def targets(self, actions, q):
        assert actions.shape == (1, 4)
        return np.concatenate([q + actions[0, 0], [actions[0, 3]]])[None]


def act(*a, **events):
    return TeleopCommand(action=np.array(a, dtype=np.float32), **events)


def state(k: float) -> np.ndarray:
    return np.full(len(STATE_NAMES), k, dtype=np.float32)


def running(ep: int) -> dict:
    return {"episode": ep, "state": "running", "success": None, "reason": ""}


@pytest.fixture
def recorder(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", features(), fps=10.0, robot_type="test")
    yield EpisodeRecorder(writer, "reach")
    writer.close()


def test_records_pairs_with_their_outcome_and_saves_on_the_label(tmp_path, recorder):
    dev = Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, 1), act(0.3, 0, 0, 1), act(0.4, 0, 0, 1))
    s = TeleopSession(dev, Adapter(), N_JOINTS, recorder=recorder)
    assert s.observe(state(0), Q).target is None and dev.seen == []  # not running yet: device unread
    s.on_episode(running(0))
    assert s.observe(state(0), None).target is None  # no joint positions yet
    outs = [s.observe(state(k), Q) for k in range(3)]
    np.testing.assert_allclose(outs[1].target, [list(Q + 0.2) + [1.0]])
    assert dev.resets == 1 and recorder.num_frames == 2  # the third action awaits its outcome
    s.on_success(True)
    out = s.observe(state(3), Q)  # the outcome of action 3: success; the operator goes on (settling)
    np.testing.assert_allclose(out.target, [list(Q + 0.4) + [1.0]])
    assert len(dev.seen) == 4 and recorder.num_frames == 3
    s.on_episode({"episode": 0, "state": "done", "success": True, "reason": "success"})
    assert s.saved == 1
    ds = DemoDataset(tmp_path / "ds")
    ep = ds.episode(0)
    assert ds.episode_success(0) is True
    np.testing.assert_allclose(ep["action"][:, 0], [0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    np.testing.assert_array_equal(ep["observation.state"][:, 0], [0, 1, 2, 3])
    assert ep["next.success"].reshape(-1).tolist() == [False, False, True, True]
    assert not ep["intervention"].any()


def test_an_unknown_label_waits_for_the_operator(tmp_path, recorder):
    s = TeleopSession(Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1)), Adapter(), N_JOINTS, recorder=recorder)
    s.on_episode(running(0))
    s.observe(state(0), Q)
    s.observe(state(1), Q)
    s.on_episode({"episode": 0, "state": "done", "success": None, "reason": "operator stop"})
    assert s.saved == 0 and recorder.num_frames == 1
    s.on_episode({"episode": 0, "state": "labelled", "success": True, "reason": "operator stop"})
    ds = DemoDataset(tmp_path / "ds")
    assert s.saved == 1 and ds.episode_success(0) is True
    assert ds.episode(0)["next.success"].reshape(-1).tolist() == [False, True]  # the pending one: the label


def test_abort_discards_and_a_new_episode_starts_clean(tmp_path, recorder):
    dev = Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1), act(0.3, 0, 0, -1), act(0.4, 0, 0, -1))
    adapter = Adapter()
    s = TeleopSession(dev, adapter, N_JOINTS, recorder=recorder)
    s.on_episode(running(0))
    s.observe(state(0), Q)
    s.observe(state(1), Q)
    s.on_episode({"episode": 0, "state": "aborted", "success": False, "reason": "estop"})
    assert recorder.num_frames == 0 and s.saved == 0
    s.on_episode(running(1))
    s.observe(state(2), Q + 1)
    s.observe(state(3), Q + 1)
    assert dev.resets == 2 and len(adapter.resets) == 2 and np.allclose(adapter.resets[1], Q + 1)
    s.on_episode(running(2))  # the manager moved on without a label: saved as a failure
    assert s.saved == 1 and DemoDataset(tmp_path / "ds").episode_success(0) is False
    np.testing.assert_allclose(DemoDataset(tmp_path / "ds").episode(0)["action"][:, 0], [0.3, 0.4], rtol=1e-6)


def test_device_events_become_label_requests():
    dev = Device(act(0.1, 0, 0, -1, stop=True), TeleopCommand(success=True), TeleopCommand(failure=True),
                 TeleopCommand(abort=True), TeleopCommand())
    s = TeleopSession(dev, Adapter(), N_JOINTS)
    s.on_episode(running(0))
    outs = [s.observe(state(k), Q) for k in range(5)]
    assert [o.label for o in outs] == [
        {"stop": True, "success": None, "abort": False}, {"stop": False, "success": True, "abort": False},
        {"stop": False, "success": False, "abort": False}, {"stop": False, "success": None, "abort": True}, None]
    assert outs[0].target is not None and all(o.target is None for o in outs[1:])  # events carry no motion


def test_takeover_drives_only_while_the_human_intervenes():
    dev = Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1, intervene=True), act(0.3, 0, 0, 1),
                 act(0.4, 0, 0, 1, intervene=True), act(0.5, 0, 0, 1, intervene=True))
    adapter = Adapter()
    s = TeleopSession(dev, adapter, N_JOINTS, takeover=True)
    s.on_episode(running(0))
    outs = [s.observe(state(k), Q) for k in range(5)]
    assert [o.intervention for o in outs] == [None, True, None, False, True]
    assert [o.target is not None for o in outs] == [False, True, True, False, True]
    np.testing.assert_allclose(outs[2].action, [0.3, 0, 0, 1])
    assert len(adapter.resets) == 3  # the episode start and each takeover re-anchor the commands
    assert s.on_episode({"episode": 0, "state": "done", "success": True, "reason": ""}).intervention is False
    assert s.on_episode({"episode": 1, "state": "running", "success": None, "reason": ""}).intervention is None


def test_a_failed_save_is_logged_and_the_next_one_is_saved(tmp_path, recorder, monkeypatch, caplog):
    writer = recorder.writer
    real_commit = writer._commit_episode

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    s = TeleopSession(Device(*[act(0.1 * k, 0, 0, -1) for k in range(1, 7)]), Adapter(), N_JOINTS,
                      recorder=recorder)
    for ep, commit in ((0, full_disk), (1, real_commit)):
        monkeypatch.setattr(writer, "_commit_episode", commit)
        s.on_episode(running(ep))
        for k in range(3):
            s.observe(state(k), Q)
        with caplog.at_level("INFO"):
            s.on_episode({"episode": ep, "state": "done", "success": True, "reason": "success"})
        assert recorder.num_frames == 0  # saved, or dropped: the next demonstration starts empty
    assert "demonstration not saved, record it again" in caplog.text and "No space left" in caplog.text
    assert s.saved == 1
    ds = DemoDataset(tmp_path / "ds")
    assert ds.num_episodes == 1
    np.testing.assert_allclose(ds.episode(0)["action"][:, 0], [0.4, 0.5, 0.6], rtol=1e-6)


class Twin:
    def __init__(self):
        self.calls = []

    def set_joint_positions(self, q):
        self.calls.append(("q", np.array(q)))

    def set_goal(self, g):
        self.calls.append(("goal", g))

    def set_object_position(self, p):
        self.calls.append(("object", p))

    def forward(self):
        self.calls.append(("forward",))


class Mirror:
    state_names = STATE_NAMES

    def __init__(self):
        self.twin = Twin()
        self.layout = None


def test_the_scripted_operators_mirror_follows_the_observation():
    mirror = Mirror()
    s = TeleopSession(Device(act(0.1, 0, 0, -1), act(0.1, 0, 0, -1)), Adapter(), N_JOINTS, mirror=mirror)
    s.on_episode(running(0))
    obs = np.arange(len(STATE_NAMES), dtype=np.float32)
    s.observe(obs, Q)
    (_, q), (_, goal), (_, obj), _fwd = mirror.twin.calls
    np.testing.assert_array_equal(q, obs[:N_JOINTS])
    np.testing.assert_array_equal(goal, obs[N_JOINTS:N_JOINTS + 3])
    np.testing.assert_array_equal(obj, obs[N_JOINTS + 3:])
    first = mirror.layout
    assert first["goal"] is goal
    s.observe(obs + 1, Q)
    assert mirror.layout is first  # same episode: the operator keeps its plan


def test_close_discards_the_unsaved_episode_and_closes_the_device(recorder):
    dev = Device(act(0.1, 0, 0, -1), act(0.2, 0, 0, -1))
    s = TeleopSession(dev, Adapter(), N_JOINTS, recorder=recorder)
    s.on_episode(running(0))
    s.observe(state(0), Q)
    s.observe(state(1), Q)
    assert recorder.num_frames == 1
    s.close()
    assert recorder.num_frames == 0 and dev.closed


def test_a_nan_or_misshapen_device_action_is_dropped_counted_and_the_session_goes_on(tmp_path, recorder):
    adapter = Adapter()
    adapter.action_dim = 4
    dev = Device(act(0.1, 0, 0, -1), act(np.nan, 0, 0, -1), act(0.2, 0, np.inf, -1), act(0.3, 0),
                 TeleopCommand(action=["up"]), act(0.4, 0, 0, 1))
    s = TeleopSession(dev, adapter, N_JOINTS, recorder=recorder)
    s.on_episode(running(0))
    outs = [s.observe(state(k), Q) for k in range(6)]
    assert [o.target is not None for o in outs] == [True, False, False, False, False, True]
    assert s.guard.snapshot()["dropped"] == {"device_action_non_finite": 2, "device_action_shape": 2}
    # a non-finite observation is skipped too, the device unread
    n_seen = len(dev.seen)
    assert s.observe(np.full(len(STATE_NAMES), np.nan, np.float32), Q).target is None and len(dev.seen) == n_seen
    s.on_episode({"episode": 0, "state": "done", "success": True, "reason": "success"})
    ep = DemoDataset(tmp_path / "ds").episode(0)  # only the two good actions were recorded
    np.testing.assert_allclose(ep["action"][:, 0], [0.1, 0.4], rtol=1e-6)
    assert np.isfinite(ep["action"]).all()


def released(*a, **events):
    return TeleopCommand(action=np.array(a, dtype=np.float32), enabled=False, **events)


def test_the_arm_moves_only_while_the_deadman_is_held_and_a_release_holds_at_once(tmp_path, recorder):
    adapter = Adapter()
    dev = Device(released(0.9, 0, 0, -1), act(0.1, 0, 0, -1), act(0.2, 0, 0, -1), released(0.9, 0, 0, -1),
                 released(0.9, 0, 0, -1, stop=True), act(0.3, 0, 0, 1))
    s = TeleopSession(dev, adapter, N_JOINTS, recorder=recorder)
    s.on_episode(running(0))
    outs = [s.observe(state(k), Q + k) for k in range(6)]
    # not held at the start: a hold, no motion; held: setpoints; released: a hold in the very next period
    assert [o.hold for o in outs] == [True, False, False, True, True, False]
    assert [o.target is not None for o in outs] == [False, True, True, False, False, True]
    assert outs[4].label == {"stop": True, "success": None, "abort": False}  # events work released
    # held again: the commands restart from the joints measured then (the arm held there)
    assert len(adapter.resets) == 3 and np.allclose(adapter.resets[1], Q + 1) and np.allclose(adapter.resets[2], Q + 5)
    np.testing.assert_allclose(outs[5].target, [list(Q + 5 + 0.3) + [1.0]])
    s.on_episode({"episode": 0, "state": "done", "success": True, "reason": "success"})
    ep = DemoDataset(tmp_path / "ds").episode(0)  # the paused periods are not recorded
    np.testing.assert_allclose(ep["action"][:, 0], [0.1, 0.2, 0.3], rtol=1e-6)


def test_a_takeover_without_the_deadman_moves_nothing():
    adapter = Adapter()
    dev = Device(released(0.5, 0, 0, -1), released(0.5, 0, 0, -1, intervene=True), released(0.5, 0, 0, -1),
                 act(0.1, 0, 0, -1), act(0.2, 0, 0, -1), released(0.2, 0, 0, -1),
                 released(0.2, 0, 0, -1, intervene=True), released(0.2, 0, 0, -1))
    s = TeleopSession(dev, adapter, N_JOINTS, takeover=True)
    s.on_episode(running(0))
    outs = [s.observe(state(k), Q) for k in range(8)]
    assert [o.intervention for o in outs] == [None, True, None, None, None, None, False, None]
    # the policy drives (no hold) until the takeover; taken over without the button: the arm holds (the
    # policy's trajectory in flight is cleared by the hold) and no human action reaches the replay buffer
    assert [o.hold for o in outs] == [False, True, True, False, False, True, False, False]
    assert [o.target is not None for o in outs] == [False, False, False, True, True, False, False, False]
    assert [o.action is not None for o in outs] == [False, False, False, True, True, False, False, False]
    np.testing.assert_allclose(outs[4].action, [0.2, 0, 0, -1])
    assert len(adapter.resets) == 3  # the episode, the takeover, the button held again after the hold
