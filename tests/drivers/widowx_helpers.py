"""Helpers shared by the WidowX driver tests (the simulated bus is in dxl_sim.py)."""
from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import A_TORQUE, INST_WRITE  # noqa: E402

PRIMARIES = (1, 2, 4, 6, 7, 8)  # the ids the driver may send goals to (9, the gripper, is in PWM mode)
SHADOWS = {3: 2, 5: 4}


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


def writes(bus, min_addr=0, max_addr=1 << 16):
    """(addressed id, address, data) of every WRITE instruction the bus received."""
    out = []
    for i, p in bus.instructions(INST_WRITE):
        addr = struct.unpack_from("<H", p)[0]
        if min_addr <= addr < max_addr:
            out.append((i, addr, p[2:]))
    return out


def torque_writes(bus, value):
    return [i for i, addr, data in writes(bus) if addr == A_TORQUE and data[0] == value]


def raw_port(bus):
    from dynamixel_sdk import PacketHandler, PortHandler

    port = PortHandler(bus.port)
    assert port.openPort() and port.setBaudRate(1000000)
    return port, PacketHandler(2.0)
