"""Hardware-in-the-loop: a real UR (e-Series or CB3). Skipped unless POSTBC_HIL_UR names the
controller's address.

Read-only except the last test, which connects the ur_rtde backend: that uploads ur_rtde's control
script (the robot must be in Remote Control, powered, brakes released) and servoes on the present
position -- it holds, it does not move.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

VAR = "POSTBC_HIL_UR"
HOST = os.environ.get(VAR, "")
pytestmark = pytest.mark.skipif(not HOST, reason=f"set {VAR}=<controller ip> to run on a real UR")

HOLD_S = 1.0
SAMPLE_DT = 0.05
HOLD_TOL_RAD = 0.002  # servoJ on the present position: encoder noise only
PROTECTIVE_STOP = 3  # RTDE safety_mode of a protective stop


def test_doctor_reaches_the_controller_and_reads_its_modes():
    from postbc_ros.doctor.ur import check_ur
    from postbc_ros.drivers.arm.ur_status import ROBOT_MODES, SAFETY_MODES

    c = {x.name: x for x in check_ur("ur5e", host=HOST)}
    assert c["ur5e: controller reachable"].ok, c["ur5e: controller reachable"].line()
    assert c["ur5e: robot mode"].detail in ROBOT_MODES.values(), c["ur5e: robot mode"].line()
    assert c["ur5e: safety"].detail in SAFETY_MODES.values(), c["ur5e: safety"].line()
    assert not c["ur5e: remote control"].detail.startswith("not checked")


def test_read_state_and_protective_stop_status():
    from rtde_receive import RTDEReceiveInterface

    from postbc_ros.drivers.arm.ur_status import ROBOT_MODES, SAFETY_MODES
    from postbc_ros.robots import get_robot_spec

    spec = get_robot_spec("ur5e")
    recv = RTDEReceiveInterface(HOST)
    try:
        t0 = recv.getTimestamp()
        q = np.asarray(recv.getActualQ())
        assert q.shape == (spec.dof,) and np.all(np.isfinite(q)) and spec.within_limits(q, tol=0.01), q
        assert len(recv.getActualTCPPose()) == 6
        safety, robot = recv.getSafetyMode(), recv.getRobotMode()
        assert safety in SAFETY_MODES and robot in ROBOT_MODES, (safety, robot)
        stopped = recv.isProtectiveStopped()
        assert isinstance(stopped, bool) and stopped == (safety == PROTECTIVE_STOP), (stopped, SAFETY_MODES[safety])
        assert isinstance(recv.isEmergencyStopped(), bool)
        time.sleep(0.1)
        assert recv.getTimestamp() > t0, "the controller's RTDE timestamp does not advance"
    finally:
        recv.disconnect()


def test_backend_connects_reads_and_holds():
    from postbc_ros.drivers.arm import make_arm

    arm = make_arm("ur_rtde", "ur5e", host=HOST)
    with arm:  # refuses with the fix when the robot is not in Remote Control / not running / stopped
        assert arm.fault is None and round(arm.servo_rate) in (125, 500), (arm.fault, arm.servo_rate)
        first = arm.read_state()
        worst = 0.0
        t_end = time.monotonic() + HOLD_S
        while time.monotonic() < t_end:
            time.sleep(SAMPLE_DT)
            worst = max(worst, float(np.max(np.abs(arm.read_state().q - first.q))))
        assert arm.fault is None, arm.fault
        assert worst < HOLD_TOL_RAD, f"the arm moved {worst:.4f} rad while holding"
