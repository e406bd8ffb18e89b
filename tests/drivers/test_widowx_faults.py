"""WidowX servo faults on the simulated bus: Hardware Error Status + Alert bit, detection within
one control cycle, the rest of the arm holds, `ServoFault` names servo and bits, and a reboot
that needs the operator's confirmation restores motion."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import (  # noqa: E402
    A_GOAL_POS, A_HW_ERROR, A_TORQUE, ALERT, HW_INPUT_VOLTAGE, HW_OVERHEATING, HW_OVERLOAD, INST_REBOOT, widowx_bus,
)
from widowx_helpers import raw_port, retry, wait_until  # noqa: E402

from postbc_ros.drivers.arm import ArmError, make_arm  # noqa: E402
from postbc_ros.drivers.arm.widowx import ServoFault  # noqa: E402


def test_sim_hardware_error_alert_bit_and_reboot():
    """ROBOTIS behaviour the driver relies on: a shutdown error drops the torque and keeps it
    off, every status packet carries the Alert bit, REBOOT clears it and keeps the position."""
    with widowx_bus(present={6: 2300}, torque=(6,)) as bus:
        port, pkt = raw_port(bus)
        try:
            bus.inject_fault(6, HW_OVERLOAD)
            data, result, error = retry(pkt.read1ByteTxRx, port, 6, A_HW_ERROR)
            assert (data, result, error) == (HW_OVERLOAD, 0, ALERT)
            assert not bus.servos[6].torque
            assert retry(pkt.write1ByteTxRx, port, 6, A_TORQUE, 1) == (0, ALERT)
            assert not bus.servos[6].torque, "torque stays off until a reboot"
            bus.inject_fault(1, HW_INPUT_VOLTAGE)  # not a Shutdown bit: alert, torque kept
            assert retry(pkt.read1ByteTxRx, port, 1, A_HW_ERROR)[2] == ALERT
            assert retry(pkt.reboot, port, 6) == (0, ALERT)  # the status goes out before the restart
            assert wait_until(lambda: retry(pkt.read1ByteTxRx, port, 6, A_HW_ERROR) == (0, 0, 0))
            assert retry(pkt.read4ByteTxRx, port, 6, A_GOAL_POS)[0] == 2300 and bus.present(6) == 2300
            assert not bus.servos[6].torque
        finally:
            port.closePort()


def test_overload_mid_motion_holds_the_arm_and_needs_a_confirmed_reboot():
    with widowx_bus(speed=400.0) as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        with arm:
            target = np.array([0.4, -0.4, 0.5, 0.3, 0.3, 0.3])
            arm.command(target, 0.5)
            time.sleep(0.1)
            arm.read_state()  # one healthy control period mid-motion
            bus.inject_fault(4, HW_OVERLOAD)  # the elbow overloads
            with pytest.raises(ServoFault, match=r"servo 4 \(elbow\): overload \(Hardware Error Status 0x20\)") as e:
                arm.read_state()  # the very next control period
            assert e.value.ids == [4] and e.value.faults[4][2] == ["overload"]
            assert "reboot([4], confirmed=True)" in str(e.value)
            assert not bus.servos[4].torque
            # the rest of the arm holds where it was: goal := present, no further motion
            time.sleep(0.05)  # the hold is a Sync Write (no reply): let the bus deliver it
            held = {i: bus.present(i) for i in (1, 2, 6, 7, 8)}
            time.sleep(0.15)
            for i, p in held.items():
                assert abs(bus.present(i) - p) <= 1, f"servo {i} kept moving after the fault"
                assert abs(bus.servos[i].get(A_GOAL_POS, 4) - p) <= 2
            assert bus.present(1) < 2048 + 0.4 * 651.9 - 20, "the waist was stopped mid-motion"
            with pytest.raises(ServoFault):
                arm.command(target, 0.5)
            with pytest.raises(ServoFault):
                arm.read_state()  # latched: not "recovered" by itself
            arm.hold()  # a hold still works on the healthy servos
            with pytest.raises(ArmError, match=r"reboot of servo\(s\) 4 \(elbow\) refused: it needs the operator's confirmation"):
                arm.reboot([4])
            assert not bus.instructions(INST_REBOOT)
            assert "rebooted servo(s) 4 (elbow)" in arm.reboot(confirmed=True)
            assert [i for i, _p in bus.instructions(INST_REBOOT)] == [4]
            assert bus.servos[4].torque and bus.servos[4].hw_error == 0 and not arm.faults
            st = arm.read_state()
            assert np.all(np.abs(st.q - arm.read_state().q) < 0.01), "the reboot did not move the arm"
            arm.command(target, 0.5)  # motion is restored
            assert wait_until(lambda: np.allclose(arm.read_state().q, target, atol=3e-3), timeout=4.0)
            assert bus.fight(4, 5) <= 3 and bus.fight(2, 3) <= 3


def test_torque_lost_without_alert_is_caught_by_the_periodic_poll():
    """A servo whose torque went off (power glitch, another program) sends no Alert; the read of
    Torque Enable .. Hardware Error Status every `hw_error_poll_every` periods catches it."""
    with widowx_bus() as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        arm.hw_error_poll_every = 3
        with arm:
            with bus.lock:
                bus.servos[6].table[A_TORQUE] = 0
            with pytest.raises(ServoFault, match=r"servo 6 \(forearm_roll\): torque off"):
                for _ in range(3):
                    arm.read_state()


def test_fault_present_at_connect_is_reported_and_rebooted():
    with widowx_bus(torque=tuple(range(1, 10))) as bus:
        bus.inject_fault(7, HW_OVERHEATING | HW_OVERLOAD)
        arm = make_arm("widowx", "widowx", port=bus.port)
        with arm:
            assert any("servo 7 (wrist_angle): overheating, overload" in w for w in arm.warnings)
            with pytest.raises(ServoFault, match=r"servo 7 \(wrist_angle\)"):
                arm.read_state()
            assert not bus.servos[7].torque
            with pytest.raises(ArmError, match="no servo \\[12\\]"):
                arm.reboot([12], confirmed=True)
            arm.reboot([7], confirmed=True)
            assert bus.servos[7].torque
            arm.read_state()
