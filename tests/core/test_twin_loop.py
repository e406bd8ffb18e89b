"""TwinLoop (sim_node without ROS) on the real widowx reach twin: it follows a trajectory at the
control period, reports reset layouts with distinct seeds, and schedules camera frames in
simulated time."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.core.twin_loop import RESET_SEED_STRIDE, TwinLoop


@pytest.fixture(scope="module")
def loop():
    from postbc_ros.sim import make_env

    env = make_env("widowx", "reach", obs_mode="state", seed=3)
    yield TwinLoop(env, "gripper", seed=3, start_time=1000.0)
    env.close()


def test_the_twin_follows_a_trajectory_in_simulated_time(loop):
    q0 = loop.twin.joint_positions().copy()
    target = q0 + np.array([0.2, -0.1, 0.1, 0.0, 0.1, 0.0])
    names = list(reversed(loop.names))  # any joint order
    rejected = loop.command(0.0, names, [target[::-1]], np.array([0.5]))  # stamp 0: start now
    assert rejected is None
    t0 = loop.time
    for _ in range(int(round(1.5 / loop.dt))):
        loop.tick()
    assert loop.time == pytest.approx(t0 + 1.5)
    assert np.allclose(loop.twin.joint_positions(), target, atol=0.02)
    names, q, dq = loop.joint_state()
    assert names == loop.names + ["gripper"] and q.shape == dq.shape == (7,) and dq[-1] == 0.0
    obs, labels = loop.observation()
    assert len(obs) == len(labels) == 16


def test_a_rejected_trajectory_leaves_the_arm_where_it_was(loop):
    before = loop.twin.joint_positions().copy()
    assert "missing" in loop.command(0.0, loop.names[:3], [[1.0, 1.0, 1.0]], np.array([0.5]))
    for _ in range(5):
        loop.tick()
    assert np.allclose(loop.twin.joint_positions(), before, atol=0.02)


def test_each_reset_draws_the_next_layout(loop):
    first, second = loop.reset(), loop.reset()
    assert (first["reset"], second["reset"]) == (1, 2)
    assert (first["seed"], second["seed"]) == (3 * RESET_SEED_STRIDE + 1, 3 * RESET_SEED_STRIDE + 2)
    assert first["layout"] != second["layout"]
    assert not loop.controller.follower.active  # the old trajectory is forgotten


def test_frames_are_due_at_the_camera_rate_in_simulated_time(loop):
    due = []
    for _ in range(int(round(2.0 / loop.dt))):
        loop.tick()
        due.append(loop.frame_due(5.0))
    assert sum(due) == 10  # 5 Hz for 2 simulated seconds
    assert not any(loop.frame_due(0.0) for _ in range(3))  # rate 0: no images


def test_the_twin_holds_while_an_intruder_publishes_and_refuses_a_jump():
    """The issue's reproduction: one message moved the twin 0.92 rad (max step 0.2)."""
    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.sim import make_env

    env = make_env("widowx", "reach", obs_mode="state", seed=4)
    try:
        limits = load_safety_limits("widowx_twin")
        loop = TwinLoop(env, "gripper", seed=4, start_time=0.0, max_step=limits.max_step,
                        command_source="/robot1/arm")
        q0 = loop.twin.joint_positions().copy()
        step = q0 + 0.5 * limits.max_step  # a move the filter would pass
        assert "/robot1/intruder" in loop.publishers(["/robot1/arm", "/robot1/intruder"])
        assert loop.command(0.0, loop.names, [step], np.array([0.3])).startswith("trajectory refused")
        jump = q0 + np.array([0.92, 0, 0, 0, 0, 0])
        for _ in range(10):
            loop.tick()
        assert np.allclose(loop.twin.joint_positions(), q0, atol=0.01)
        loop.publishers(["/robot1/arm"])
        assert "first point moves" in loop.command(0.0, loop.names, [jump], np.array([0.3]))
        for _ in range(10):
            loop.tick()
        assert np.allclose(loop.twin.joint_positions(), q0, atol=0.01)
        assert loop.command(0.0, loop.names, [step], np.array([0.3])) is None  # the arm's own command moves it
        for _ in range(10):
            loop.tick()
        assert np.allclose(loop.twin.joint_positions(), step, atol=0.02)
    finally:
        env.close()
