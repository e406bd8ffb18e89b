"""ArmLoop (ROS-free arm_node): decisions executed on a kinematic fake arm with a fake clock --
only filtered setpoints reach it, stop holds, arm/home waits for the arm, close always disconnects."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from postbc_ros.core.arm_controller import ArmController
from postbc_ros.core.arm_loop import HOME_POLL_S, HOME_TOLERANCE, ArmLoop, home_deadline
from postbc_ros.core.safety import load_safety_limits
from postbc_ros.drivers.arm.fake import FakeArm

PERIOD = 0.05


class Rig:
    def __init__(self, initial_q=None, logger=logging.getLogger("arm_loop_test")):
        self.t = 100.0
        self.limits = load_safety_limits("widowx_twin")
        self.arm = FakeArm("widowx", clock=self.now, initial_q=initial_q)
        self.reports = []
        ctl = ArmController(self.limits, "gripper", PERIOD, 0.5, clock=self.now)
        self.loop = ArmLoop(ctl, self.arm.spec.home, self.reports.append, logger, clock=self.now, sleep=self.sleep)
        self.names = list(self.limits.joint_names) + ["gripper"]

    def now(self):
        return self.t

    def sleep(self, dt):  # the control timer keeps running while arm/home waits
        self.t += dt
        self.loop.control(self.now)

    def periods(self, n):
        for _ in range(n):
            self.t += PERIOD
            self.loop.control(self.now)


def test_nothing_happens_without_a_backend():
    rig = Rig()
    rig.loop.command(rig.t, rig.names, [np.zeros(7)], np.array([rig.t + 1]), rig.t)
    assert rig.loop.control(rig.now) is None
    assert rig.loop.home(rig.t, 0.3) == (False, "arm not active (configure + activate first)")


def test_only_filtered_setpoints_reach_the_backend_and_stop_holds():
    rig = Rig()
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    q0 = rig.arm.read_state().q
    far = np.append(q0, 0.0)
    far[0] = rig.limits.upper[0] + 3.0
    far[6] = 5.0
    rig.loop.command(rig.t, rig.names, [far], np.array([rig.t + 0.5]), rig.t)
    rig.periods(8)
    sent = np.array([np.append(q, g) for q, g in rig.arm.commands])
    assert len(sent) == 8
    assert np.all(sent[:, :6] <= rig.limits.upper + 1e-9) and np.all(sent[:, 6] <= 1.0)
    assert np.all(np.abs(np.diff(sent[:, :6], axis=0)) <= rig.limits.step_bound(PERIOD) + 1e-9)
    assert {iv.kind for d in rig.reports for iv in d.interventions} >= {"joint_limit", "gripper_limit"}
    assert rig.loop.enable(False).startswith("disabled: holding")
    rig.periods(3)
    assert len(rig.arm.commands) == 8  # holding: nothing sent
    t, names, position = rig.loop.control(rig.now)
    assert t == rig.t and names == rig.names and position.shape == (7,)


def test_home_waits_until_the_arm_is_within_the_tolerance():
    rig = Rig(initial_q=FakeArm("widowx").spec.home + 0.3)
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    t0 = rig.t
    assert rig.loop.home(rig.t, 0.5) == (True, "home")
    assert np.max(np.abs(rig.arm.read_state().q - rig.arm.spec.home)) < HOME_TOLERANCE
    assert rig.t - t0 < home_deadline(0.0)


def test_home_fails_after_the_deadline_when_the_arm_does_not_move():
    rig = Rig(initial_q=FakeArm("widowx").spec.home + 0.3)
    rig.arm.send = lambda q, g=None: None  # a stuck arm
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    t0 = rig.t
    ok, message = rig.loop.home(rig.t, 0.5)
    assert not ok and message.startswith("did not reach home within")
    timeout = float(message.split()[-2])
    assert timeout > home_deadline(0.0) and rig.t - t0 == pytest.approx(timeout, abs=HOME_POLL_S + 1e-6)


def test_close_holds_and_disconnects():
    rig = Rig()
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    rig.loop.close()
    assert not rig.arm.is_connected() and rig.loop.backend is None


class _Warnings(list):
    def info(self, _message):
        pass

    def warning(self, message):
        self.append(message)


def test_close_finishes_when_the_backend_fails_to_disconnect():
    warnings = _Warnings()
    rig = Rig(logger=warnings)
    rig.loop.connect(rig.arm)

    def fail():
        raise RuntimeError("bus error")

    rig.arm.disconnect = fail
    rig.loop.close()
    assert rig.loop.backend is None and warnings == ["disconnect: bus error"]
