"""ArmController (ROS-free): the watchdog timeout is read every control period (arm_node's live
`watchdog_timeout`), the safety rig follows the backend, a command splits into arm + gripper; a
latched arm refuses enable until the operator reset; heartbeats and the supervisor watch."""
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


# ------------------------------------------------------------------ supervision pieces
def test_heartbeat_parse_names_the_bad_field():
    import pytest

    from postbc_ros.core.arm_supervision import Heartbeat

    hb = Heartbeat(stamp=1.0, episode=3, running=True, time_limit_s=30.0, elapsed_s=2.5)
    assert Heartbeat.parse(hb.to_json()) == hb
    for text, field in (("[1]", "JSON object"), ('{"running": 1}', "'running'"),
                        ('{"running": true, "episode": "3"}', "'episode'"),
                        ('{"running": true, "episode": 3, "stamp": 1, "time_limit_s": NaN, "elapsed_s": 0}',
                         "'time_limit_s'"), ("{", "not JSON")):
        with pytest.raises(ValueError, match=field):
            Heartbeat.parse(text)


def test_supervisor_watch_from_the_environment():
    import pytest

    from postbc_ros.core.arm_supervision import SUPERVISOR_CHECK_S, SupervisorWatch, pid_alive

    assert SupervisorWatch.from_env({}) is None
    with pytest.raises(ValueError, match="POSTBC_SUPERVISOR_PID='abc': must be a process id"):
        SupervisorWatch.from_env({"POSTBC_SUPERVISOR_PID": "abc"})
    import os

    assert pid_alive(os.getpid())
    watch = SupervisorWatch.from_env({"POSTBC_SUPERVISOR_PID": str(os.getppid())})
    assert watch.child and watch.check(0.0) is None
    # reparented (the supervisor died, its pid may even be reused): gone, checked a few times a second
    ppid = {"now": 500}
    watch = SupervisorWatch(500, alive=lambda _pid: True, getppid=lambda: ppid["now"])
    assert watch.check(0.0) is None
    ppid["now"] = 1
    assert watch.check(SUPERVISOR_CHECK_S / 2) is None  # not checked yet
    gone = watch.check(SUPERVISOR_CHECK_S)
    assert gone.latch and "reparented to process 1 (supervisor 500 died)" in gone.reason
    ppid["now"] = 500
    assert watch.check(10.0) is gone  # gone for good


def test_enable_is_refused_while_latched_and_operator_reset_leaves_the_arm_disabled():
    ctl, clock = _active_controller(0.3)
    d = ctl.latch("frozen_state", "measured state frozen: controller not responding")
    assert d.hold and d.level == 2 and d.interventions[0].kind == "frozen_state"
    assert ctl.latch("stale_state", "a second fault").hold is False  # the first cause is kept
    assert ctl.enable(True).refused.startswith("arm latched: measured state frozen")
    assert ctl.step(clock["t"], np.zeros(6), None, 0.0).command is None
    assert ctl.operator_reset().startswith("latch cleared")
    assert not ctl.enabled and ctl.latched is None and ctl.faults == {"frozen_state": 1}
    assert ctl.operator_reset().startswith("not latched")
    assert ctl.enable(True).refused == "" and ctl.enabled
