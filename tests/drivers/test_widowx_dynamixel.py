"""WidowX backend against a simulated Protocol 2.0 wx250s chain on a virtual serial port:
the protocol, streaming, shadows that follow their primaries, and calibration-file errors."""
from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import (  # noqa: E402
    A_GOAL_POS, A_OP_MODE, A_TORQUE, ERR_ACCESS, ERR_CRC, ERR_DATA_RANGE, INST_STATUS, INST_SYNC_READ, XM430_W350,
    DxlBus, build_packet, crc16, widowx_bus, widowx_servos,
)
from widowx_helpers import PRIMARIES, raw_port, retry, torque_writes, wait_until, writes  # noqa: E402

from postbc_ros.drivers.arm import ArmError, CalibrationError, make_arm  # noqa: E402
from postbc_ros.drivers.arm.widowx import TICKS_PER_RAD  # noqa: E402

MOTORS = Path(__file__).resolve().parents[2] / "calibration/widowx/motors.yaml"
FIGHT_TOLERANCE = 3  # ticks: a shadow this close to where the shared shaft puts it does not fight


@pytest.fixture
def bus():
    with widowx_bus() as b:
        yield b


def test_crc_matches_the_sdk_table_implementation():
    from dynamixel_sdk.protocol2_packet_handler import Protocol2PacketHandler

    rng = np.random.default_rng(0)
    sdk = Protocol2PacketHandler()
    for n in (1, 7, 64, 300):
        data = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        assert crc16(data) == sdk.updateCRC(0, list(data), n)


def test_connect_and_streaming(bus):
    arm = make_arm("widowx", "widowx", port=bus.port, control_dt=0.02, baudrate=1000000)
    arm.connect()
    try:
        assert arm.is_connected()
        assert not writes(bus, max_addr=A_TORQUE), "a correctly configured arm gets no EEPROM write"
        assert not torque_writes(bus, 0), "connect never torques a servo off"
        assert all(s.torque for s in bus.servos.values())
        assert any("measured: false" in w for w in arm.warnings)
        st = arm.read_state()
        np.testing.assert_allclose(st.q, np.zeros(6), atol=1e-3)  # servos start centred
        target = np.array([0.3, -0.2, 0.4, 0.1, 0.5, -0.3])
        arm.command(target, 1.0)
        assert wait_until(lambda: np.allclose(arm.read_state().q, target, atol=2e-3))
        assert wait_until(lambda: arm.read_state().gripper > 0.97), "the PWM gripper closes to its closed ticks"
        assert {i for i, _g in bus.goal_writes} <= set(PRIMARIES)
        assert len(bus.instructions(INST_SYNC_READ)) >= 2  # state via Sync Read
        assert not bus.rejected
        # hold: goal := present for every primary (slow servos so the hold lands mid-motion)
        for srv in bus.servos.values():
            srv.speed = 300.0  # ticks/s: the move back to 0 takes ~0.65 s
        arm.command(np.zeros(6), 0.0)
        time.sleep(0.05)
        moving = arm.read_state()
        # Present Velocity (unit 0.229 rev/min) in rad/s, signed toward the goal; shadows ignored
        assert moving.dq[0] < -0.3 and moving.dq[1] > 0.3  # waist 0.3 -> 0, shoulder -0.2 -> 0
        assert np.all(np.abs(moving.dq) < 300 / TICKS_PER_RAD * 1.05)
        arm.hold()
        time.sleep(0.05)
        q_hold = arm.read_state().q
        assert not np.allclose(q_hold, 0.0, atol=1e-2), "hold stopped the arm before it reached the last target"
        time.sleep(0.05)
        np.testing.assert_allclose(arm.read_state().q, q_hold, atol=1e-3)
        with pytest.raises(ArmError, match="non-finite"):
            arm.command([np.nan] * 6, 0.0)
    finally:
        arm.disconnect()
    assert not arm.is_connected()
    assert bus.servos[1].torque  # torque stays on by default (the arm would fall)


