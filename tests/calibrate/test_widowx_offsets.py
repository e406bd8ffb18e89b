"""`postbc calibrate widowx-offsets` over the Dynamixel bus simulator (tests/drivers/dxl_sim.py, a
pty speaking Protocol 2.0 to the real dynamixel-sdk), the operator's answers scripted: offsets
and gripper ticks computed from what the servos read, motors.yaml rewritten in place with
measured: true, and the WidowX driver then reads the reference pose as zero."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers"))
from dxl_sim import A_TORQUE, widowx_bus  # noqa: E402

from postbc_ros.calibrate.widowx_offsets import TICKS_PER_RAD  # noqa: E402

JOINTS = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"]
# register ticks of the primaries with the arm in the reference (zero) pose: an arm whose horns sit off
AT_REFERENCE = {1: 2100, 2: 1990, 4: 2150, 6: 2048, 7: 1900, 8: 2010}
GRIPPER_OPEN, GRIPPER_CLOSED = 2900, 1790


@pytest.fixture
def rig(tmp_path, monkeypatch):
    calib = tmp_path / "calibration"
    shutil.copytree(Path(__file__).resolve().parents[2] / "calibration" / "widowx", calib / "widowx")
    monkeypatch.setenv("POSTBC_CALIBRATION_DIR", str(calib))
    return calib


class Operator:
    """Answers the prompts; moves the gripper (the simulated shaft) when told to open/close it."""

    def __init__(self, bus, answers=()):
        self.bus, self.answers, self.prompts = bus, list(answers), []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        g = self.bus.servos[9]
        with self.bus.lock:
            if "open the gripper" in prompt:
                g.native = GRIPPER_OPEN
            elif "close the gripper" in prompt:
                g.native = GRIPPER_CLOSED
        return self.answers.pop(0) if self.answers and "yes" in prompt else ""


def test_offsets_and_gripper_ticks_are_measured_and_written(rig, capsys):
    from postbc_ros.cli.calibrate_cmd import cmd_widowx_offsets
    from postbc_ros.cli.main import build_parser
    from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration
    from postbc_ros.drivers.arm.widowx import WidowXArm

    motors = rig / "widowx" / "motors.yaml"
    before = motors.read_text()
    with widowx_bus(present={**AT_REFERENCE, 9: 2400}) as bus:
        op = Operator(bus)
        args = build_parser().parse_args(["calibrate", "widowx-offsets", "--port", bus.port])
        assert cmd_widowx_offsets(args, ask=op) == 0
        out = capsys.readouterr().out
        assert [p.split(":")[0] for p in op.prompts] == [f"Step {k}" for k in range(2, 10)]  # numbered steps
        assert "The torque stays OFF" in out

        cal = load_widowx_calibration(motors, JOINTS)
        assert cal.measured
        want = {j: -(AT_REFERENCE[i] - 2048) * d / TICKS_PER_RAD for j, i, d in
                zip(JOINTS, (1, 2, 4, 6, 7, 8), (j.direction for j in cal.joints))}
        for j in cal.joints:
            assert j.offset == pytest.approx(want[j.name], abs=1e-6), j.name
        assert (cal.gripper.open_ticks, cal.gripper.closed_ticks) == (GRIPPER_OPEN, GRIPPER_CLOSED)
        text = motors.read_text()
        assert "measured: true   # postbc calibrate widowx-offsets" in text
        assert [ln for ln in text.splitlines() if ln.startswith("#")] == [ln for ln in before.splitlines() if ln.startswith("#")]

        # the driver now reads the reference pose as zero
        with bus.lock:
            bus.servos[9].native = 2400
        arm = WidowXArm(calibration=motors, port=bus.port, latency_sysfs=rig / "no_sysfs")
        arm.connect()
        try:
            np.testing.assert_allclose(arm.read_state().q, 0.0, atol=2 / TICKS_PER_RAD)
        finally:
            arm.disconnect()


def test_a_holding_arm_is_torqued_off_only_after_confirmation(rig, capsys):
    from postbc_ros.cli.calibrate_cmd import cmd_widowx_offsets
    from postbc_ros.cli.main import build_parser

    motors = rig / "widowx" / "motors.yaml"
    before = motors.read_text()
    with widowx_bus(present=AT_REFERENCE, torque=(1, 2, 3, 4, 5, 6, 7, 8, 9)) as bus:
        args = build_parser().parse_args(["calibrate", "widowx-offsets", "--port", bus.port])
        assert cmd_widowx_offsets(args, ask=Operator(bus, ["no"])) == 2
        assert "torque was left on" in capsys.readouterr().err
        assert all(bus.servos[i].table[A_TORQUE] == 1 for i in bus.servos) and motors.read_text() == before

        args = build_parser().parse_args(["calibrate", "widowx-offsets", "--port", bus.port, "--dry-run"])
        assert cmd_widowx_offsets(args, ask=Operator(bus, ["yes"])) == 0
        assert all(bus.servos[i].table[A_TORQUE] == 0 for i in bus.servos)
        assert "would write" in capsys.readouterr().out and motors.read_text() == before  # dry run


def test_implausible_readings_are_refused(rig, capsys):
    from postbc_ros.cli.calibrate_cmd import cmd_widowx_offsets
    from postbc_ros.cli.main import build_parser

    motors = rig / "widowx" / "motors.yaml"
    before = motors.read_text()
    with widowx_bus(present={**AT_REFERENCE, 4: 2048 + 600}) as bus:  # elbow 53 deg off its zero
        args = build_parser().parse_args(["calibrate", "widowx-offsets", "--port", bus.port])
        assert cmd_widowx_offsets(args, ask=Operator(bus)) == 2
        assert "elbow read 2648 ticks" in capsys.readouterr().err and motors.read_text() == before
