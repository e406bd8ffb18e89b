"""A simulated chain of Dynamixel X-series servos speaking Protocol 2.0 on a virtual serial port.

`DxlBus` opens a pty pair; the driver under test opens the slave path with the real
dynamixel_sdk PortHandler (pyserial), and a thread on the master side parses instruction
packets byte by byte (header FF FF FD 00, byte stuffing, CRC-16/0x8005) and answers with
status packets exactly as servos on a half-duplex bus would: PING (also broadcast), READ,
WRITE, SYNC READ, SYNC WRITE, BULK READ, BULK WRITE. Each servo has an X-series control
table; EEPROM fields (address < 64) are read-only while torque is on (Access Error), goal
positions outside the position limits are rejected (Data Limit Error), a packet with a bad
CRC gets a CRC Error status. With torque on, the present position moves toward the goal at
`speed` ticks/s.

Written from the ROBOTIS Protocol 2.0 e-Manual, independently of dynamixel_sdk's code.
"""
from __future__ import annotations

import os
import select
import struct
import threading
import time
import tty

HEADER = b"\xff\xff\xfd\x00"
BROADCAST = 0xFE
INST_PING, INST_READ, INST_WRITE, INST_REBOOT = 0x01, 0x02, 0x03, 0x08
INST_SYNC_READ, INST_SYNC_WRITE, INST_BULK_READ, INST_BULK_WRITE = 0x82, 0x83, 0x92, 0x93
INST_STATUS = 0x55
ERR_NONE, ERR_INSTRUCTION, ERR_CRC, ERR_DATA_RANGE, ERR_DATA_LIMIT, ERR_ACCESS = 0, 2, 3, 4, 6, 7

# X-series control table addresses used here
A_MODEL, A_FIRMWARE, A_ID, A_BAUD, A_OP_MODE, A_MAX_POS, A_MIN_POS = 0, 6, 7, 8, 11, 48, 52
A_TORQUE, A_GOAL_POS, A_MOVING, A_PRESENT_VEL, A_PRESENT_POS = 64, 116, 122, 128, 132


