"""JointTrajectoryController (sim_node's command side, ROS-free): joint order, optional gripper,
start-now stamps, hold on an empty trajectory, whole-trajectory rejection with the reason."""
from __future__ import annotations

import numpy as np

from postbc_ros.core.joint_mapping import joint_names_problem
from postbc_ros.core.joint_trajectory_controller import JointTrajectoryController

ARM = ["a", "b", "c"]


def _jtc():
    j = JointTrajectoryController(ARM, "gripper")
    j.reset(np.zeros(3), 0.5)
    return j


def test_joints_in_any_order_and_the_gripper_keeps_its_setpoint_when_left_out():
    j = _jtc()
    assert j.command(10.0, ["c", "a", "b"], [[3.0, 1.0, 2.0]], np.array([11.0]), 10.0, np.zeros(3)) is None
    q, g = j.setpoint(11.0)
    assert np.allclose(q, [1.0, 2.0, 3.0]) and g == 0.5
    q, g = j.setpoint(10.5)  # halfway from the setpoint at receipt
    assert np.allclose(q, [0.5, 1.0, 1.5])


def test_stamp_zero_means_start_now_and_the_gripper_is_clipped():
    j = _jtc()
    assert j.command(0.0, ARM + ["gripper"], [[1, 1, 1, 3.0]], np.array([1.0]), 50.0, np.zeros(3)) is None
    q, g = j.setpoint(51.0)
    assert np.allclose(q, 1.0) and g == 1.0
    assert np.allclose(j.setpoint(50.5)[0], 0.5)


def test_an_empty_trajectory_holds_the_measured_position():
    j = _jtc()
    j.command(10.0, ARM, [[1.0, 1.0, 1.0]], np.array([12.0]), 10.0, np.zeros(3))
    assert j.command(10.0, ARM, [], np.zeros(0), 11.0, np.array([0.2, 0.3, 0.4])) is None
    q, g = j.setpoint(13.0)
    assert np.allclose(q, [0.2, 0.3, 0.4]) and g == 0.5


def test_bad_trajectories_are_rejected_whole_and_change_nothing():
    j = _jtc()
    j.command(10.0, ARM, [[1.0, 1.0, 1.0]], np.array([12.0]), 10.0, np.zeros(3))
    bad = [
        (ARM[:2], [[1.0, 2.0]], "missing ['c']"),
        (ARM + ["elbow2"], [[1.0, 2.0, 3.0, 4.0]], "unknown ['elbow2']"),  # as long as arm + gripper
        (ARM + ["a"], [[1.0, 2.0, 3.0, 4.0]], "repeated ['a']"),
        (ARM, [[0.1, 0.1, 0.1], [np.nan, 0.0, 0.0]], "non-finite"),
        (ARM, [[np.inf, 0.0, 0.0]], "non-finite"),
    ]
    for names, points, why in bad:
        reason = j.command(10.0, names, points, np.arange(len(points)) + 11.0, 10.0, np.zeros(3))
        assert reason is not None and reason.startswith("trajectory rejected") and why in reason, (names, reason)
    assert np.allclose(j.setpoint(12.0)[0], 1.0)  # the first trajectory still runs


def test_joint_names_problem_is_none_exactly_when_the_names_map():
    assert joint_names_problem(["b", "a", "c"], ARM, "gripper") is None
    assert joint_names_problem(ARM + ["gripper"], ARM, "gripper") is None
    assert "missing ['b']" in joint_names_problem(["a", "c"], ARM, "gripper")


def test_a_first_point_jumping_past_twice_max_step_is_refused_and_the_controller_holds():
    """Second line of defence behind the arm's filter: the reference is the last accepted point,
    or the measured position after a hold."""
    from postbc_ros.core.joint_trajectory_controller import JUMP_STEPS

    j = JointTrajectoryController(ARM, "gripper", max_step=0.2)
    j.reset(np.zeros(3), 0.5)
    ok = JUMP_STEPS * 0.2 - 1e-6
    assert j.command(0.0, ARM, [[ok, 0.0, 0.0]], np.array([0.1]), 10.0, np.zeros(3)) is None
    assert j.command(0.0, ARM, [[2 * ok, 0.0, -ok]], np.array([0.1]), 10.05, np.zeros(3)) is None  # from the last point
    why = j.command(0.0, ARM, [[2 * ok, 0.0, 0.92]], np.array([0.1]), 10.1, np.array([0.3, 0.0, -0.3]))
    assert why is not None and "moves c by 1.320 rad from the last commanded point" in why and "holding" in why
    assert np.allclose(j.setpoint(11.0)[0], [0.3, 0.0, -0.3]) and j.refused == 1  # held at the measured position
    why = j.command(0.0, ARM, [[2 * ok, 0.0, -ok]], np.array([0.1]), 10.2, np.array([0.3, 0.0, -0.3]))
    assert "from the measured position" in why  # after a hold the reference is the measured position
    assert j.command(0.0, ARM, [[0.3 + ok, 0.0, -0.3]], np.array([0.1]), 10.2, np.array([0.3, 0.0, -0.3])) is None


def test_while_another_node_publishes_the_command_topic_every_trajectory_is_refused():
    j = JointTrajectoryController(ARM, "gripper", command_source="/robot1/arm")
    j.reset(np.zeros(3), 0.5)
    assert j.publishers(["/robot1/arm"], np.zeros(3)) is None  # nothing changed: no report
    assert j.command(0.0, ARM, [[1.0, 1.0, 1.0]], np.array([1.0]), 0.0, np.zeros(3)) is None
    report = j.publishers(["/robot1/arm", "/robot1/intruder"], np.full(3, 0.4))
    assert "other than /robot1/arm: /robot1/intruder" in report
    assert np.allclose(j.setpoint(2.0)[0], 0.4)  # the running trajectory is cancelled: hold
    assert j.publishers(["/robot1/intruder", "/robot1/arm"], np.zeros(3)) is None  # reported once
    why = j.command(0.0, ARM, [[0.4, 0.4, 0.4]], np.array([1.0]), 2.0, np.full(3, 0.4))
    assert why.startswith("trajectory refused") and "/robot1/intruder" in why and j.refused == 1
    assert j.command(0.0, ARM, [], np.zeros(0), 2.0, np.full(3, 0.4)) is not None  # not even a hold from it
    assert "trajectories accepted" in j.publishers(["/robot1/arm"], np.full(3, 0.4))
    assert j.command(0.0, ARM, [[0.5, 0.5, 0.5]], np.array([1.0]), 2.0, np.full(3, 0.4)) is None