def test_shadows_are_never_commanded_and_follow_their_primaries(bus):
    """Interbotix configuration: 3 and 5 take their primaries' goals by Secondary ID in reverse
    Drive Mode. The driver writes goals to primaries only; the shadows' shafts stay where the
    shared shaft puts them and they read what their primaries read."""
    arm = make_arm("widowx", "widowx", port=bus.port)
    with arm:
        for q in ([0.0, -0.5, 0.6, 0.0, 0.0, 0.0], [0.2, 0.8, -1.2, 0.3, -0.4, 0.5]):
            arm.command(np.array(q))
            assert wait_until(lambda: np.allclose(arm.read_state().q, q, atol=2e-3))
            for shadow, primary in ((3, 2), (5, 4)):
                assert bus.fight(primary, shadow) <= FIGHT_TOLERANCE
                assert abs(bus.present(shadow) - bus.present(primary)) <= FIGHT_TOLERANCE
        assert {i for i, _g in bus.goal_writes}.isdisjoint({3, 5})
        # what the old driver did -- a mirrored goal written to shadow 3 by its own id -- is a
        # fight of 2 x 0.8 rad on this bus (the simulator can tell):
        port, pkt = raw_port(bus)
        try:
            mirrored = 2048 - round(0.8 * TICKS_PER_RAD)
            assert retry(pkt.write4ByteTxRx, port, 3, A_GOAL_POS, mirrored)[0] == 0
            assert wait_until(lambda: bus.fight(2, 3) > 2 * 0.8 * TICKS_PER_RAD - 5)
        finally:
            port.closePort()


def test_missing_and_wrong_servo_named():
    with DxlBus(widowx_servos(missing=(5,))) as b:
        arm = make_arm("widowx", "widowx", port=b.port)
        with pytest.raises(ArmError, match=r"ping servo 5 \(elbow shadow\)"):
            arm.connect()
        assert not arm.is_connected()
    servos = widowx_servos()
    servos[7] = type(servos[7])(8, model=XM430_W350)
    with DxlBus(servos) as b:
        with pytest.raises(ArmError, match=r"servo 8 \(wrist_rotate\) is a XM430-W350, .* expects a XL430-W250"):
            make_arm("widowx", "widowx", port=b.port).connect()


def test_servo_rejects_eeprom_write_with_torque_on_bad_mode_and_bad_crc(bus):
    """The simulated chain enforces what real servos enforce (so the driver's order matters)."""
    port, pkt = raw_port(bus)
    try:
        assert retry(pkt.write1ByteTxRx, port, 1, A_TORQUE, 1) == (0, 0)  # (COMM_SUCCESS, no servo error)
        result, error = retry(pkt.write1ByteTxRx, port, 1, A_OP_MODE, 1)
        assert error == ERR_ACCESS
        # the XL430-W250 (wrist rotate, gripper) has no current-based position mode
        assert retry(pkt.write1ByteTxRx, port, 8, A_OP_MODE, 5)[1] == ERR_DATA_RANGE
        assert retry(pkt.write1ByteTxRx, port, 6, A_OP_MODE, 5) == (0, 0)
        assert retry(pkt.read2ByteTxRx, port, 8, 0)[0] == 1060 and retry(pkt.read2ByteTxRx, port, 7, 0)[0] == 1020
    finally:
        port.closePort()
    raw = bytearray(build_packet(2, 0x02, struct.pack("<HH", 132, 4)))
    raw[-1] ^= 0xFF
    os.write(bus.slave, bytes(raw))
    reply = b""
    t_end = time.monotonic() + 1
    while len(reply) < 11 and time.monotonic() < t_end:
        reply += os.read(bus.slave, 64)
    assert reply[7] == INST_STATUS and reply[8] == ERR_CRC and bus.crc_errors == 1


