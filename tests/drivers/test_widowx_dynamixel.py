"""WidowX backend against a simulated Protocol 2.0 servo chain on a virtual serial port."""
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
    A_GOAL_POS, A_OP_MODE, A_TORQUE, ERR_ACCESS, ERR_CRC, INST_STATUS, INST_SYNC_READ,
    INST_WRITE, DxlBus, build_packet, crc16, widowx_servos,
)

from postbc_ros.drivers.arm import ArmError, CalibrationError, make_arm  # noqa: E402
from postbc_ros.drivers.arm.widowx import TICKS_PER_RAD  # noqa: E402
from postbc_ros.robots import get_robot_spec  # noqa: E402

SPEC = get_robot_spec("widowx")


@pytest.fixture
def bus():
    with DxlBus(widowx_servos()) as b:
        yield b


def retry(fn, *args, tries=5):
    """Raw SDK call, retried on a lost status packet (the responder thread can be starved of
    CPU on a loaded 2-core CI machine; the driver itself retries the same way)."""
    from dynamixel_sdk import COMM_RX_TIMEOUT

    for _ in range(tries):
        out = fn(*args)
        if (out if isinstance(out, int) else out[-2]) != COMM_RX_TIMEOUT:
            return out
    return out


def wait_until(pred, timeout=2.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_crc_matches_the_sdk_table_implementation():
    from dynamixel_sdk.protocol2_packet_handler import Protocol2PacketHandler

    rng = np.random.default_rng(0)
    sdk = Protocol2PacketHandler()
    for n in (1, 7, 64, 300):
        data = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        assert crc16(data) == sdk.updateCRC(0, list(data), n)


def test_connect_sequence_and_streaming(bus):
    arm = make_arm("widowx", "widowx", port=bus.port, control_dt=0.02, baudrate=1000000)
    arm.connect()
    try:
        assert arm.is_connected()
        # EEPROM order: every servo had torque off before its operating mode was written, and ends torqued
        writes = bus.instructions(INST_WRITE)
        for mid in range(1, 10):
            seq = [(struct.unpack_from("<H", p)[0], p[2]) for i, p in writes if i == mid]
            assert seq.index((A_TORQUE, 0)) < seq.index((A_OP_MODE, 3)) < seq.index((A_TORQUE, 1))
            assert bus.servos[mid].torque and bus.servos[mid].table[A_OP_MODE] == 3
        st = arm.read_state()
        np.testing.assert_allclose(st.q, np.zeros(6), atol=1e-3)  # servos start centred
        target = np.array([0.3, -0.2, 0.4, 0.1, 0.5, -0.3])
        arm.command(target, 1.0)
        # Sync Write is a broadcast without status reply: wait for the bus to deliver it
        assert wait_until(lambda: bus.servos[9].get(A_GOAL_POS, 4) == 1900), "goal positions go out as one Sync Write"
        s2, s3 = bus.servos[2].get(A_GOAL_POS, 4), bus.servos[3].get(A_GOAL_POS, 4)
        assert s2 - 2048 == -(s3 - 2048) == round(-0.2 * TICKS_PER_RAD)  # shadow mirrored
        assert wait_until(lambda: np.allclose(arm.read_state().q, target, atol=2e-3))
        st = arm.read_state()
        assert st.gripper == pytest.approx(1.0, abs=1e-3)
        assert len(bus.instructions(INST_SYNC_READ)) >= 2  # state via Sync Read
        assert not bus.rejected
        # hold: goal := present for every servo (slow servos so the hold lands mid-motion)
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


def test_missing_servo_named():
    with DxlBus(widowx_servos(missing=(5,))) as b:
        arm = make_arm("widowx", "widowx", port=b.port)
        with pytest.raises(ArmError, match=r"ping servo 5 \(elbow shadow\)"):
            arm.connect()
        assert not arm.is_connected()


def test_servo_rejects_eeprom_write_with_torque_on_and_bad_crc(bus):
    """The simulated chain enforces what real servos enforce (so the driver's order matters)."""
    from dynamixel_sdk import PacketHandler, PortHandler

    port = PortHandler(bus.port)
    assert port.openPort() and port.setBaudRate(1000000)
    pkt = PacketHandler(2.0)
    try:
        assert retry(pkt.write1ByteTxRx, port, 1, A_TORQUE, 1) == (0, 0)  # (COMM_SUCCESS, no servo error)
        result, error = retry(pkt.write1ByteTxRx, port, 1, A_OP_MODE, 1)
        assert error == ERR_ACCESS
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
    bad = tmp_path / "m.yaml"
    bad.write_text((Path(__file__).resolve().parents[2] / "calibration/widowx/motors.yaml").read_text().replace("ids: [4, 5]", "ids: [4, 3]"))
    with pytest.raises(CalibrationError, match=r"m\.yaml: field 'joints\.elbow\.ids': servo id\(s\) \[3\] used twice"):
        make_arm("widowx", "widowx", calibration=bad)


def test_sim_bulk_read_write_with_the_sdk(bus):
    """The simulated chain also answers Bulk Read / Bulk Write as the SDK sends them."""
    from dynamixel_sdk import COMM_SUCCESS, GroupBulkRead, GroupBulkWrite, PacketHandler, PortHandler

    port = PortHandler(bus.port)
    assert port.openPort() and port.setBaudRate(1000000)
    pkt = PacketHandler(2.0)
    try:
        for mid in (1, 9):
            assert retry(pkt.write1ByteTxRx, port, mid, A_TORQUE, 1) == (0, 0)
        bw = GroupBulkWrite(port, pkt)
        assert bw.addParam(1, A_GOAL_POS, 4, list((2100).to_bytes(4, "little")))
        assert bw.addParam(9, A_GOAL_POS, 4, list((2500).to_bytes(4, "little")))
        assert bw.txPacket() == COMM_SUCCESS
        def present(mid):
            bus.servos[mid].update()  # the servo model integrates its motion when polled
            return bus.servos[mid].get(132, 4)

        assert wait_until(lambda: present(9) == 2500 and present(1) == 2100)
        br = GroupBulkRead(port, pkt)
        assert br.addParam(1, 132, 4) and br.addParam(9, 132, 4)
        assert retry(br.txRxPacket, tries=5) == COMM_SUCCESS
        assert br.getData(1, 132, 4) == 2100 and br.getData(9, 132, 4) == 2500
    finally:
        port.closePort()
