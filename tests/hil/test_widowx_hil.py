"""Hardware-in-the-loop: a real WidowX 250 6-DOF on a U2D2. Skipped unless
POSTBC_HIL_WIDOWX names its serial port (e.g. /dev/ttyUSB0 or /dev/ttyDXL).

Power the arm and leave it resting or holding; nothing here commands a motion: doctor only pings
and reads, the driver connects without moving (goal := present before torque on, a holding servo
is left alone) and `hold()` keeps the present position.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

VAR = "POSTBC_HIL_WIDOWX"
PORT = os.environ.get(VAR, "")
pytestmark = pytest.mark.skipif(not PORT, reason=f"set {VAR}=/dev/ttyUSB0 (the U2D2's port) to run on a real WidowX")

HOLD_S = 1.0  # how long the held arm is watched
SAMPLE_DT = 0.05  # s between reads while holding (the arm node's 20 Hz)
HOLD_TOL_RAD = 0.02  # ~13 ticks: a holding XM430 under gravity stays well within this of its goal


def test_doctor_finds_the_servos_and_their_eeprom():
    from postbc_ros.doctor.dynamixel import check_widowx
    from postbc_ros.robots import get_robot_spec

    checks = check_widowx("widowx", list(get_robot_spec("widowx").joint_names), port=PORT)
    bad = [c.line() for c in checks if not c.ok]
    assert not bad, "\n".join(bad)
    assert next(c for c in checks if c.name == "widowx: servos").detail.startswith("9 servos")


def test_connect_read_and_hold_without_motion():
    from postbc_ros.drivers.arm import make_arm
    from postbc_ros.robots import get_robot_spec

    spec = get_robot_spec("widowx")
    arm = make_arm("widowx", "widowx", port=PORT)
    with arm:
        assert arm.is_connected() and arm.fault is None, arm.fault
        first = arm.read_state()
        assert first.q.shape == (spec.dof,) and np.all(np.isfinite(first.q))
        assert spec.within_limits(first.q, tol=0.05), f"measured q {first.q} outside the joint limits: check motors.yaml offsets"
        assert first.gripper is not None and -0.1 <= first.gripper <= 1.1
        arm.hold()
        worst, stamps = 0.0, [first.stamp]
        t_end = time.monotonic() + HOLD_S
        while time.monotonic() < t_end:
            time.sleep(SAMPLE_DT)
            st = arm.read_state()
            worst = max(worst, float(np.max(np.abs(st.q - first.q))))
            stamps.append(st.stamp)
        assert arm.fault is None, arm.fault
        assert worst < HOLD_TOL_RAD, f"the arm moved {worst:.3f} rad while holding"
        assert np.all(np.diff(stamps) > 0)
        assert not any(arm.hardware_error_status().values()), arm.hardware_error_status()
