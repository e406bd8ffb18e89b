"""WidowX connect on the simulated bus: a holding arm is neither moved nor dropped, servo EEPROM
that differs from the Interbotix configuration is refused with the fix or written on request,
and the FTDI latency timer check."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import (  # noqa: E402
    A_DRIVE_MODE, A_GOAL_POS, A_HOMING_OFFSET, A_OP_MODE, A_SECONDARY_ID, A_TORQUE, INST_SYNC_WRITE, INST_WRITE, OP_PWM,
    widowx_bus,
)
from widowx_helpers import PRIMARIES, torque_writes, wait_until, writes  # noqa: E402

from postbc_ros.drivers.arm import ArmError, make_arm  # noqa: E402
from postbc_ros.drivers.arm.dynamixel_bus import check_latency_timer  # noqa: E402

POSE = {1: 2300, 2: 1700, 4: 2500, 6: 2000, 7: 2600, 8: 1900, 9: 2400}  # a raised arm, register ticks
ALL = tuple(range(1, 10))
SAG = 3000.0  # ticks/s an unpowered joint falls in this simulation


def test_connect_does_not_move_or_drop_a_holding_arm():
    # every servo holds, and would fall at SAG ticks/s the moment its torque went off
    with widowx_bus(present=POSE, torque=ALL, sag_speed=SAG, sag_to=1000.0) as bus:
        before = {i: bus.present(i) for i in ALL}
        arm = make_arm("widowx", "widowx", port=bus.port)
        with arm:
            arm.read_state()
            assert not torque_writes(bus, 0), "connect never torques a servo off"
            assert not bus.goal_writes, "a holding servo's goal is left alone"
            assert not writes(bus, max_addr=A_TORQUE)
            for _ in range(5):
                st = arm.read_state()
            for i in ALL:
                assert abs(bus.present(i) - before[i]) <= 1, f"servo {i} moved on connect"
                assert bus.servos[i].torque
            assert st.gripper is not None


def test_connect_to_an_unpowered_arm_sets_goal_before_torque():
    with widowx_bus(present=POSE) as bus:
        before = {i: bus.present(i) for i in ALL}
        with make_arm("widowx", "widowx", port=bus.port) as arm:
            log = bus.log
            for i in PRIMARIES:  # each primary: its goal := present goes out before its torque on
                t_on = next(k for k, (mid, ins, p) in enumerate(log)
                            if mid == i and ins == INST_WRITE and p[:2] == A_TORQUE.to_bytes(2, "little") and p[2] == 1)
                t_goal = next(k for k, (mid, ins, p) in enumerate(log) if ins == INST_SYNC_WRITE
                              and p[:2] == A_GOAL_POS.to_bytes(2, "little") and i in p[4::5])
                assert t_goal < t_on
                assert dict(bus.goal_writes)[i] == before[i]
            assert {i for i, _g in bus.goal_writes} == set(PRIMARIES)
            for _ in range(5):
                arm.read_state()
            for i in ALL:
                assert bus.servos[i].torque and abs(bus.present(i) - before[i]) <= 1


def test_eeprom_mismatch_refused_with_the_fix_and_nothing_written():
    with widowx_bus(configured=False) as bus:  # factory EEPROM: no reverse shadows, no Secondary ID
        arm = make_arm("widowx", "widowx", port=bus.port)
        with pytest.raises(ArmError) as e:
            arm.connect()
        msg = str(e.value)
        for part in ("servo 3 (shoulder shadow) drive_mode = 0, expected 1", "servo 5 (elbow shadow) secondary_id = 255, expected 4",
                     "servo 7 (wrist_angle) drive_mode = 0, expected 1", "servo 9 (gripper) operating_mode = 3, expected 16",
                     "servo 2 (shoulder) min_position_limit = 0, expected 819", "Nothing was written",
                     "configure_eeprom=True"):
            assert part in msg
        assert not writes(bus), "refusing writes nothing"
        assert not arm.is_connected()


def test_eeprom_written_with_the_flag_as_xs_sdk_does():
    with widowx_bus(configured=False, present=POSE) as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        arm.configure_eeprom = True
        with arm:
            assert any("secondary_id" in w for w in arm.eeprom_written)
            for shadow, primary in ((3, 2), (5, 4)):
                s = bus.servos[shadow]
                assert s.table[A_DRIVE_MODE] == 1 and s.table[A_SECONDARY_ID] == primary
                assert s.get(A_HOMING_OFFSET, 4) != 0 and abs(bus.present(shadow) - bus.present(primary)) <= 1
            assert bus.servos[7].table[A_DRIVE_MODE] == 1 and bus.servos[9].table[A_OP_MODE] == OP_PWM
            q = np.array([0.1, 0.3, -0.4, 0.0, 0.2, 0.0])
            arm.command(q)
            assert wait_until(lambda: np.allclose(arm.read_state().q, q, atol=2e-3))
            assert bus.fight(2, 3) <= 3 and bus.fight(4, 5) <= 3
        # the next connect finds nothing to write
        arm2 = make_arm("widowx", "widowx", port=bus.port)
        with arm2:
            assert arm2.eeprom_written == []


def test_eeprom_write_on_a_holding_arm_needs_the_operators_confirmation():
    with widowx_bus(configured=False, present=POSE, torque=ALL) as bus:
        arm = make_arm("widowx", "widowx", port=bus.port, configure_eeprom=True)
        with pytest.raises(ArmError, match=r"must torque off servos \[.*3.*\], which hold the arm now.*eeprom_torque_off_confirmed=True"):
            arm.connect()
        assert not torque_writes(bus, 0) and not writes(bus)
        arm = make_arm("widowx", "widowx", port=bus.port, configure_eeprom=True, eeprom_torque_off_confirmed=True)
        with arm:
            off = set(torque_writes(bus, 0))
            assert 3 in off and 5 in off and 1 not in off, "only servos whose EEPROM changes are torqued off"
            assert all(s.torque for s in bus.servos.values())


def test_ftdi_latency_timer_warns_with_the_fix(tmp_path: Path, caplog):
    f = tmp_path / "ttyUSB0" / "latency_timer"
    f.parent.mkdir()
    f.write_text("16\n")
    msg = check_latency_timer("/dev/ttyUSB0", tmp_path)
    assert msg and "is 16 ms" in msg and f"echo 1 | sudo tee {f}" in msg and "udev" in msg
    assert msg in caplog.text
    f.write_text("1\n")
    assert check_latency_timer("/dev/ttyUSB0", tmp_path) is None
    assert check_latency_timer("/dev/ttyUSB9", tmp_path) is None  # not an FTDI device
    with widowx_bus() as bus:  # a pty has no latency timer: skipped
        (tmp_path / Path(bus.port).name).mkdir()
        (tmp_path / Path(bus.port).name / "latency_timer").write_text("16\n")
        assert check_latency_timer(bus.port, tmp_path) is None
        with make_arm("widowx", "widowx", port=bus.port, latency_sysfs=tmp_path) as arm:
            assert not any("latency" in w for w in arm.warnings)


def test_postbc_arm_configure_widowx_writes_the_eeprom_and_a_second_run_finds_nothing(capsys):
    from postbc_ros.cli.main import main

    with widowx_bus(configured=False, present=POSE) as bus:
        assert main(["arm", "configure-widowx", "--port", bus.port]) == 0
        out = capsys.readouterr().out
        assert "wrote" in out and "secondary_id" in out
        assert bus.servos[3].table[A_SECONDARY_ID] == 2 and bus.servos[5].table[A_DRIVE_MODE] == 1
        assert main(["arm", "configure-widowx", "--port", bus.port]) == 0
        assert "nothing written" in capsys.readouterr().out
