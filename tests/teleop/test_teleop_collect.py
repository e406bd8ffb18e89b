"""A human session end to end: gamepad js_events over a FIFO drive the MuJoCo twin through
collect_episodes into a dataset (start button, stick motion, gripper, intervene, success label,
abort keeps the saved episodes); and the scripted operator through the same interface."""
import os

import numpy as np
import pytest
from teleop_wire import JS_AXIS, JS_BUTTON, fifo_pair, js_event

from postbc_ros.data import DatasetWriter, DemoDataset
from postbc_ros.data.collect import CollectionAborted, collect_episodes, env_fps, features_from_env
from postbc_ros.drivers.teleop import make_teleop_device
from postbc_ros.drivers.teleop.gamepad import GamepadTeleop
from postbc_ros.sim import make_env


def test_gamepad_session_on_twin(tmp_path):
    env = make_env("widowx", "reach", obs_mode="state", control="ee_delta", seed=0)
    rfd, wfd = fifo_pair(tmp_path / "js0")
    gp = GamepadTeleop(fd=rfd)
    writer = DatasetWriter(tmp_path / "ds", features_from_env(env), fps=env_fps(env), robot_type="widowx")
    # the operator's inputs, delivered between control steps (collect paces with `sleep`)
    script = {
        1: js_event(JS_AXIS, 1, -32767),                                   # stick forward
        3: js_event(JS_BUTTON, 2, 1) + js_event(JS_BUTTON, 2, 0),          # X: close gripper
        4: js_event(JS_BUTTON, 3, 1) + js_event(JS_BUTTON, 3, 0),          # Y: intervene
        5: js_event(JS_AXIS, 1, 0) + js_event(JS_BUTTON, 0, 1) + js_event(JS_BUTTON, 0, 0),  # A: success
        # episode 2: wait for start, then Back (abort)
        6: js_event(JS_BUTTON, 6, 1),
    }
    calls = {"n": 0}

    def sleep(_dt):
        calls["n"] += 1
        if calls["n"] in script:
            os.write(wfd, script[calls["n"]])

    os.write(wfd, js_event(JS_BUTTON, 7, 1) + js_event(JS_BUTTON, 7, 0))  # Start
    with pytest.raises(CollectionAborted):
        collect_episodes(env, gp, writer, episodes=2, task_name="reach the target", seed=3,
                         progress=False, sleep=sleep)
    os.close(wfd)
    gp.close()
    ds = DemoDataset(tmp_path / "ds")
    assert ds.num_episodes == 1  # the aborted episode is not saved, the first one is
    ep = ds.episode(0)
    assert ds.episode_success(0) is True and ds.episode_task(0) == "reach the target"
    act = ep["action"]
    assert len(act) == 5
    np.testing.assert_array_equal(act[0], [0, 0, 0, -1])
    np.testing.assert_array_equal(act[1], [1, 0, 0, -1])
    np.testing.assert_array_equal(act[3], [1, 0, 0, 1])
    assert ep["intervention"].tolist() == [False, False, False, False, True]
    # the recorded states are exactly the twin's (replayed with the recorded actions)
    ref = make_env("widowx", "reach", obs_mode="state", control="ee_delta", seed=0)
    obs, _ = ref.reset(seed=3)
    for t in range(5):
        assert np.array_equal(ep["observation.state"][t], obs["state"])
        obs, *_ = ref.step(act[t])


def test_scripted_operator_device():
    env = make_env("widowx", "push", obs_mode="state", control="ee_delta", seed=0)
    dev = make_teleop_device("scripted", env=env, seed=7)
    assert not dev.requires_start and not dev.realtime
    obs, _ = env.reset(seed=0)
    dev.reset()
    assert dev.mode in ("left", "right")
    for _ in range(5):
        cmd = dev.read(obs)
        assert cmd.action.shape == (4,) and cmd.action.dtype == np.float32
        assert np.all(np.abs(cmd.action) <= 1.0) and cmd.events() == []
        obs, *_ = env.step(cmd.action)
    with pytest.raises(ValueError, match="needs the current observation"):
        dev.read(None)


def test_collect_rejects_devices_for_other_action_spaces(tmp_path):
    env = make_env("widowx", "reach", obs_mode="state", control="joint_delta", seed=0)
    rfd, wfd = fifo_pair(tmp_path / "js0")
    os.write(wfd, js_event(JS_BUTTON, 7, 1))
    writer = DatasetWriter(tmp_path / "ds", features_from_env(env), fps=env_fps(env))
    with pytest.raises(Exception, match=r"teleop devices drive control='ee_delta'"):
        collect_episodes(env, GamepadTeleop(fd=rfd), writer, 1, "t", progress=False, sleep=lambda _: None)
    os.close(wfd)
    os.close(rfd)


def test_failed_episodes_kept_or_discarded(tmp_path):
    from postbc_ros.data import DatasetError

    env = make_env("widowx", "pick_place", obs_mode="state", control="ee_delta", seed=0)
    dev = make_teleop_device("scripted", env=env, seed=0)
    writer = DatasetWriter(tmp_path / "ds", features_from_env(env), fps=env_fps(env))
    res = collect_episodes(env, dev, writer, 2, "pick", seed=0, max_steps=3, progress=False)
    assert [(r.length, r.success) for r in res] == [(3, False), (3, False)]
    assert [DemoDataset(tmp_path / "ds").episode_success(i) for i in range(2)] == [False, False]
    with pytest.raises(DatasetError, match="only 0 of 1 episodes kept after 20 attempts"):
        collect_episodes(env, dev, writer, 1, "pick", seed=0, max_steps=3, keep_failures=False, progress=False)
    assert DemoDataset(tmp_path / "ds").num_episodes == 2


def test_keyboard_session_over_pty(tmp_path):
    from postbc_ros.drivers.teleop.keyboard import KeyboardTeleop

    master, slave = os.openpty()
    env = make_env("ur5e", "reach", obs_mode="state", control="ee_delta", seed=0)
    kb = KeyboardTeleop(fd=slave)
    writer = DatasetWriter(tmp_path / "kb", features_from_env(env), fps=env_fps(env), robot_type="ur5e")
    keys = {1: b"w", 2: b" ", 3: b"y", 4: b"q"}  # forward, close gripper, success; then abort
    calls = {"n": 0}

    def sleep(_dt):
        calls["n"] += 1
        if calls["n"] in keys:
            os.write(master, keys[calls["n"]])

    os.write(master, b"\r")  # Enter: start
    try:
        with pytest.raises(CollectionAborted):
            collect_episodes(env, kb, writer, 2, "reach", seed=0, progress=False, sleep=sleep)
    finally:
        kb.close()
        os.close(master)
        os.close(slave)
    ds = DemoDataset(tmp_path / "kb")
    assert ds.num_episodes == 1 and ds.episode_success(0) is True and ds.robot_type == "ur5e"
    np.testing.assert_array_equal(ds.episode(0)["action"], [[0, 0, 0, -1], [1, 0, 0, -1], [0, 0, 0, 1]])
