"""ArmController (ROS-free): the watchdog timeout is read every control period (arm_node's live
`watchdog_timeout`), the safety rig follows the backend, a command splits into arm + gripper."""
from __future__ import annotations

import numpy as np

from postbc_ros.core.arm_controller import ArmController, safety_rig_for
from postbc_ros.core.safety import load_safety_limits


def _active_controller(timeout):
    lim = load_safety_limits("widowx_twin")
    clock = {"t": 10.0}
    ctl = ArmController(lim, "gripper", period=0.05, watchdog_timeout=timeout, clock=lambda: clock["t"])
    ctl.activate(True)
    names = list(lim.joint_names) + ["gripper"]
    # a long trajectory: only the watchdog can stop it
    ctl.trajectory(10.0, names, [np.zeros(7)], np.array([20.0]), 10.0, np.zeros(6), None, 0.0)
    return ctl, clock


def test_a_changed_watchdog_timeout_applies_from_the_next_control_period():
    setting = {"timeout": 0.3}
    ctl, clock = _active_controller(lambda: setting["timeout"])
    setting["timeout"] = 1.0  # e.g. `ros2 param set /robot1/arm watchdog_timeout 1.0`
    clock["t"] = 10.5  # 0.5 s without a command: stale under the old timeout, fresh under the new one
    d = ctl.step(clock["t"], np.zeros(6), None, 0.0)
    assert d.command is not None and not d.hold and ctl.watchdog_timeout == 1.0
    setting["timeout"] = 0.3
    d = ctl.step(clock["t"] + 0.05, np.zeros(6), None, 0.0)
    assert d.hold and d.interventions[0].kind == "watchdog" and d.interventions[0].limit == 0.3


def test_a_fixed_watchdog_timeout_still_works():
    ctl, clock = _active_controller(0.3)
    clock["t"] = 10.5
    d = ctl.step(clock["t"], np.zeros(6), None, 0.0)
    assert d.command is None and d.reason == "watchdog" and ctl.watchdog_timeout == 0.3


def test_safety_rig_is_the_twin_rig_for_twin_backends_unless_given():
    assert safety_rig_for("ur5e", "ur_rtde") == "ur5e"
    assert safety_rig_for("widowx", "widowx") == "widowx"
    assert {safety_rig_for("widowx", b) for b in ("mujoco", "ros2_control", "fake")} == {"widowx_twin"}
    assert safety_rig_for("widowx", "fake", "lab_b") == "lab_b"


def test_split_gives_the_backend_arm_joints_and_the_gripper():
    ctl, _clock = _active_controller(0.3)
    q, g = ctl.split(np.arange(7.0))
    assert np.array_equal(q, np.arange(6.0)) and g == 6.0
    q, g = ctl.split(np.arange(6.0))
    assert q.shape == (6,) and g is None