def crc16(data: bytes) -> int:
    """CRC-16 (polynomial 0x8005, init 0, MSB first) as specified for Protocol 2.0."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    """Byte stuffing: FF FF FD -> FF FF FD FD."""
    out = bytearray()
    for b in body:
        out.append(b)
        if len(out) >= 3 and out[-3:] == b"\xff\xff\xfd":
            out.append(0xFD)
    return bytes(out)


def unstuff(body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        out.append(body[i])
        if len(out) >= 3 and out[-3:] == b"\xff\xff\xfd" and i + 1 < len(body) and body[i + 1] == 0xFD:
            i += 1  # drop the stuffing byte
        i += 1
    return bytes(out)


def build_packet(dxl_id: int, inst: int, params: bytes) -> bytes:
    """Instruction or status packet with stuffing and CRC."""
    body = bytes([inst]) + stuff(params)
    pkt = HEADER + bytes([dxl_id]) + struct.pack("<H", len(body) + 2) + body
    return pkt + struct.pack("<H", crc16(pkt))


class DxlServo:
    """One X-series servo (XM430-W350 model number 1020 by default)."""

    def __init__(self, dxl_id: int, position: int = 2048, model: int = 1020, speed: float = 40000.0) -> None:
        self.id = dxl_id
        self.table = bytearray(147)
        struct.pack_into("<H", self.table, A_MODEL, model)
        self.table[A_FIRMWARE] = 45
        self.table[A_ID] = dxl_id
        self.table[A_BAUD] = 3  # 1 Mbps
        self.table[A_OP_MODE] = 3
        struct.pack_into("<i", self.table, A_MAX_POS, 4095)
        struct.pack_into("<i", self.table, A_MIN_POS, 0)
        struct.pack_into("<i", self.table, A_PRESENT_POS, position)
        struct.pack_into("<i", self.table, A_GOAL_POS, position)
        self.speed = speed
        self._t = time.monotonic()
        self._pos = float(position)

    def get(self, addr: int, n: int) -> int:
        return int.from_bytes(self.table[addr : addr + n], "little", signed=True)

    @property
    def torque(self) -> bool:
        return bool(self.table[A_TORQUE])

    def update(self) -> None:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        goal = self.get(A_GOAL_POS, 4)
        vel = 0.0
        if self.torque and dt > 0:
            err = goal - self._pos
            step = max(-self.speed * dt, min(self.speed * dt, err))
            self._pos += step
            vel = step / dt
        struct.pack_into("<i", self.table, A_PRESENT_POS, int(round(self._pos)))
        struct.pack_into("<i", self.table, A_PRESENT_VEL, int(round(vel / (0.229 * 4096 / 60.0))))
        self.table[A_MOVING] = int(abs(goal - self._pos) > 1)

    def read(self, addr: int, n: int) -> tuple[int, bytes]:
        if addr + n > len(self.table) or n == 0:
            return ERR_DATA_RANGE, b""
        self.update()
        return ERR_NONE, bytes(self.table[addr : addr + n])

    def write(self, addr: int, data: bytes) -> int:
        if addr + len(data) > len(self.table) or not data:
            return ERR_DATA_RANGE
        if addr < 64 and self.torque:
            return ERR_ACCESS  # EEPROM is locked while torque is enabled
        if addr == A_GOAL_POS and len(data) == 4:
            goal = int.from_bytes(data, "little", signed=True)
            if not self.get(A_MIN_POS, 4) <= goal <= self.get(A_MAX_POS, 4):
                return ERR_DATA_LIMIT
        if addr <= A_TORQUE < addr + len(data) and data[A_TORQUE - addr] not in (0, 1):
            return ERR_DATA_RANGE
        self.update()
        self.table[addr : addr + len(data)] = data
        return ERR_NONE


class DxlBus:
    """pty + servo chain + responder thread. Use as a context manager; `.port` is the path."""

    def __init__(self, servos: list[DxlServo]) -> None:
        self.servos = {s.id: s for s in servos}
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.log: list[tuple[int, int, bytes]] = []  # (id, instruction, params) received
        self.rejected: list[tuple[int, int, int]] = []  # (id, addr, error) of refused broadcast writes
        self.crc_errors = 0
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dxl-sim", daemon=True)

    def __enter__(self) -> "DxlBus":
        # servos answer within microseconds; an in-process responder thread must not wait a
        # full 5 ms GIL switch interval while the SDK busy-polls the port for the reply
        import sys

        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        import sys

        if getattr(self, "_switch", None) is not None:
            sys.setswitchinterval(self._switch)
            self._switch = None
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def instructions(self, inst: int) -> list[tuple[int, bytes]]:
        return [(i, p) for i, ins, p in self.log if ins == inst]

    # -- wire ----------------------------------------------------------------------------------
    def _send(self, dxl_id: int, error: int, params: bytes = b"") -> None:
        os.write(self.master, build_packet(dxl_id, INST_STATUS, bytes([error]) + params))

    def _run(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.02)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            self._buf.extend(chunk)
            self._parse()

    def _parse(self) -> None:
        while True:
            start = self._buf.find(HEADER)
            if start < 0:
                del self._buf[: max(0, len(self._buf) - 3)]
                return
            del self._buf[:start]
            if len(self._buf) < 7:
                return
            length = struct.unpack_from("<H", self._buf, 5)[0]
            total = 7 + length
            if len(self._buf) < total:
                return
            pkt = bytes(self._buf[:total])
            del self._buf[:total]
            dxl_id, inst = pkt[4], pkt[7]
            if struct.unpack_from("<H", pkt, total - 2)[0] != crc16(pkt[:-2]):
                self.crc_errors += 1
                if dxl_id in self.servos:
                    self._send(dxl_id, ERR_CRC)
                continue
            params = unstuff(pkt[8:-2])
            self.log.append((dxl_id, inst, params))
            self._handle(dxl_id, inst, params)

    def _handle(self, dxl_id: int, inst: int, p: bytes) -> None:
        if inst == INST_PING:
            targets = sorted(self.servos) if dxl_id == BROADCAST else ([dxl_id] if dxl_id in self.servos else [])
            for i in targets:
                s = self.servos[i]
                self._send(i, ERR_NONE, bytes(s.table[A_MODEL : A_MODEL + 2]) + bytes([s.table[A_FIRMWARE]]))
        elif inst == INST_READ and dxl_id in self.servos:
            addr, n = struct.unpack_from("<HH", p)
            err, data = self.servos[dxl_id].read(addr, n)
            self._send(dxl_id, err, data)
        elif inst == INST_WRITE:
            addr = struct.unpack_from("<H", p)[0]
            if dxl_id == BROADCAST:
                for s in self.servos.values():
                    s.write(addr, p[2:])
            elif dxl_id in self.servos:
                self._send(dxl_id, self.servos[dxl_id].write(addr, p[2:]))
        elif inst == INST_SYNC_READ and dxl_id == BROADCAST:
            addr, n = struct.unpack_from("<HH", p)
            for i in p[4:]:
                if i in self.servos:
                    err, data = self.servos[i].read(addr, n)
                    self._send(i, err, data)
        elif inst == INST_SYNC_WRITE and dxl_id == BROADCAST:
            addr, n = struct.unpack_from("<HH", p)
            body = p[4:]
            for k in range(0, len(body) - n, n + 1):
                i, data = body[k], body[k + 1 : k + 1 + n]
                if i in self.servos:
                    err = self.servos[i].write(addr, data)
                    if err:
                        self.rejected.append((i, addr, err))
        elif inst == INST_BULK_READ and dxl_id == BROADCAST:
            for k in range(0, len(p) - 4, 5):
                i, addr, n = p[k], *struct.unpack_from("<HH", p, k + 1)
                if i in self.servos:
                    err, data = self.servos[i].read(addr, n)
                    self._send(i, err, data)
        elif inst == INST_BULK_WRITE and dxl_id == BROADCAST:
            k = 0
            while k + 5 <= len(p):
                i, addr, n = p[k], *struct.unpack_from("<HH", p, k + 1)
                data = p[k + 5 : k + 5 + n]
                if i in self.servos:
                    err = self.servos[i].write(addr, data)
                    if err:
                        self.rejected.append((i, addr, err))
                k += 5 + n
        elif dxl_id in self.servos:
            self._send(dxl_id, ERR_INSTRUCTION)


def widowx_servos(missing: tuple[int, ...] = ()) -> list[DxlServo]:
    """Servo ids 1..9 of a WidowX 250 6-DOF (see calibration/widowx/motors.yaml)."""
    return [DxlServo(i, model=1120 if i in (2, 3, 4, 5) else 1020) for i in range(1, 10) if i not in missing]
