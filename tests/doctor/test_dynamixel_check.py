"""Doctor's Dynamixel checks against the simulated WidowX bus (tests/drivers/dxl_sim.py: a virtual
serial port speaking Protocol 2.0 to the real dynamixel_sdk): the 9 servos found, an EEPROM
mismatch, a hardware error and a missing servo named, nothing written, a busy port left alone."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "drivers"))
from dxl_sim import A_SECONDARY_ID, HW_OVERLOAD, INST_REBOOT, INST_SYNC_WRITE, INST_WRITE, widowx_bus  # noqa: E402

from postbc_ros.doctor.dynamixel import check_servos, check_widowx  # noqa: E402
from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration  # noqa: E402
from postbc_ros.resources import calibration_root  # noqa: E402
from postbc_ros.robots import get_robot_spec  # noqa: E402

JOINTS = list(get_robot_spec("widowx").joint_names)
CAL = load_widowx_calibration(calibration_root() / "widowx" / "motors.yaml", JOINTS)


def by_name(checks):
    return {c.name: c for c in checks}


def assert_read_only(bus):
    for inst in (INST_WRITE, INST_SYNC_WRITE, INST_REBOOT):
        assert not bus.instructions(inst), "doctor must only ping and read"


def test_finds_the_nine_servos_with_their_models_and_eeprom():
    with widowx_bus(torque=(1, 2)) as bus:
        c = by_name(check_widowx("widowx", JOINTS, port=bus.port))
        assert_read_only(bus)
    assert all(x.ok for x in c.values()), [x.line() for x in c.values() if not x.ok]
    servos = c["widowx: servos"]
    assert servos.detail.startswith(f"9 servos on {bus.port}")
    for i in range(1, 8):
        assert f"{i} XM430-W350" in servos.detail
    assert "8 XL430-W250" in servos.detail and "9 XL430-W250" in servos.detail
    assert c["widowx: servo hardware errors"].detail == "none; torque on: [1, 2]"
    assert "no FTDI latency timer" in c["widowx: FTDI latency timer"].detail  # a pty is no FTDI device


def test_flags_an_eeprom_mismatch_with_the_fix():
    with widowx_bus() as bus:
        bus.servos[3].table[A_SECONDARY_ID] = 255  # the shoulder shadow no longer follows servo 2
        c = by_name(check_servos("widowx", CAL, bus.port))
        assert_read_only(bus)
    assert c["widowx: servos"].ok
    e = c["widowx: servo EEPROM"]
    assert not e.ok
    assert e.detail == "servo 3 (shoulder shadow) secondary_id = 255, expected 2"
    assert "postbc arm configure-widowx" in e.fix


def test_factory_servos_list_every_mismatch():
    with widowx_bus(configured=False) as bus:
        e = by_name(check_servos("widowx", CAL, bus.port))["widowx: servo EEPROM"]
    assert not e.ok
    for expected in ("servo 3 (shoulder shadow) drive_mode = 0, expected 1",
                     "servo 5 (elbow shadow) secondary_id = 255, expected 4", "servo 9 (gripper) operating_mode = 3, expected 16"):
        assert expected in e.detail


def test_names_a_hardware_error():
    with widowx_bus() as bus:
        bus.inject_fault(4, HW_OVERLOAD)
        c = by_name(check_servos("widowx", CAL, bus.port))
    hw = c["widowx: servo hardware errors"]
    assert not hw.ok and "servo 4 (elbow): overload (Hardware Error Status 0x20)" in hw.detail
    assert "postbc arm reset" in hw.fix


def test_names_a_missing_servo_and_skips_the_eeprom():
    with widowx_bus(missing=(5,)) as bus:
        c = by_name(check_servos("widowx", CAL, bus.port))
    s = c["widowx: servos"]
    assert not s.ok and "servo(s) 5 (elbow shadow) did not answer" in s.detail
    assert not c["widowx: servo EEPROM"].ok and c["widowx: servo EEPROM"].detail.startswith("not checked")
    assert c["widowx: servo hardware errors"].ok  # the 8 that answered are healthy


def test_leaves_a_port_that_another_process_holds_alone():
    with widowx_bus() as bus:
        holder = subprocess.Popen([sys.executable, "-c", f"f = open({bus.port!r}, 'rb'); print('open', flush=True); "
                                   "import time; time.sleep(30)"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "open"
            c = by_name(check_servos("widowx", CAL, bus.port))
        finally:
            holder.kill()
            holder.wait()
        assert not bus.log, "nothing may be sent on a bus another process uses"
    s = c["widowx: servos"]
    assert not s.ok and str(holder.pid) in s.detail and f"kill {holder.pid}" in s.fix