def test_missing_port_and_calibration(tmp_path: Path):
    with pytest.raises(ArmError, match="cannot open /nonexistent/tty"):
        make_arm("widowx", "widowx", port="/nonexistent/tty").connect()
    with pytest.raises(CalibrationError, match=r"nope\.yaml: WidowX motor calibration not found\. Copy"):
        make_arm("widowx", "widowx", calibration=tmp_path / "nope.yaml")
    text = MOTORS.read_text()
    cases = [
        (text.replace("shadow: {id: 5", "shadow: {id: 3"), r"field 'joints\.elbow\.shadow\.id': servo id 3 used twice"),
        (text.replace("mode: pwm ", "mode: position "), r"field 'gripper\.mode': must be one of .*overloads"),
        (text.replace("measured: false\n", ""), r"field 'measured': missing"),
        (text.replace("{id: 8, model: XL430-W250", "{id: 8, model: XL430"), r"field 'joints\.wrist_rotate\.model'"),
        (text.replace("  model: XL430-W250        # no current", "  current_limit: 300\n  model: XL430-W250        # no current")
         .replace("mode: pwm ", "mode: current_based_position "), r"field 'gripper\.model': XL430-W250 has no operating mode 5"),
        (text.replace("{id: 1, model", "{ids: [1], directions: [1], id: 1, model"), r"field .joints\.waist.: the ids/directions format is gone"),
    ]
    for i, (body, msg) in enumerate(cases):
        bad = tmp_path / f"m{i}.yaml"
        bad.write_text(body)
        with pytest.raises(CalibrationError, match=rf"m{i}\.yaml: {msg}"):
            make_arm("widowx", "widowx", calibration=bad)


def test_sim_bulk_read_write_with_the_sdk(bus):
    """The simulated chain also answers Bulk Read / Bulk Write as the SDK sends them."""
    from dynamixel_sdk import COMM_SUCCESS, GroupBulkRead, GroupBulkWrite

    port, pkt = raw_port(bus)
    try:
        for mid in (1, 8):
            assert retry(pkt.write1ByteTxRx, port, mid, A_TORQUE, 1) == (0, 0)
        bw = GroupBulkWrite(port, pkt)
        assert bw.addParam(1, A_GOAL_POS, 4, list((2100).to_bytes(4, "little")))
        assert bw.addParam(8, A_GOAL_POS, 4, list((2500).to_bytes(4, "little")))
        assert bw.txPacket() == COMM_SUCCESS
        assert wait_until(lambda: bus.present(8) == 2500 and bus.present(1) == 2100)
        br = GroupBulkRead(port, pkt)
        assert br.addParam(1, 132, 4) and br.addParam(8, 132, 4)
        assert retry(br.txRxPacket, tries=5) == COMM_SUCCESS
        assert br.getData(1, 132, 4) == 2100 and br.getData(8, 132, 4) == 2500
    finally:
        port.closePort()


def test_current_based_position_gripper(tmp_path: Path):
    """An XM430 gripper may run in current-based position mode: Goal Current caps the grasp."""
    from dxl_sim import A_GOAL_CURRENT, DxlServo

    cal = tmp_path / "motors.yaml"
    cal.write_text(MOTORS.read_text().replace("  model: XL430-W250        # no current", "  current_limit: 300\n  model: XM430-W350  # no current")
                   .replace("mode: pwm ", "mode: current_based_position "))
    servos = widowx_servos()
    servos[8] = DxlServo(9, model=XM430_W350)
    servos[8].table[A_OP_MODE] = 5
    with DxlBus(servos) as b:
        with make_arm("widowx", "widowx", port=b.port, calibration=cal) as arm:
            assert b.servos[9].get(A_GOAL_CURRENT, 2) == 300
            arm.command(np.zeros(6), 1.0)
            assert wait_until(lambda: arm.read_state().gripper == pytest.approx(1.0, abs=1e-3))
            assert b.servos[9].get(A_GOAL_POS, 4) == 1802
