"""A simulated chain of Dynamixel X-series servos speaking Protocol 2.0 on a virtual serial port.

`DxlBus` opens a pty pair; the driver under test opens the slave path with the real
dynamixel_sdk PortHandler (pyserial), and a thread on the master side parses instruction
packets byte by byte (header FF FF FD 00, byte stuffing, CRC-16/0x8005) and answers with
status packets as servos on a half-duplex bus would: PING (also broadcast), READ, WRITE,
REBOOT, SYNC READ, SYNC WRITE, BULK READ, BULK WRITE.

Each servo (`DxlServo`) has the control table of its model (XM430-W350 = 1020, XL430-W250 =
1060: the same addresses, different operating modes) and behaves as the ROBOTIS e-Manual says:
- EEPROM (address < 64) is writable only with torque off (Access Error); read-only fields
  (model, firmware, Hardware Error Status, present values) refuse writes (Access Error); an
  operating mode the model lacks is a Data Range Error; in (current-based) position mode a goal
  outside Min/Max Position Limit is a Data Limit Error.
- Drive Mode (10) bit 0 reverses the direction: the shaft ("native" position) and the register
  values are mirrored about REVERSE_PIVOT. Homing Offset (20) is added in the native frame
  (Present = native + offset, or PIVOT - (native + offset) reversed), which is what makes
  Interbotix's shadow calibration (offset = shadow - primary for a reversed shadow) exact.
- Secondary ID (12): a servo whose Secondary ID is X also executes every write addressed to X
  (WRITE, SYNC WRITE and BULK WRITE items) but never answers for X; reads stay per primary id.
- Hardware Error Status (70): `inject_fault(id, bits)` sets it; bits in Shutdown (63, default
  overload | electrical shock | overheating) drop the torque and keep it off; every status
  packet of a servo with an error carries the Alert bit (0x80) in its error byte.
- REBOOT answers, then clears the error, torque off, goal := present; the position is kept.
- Motion: torque on, the native position moves toward the goal at `speed` ticks/s (position
  modes) or at the model's no-load speed * Goal PWM / 885 (PWM mode); torque off, it sags at
  `sag_speed` ticks/s toward `sag_to` (gravity on an unpowered joint; 0 by default); `stops`
  are mechanical end stops (the gripper's fingers). `ShaftServo` instead leaves the motion to an
  outside model (the MuJoCo twin, sim/wire/servo_bridge.py): it only reports the shaft position
  and velocity that model sets.

The WidowX 250 6-DOF chain is built by sim/wire/widowx_chain.py. Moved here from
tests/drivers/dxl_sim.py (which re-exports both) so the wire-level twin can host the bus.

Written from the ROBOTIS Protocol 2.0 / X-series e-Manual, independently of dynamixel_sdk's code.
"""
from __future__ import annotations

import collections
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
ALERT = 0x80  # error-byte bit 7: the servo has a Hardware Error Status

# X-series control table addresses used here
A_MODEL, A_FIRMWARE, A_ID, A_BAUD, A_RETURN_DELAY = 0, 6, 7, 8, 9
A_DRIVE_MODE, A_OP_MODE, A_SECONDARY_ID, A_PROTOCOL, A_HOMING_OFFSET = 10, 11, 12, 13, 20
A_PWM_LIMIT, A_VELOCITY_LIMIT, A_MAX_POS, A_MIN_POS, A_SHUTDOWN = 36, 44, 48, 52, 63
A_TORQUE, A_HW_ERROR, A_GOAL_PWM, A_GOAL_CURRENT, A_GOAL_VELOCITY = 64, 70, 100, 102, 104
A_PROFILE_ACC, A_PROFILE_VEL, A_GOAL_POS, A_MOVING = 108, 112, 116, 122
A_PRESENT_PWM, A_PRESENT_LOAD, A_PRESENT_VEL, A_PRESENT_POS = 124, 126, 128, 132
TABLE_SIZE = 147  # up to Present Temperature (146)
READ_ONLY = [(A_MODEL, A_ID), (A_HW_ERROR, A_HW_ERROR + 1), (120, TABLE_SIZE)]  # [start, end) ranges

# Hardware Error Status bits
HW_INPUT_VOLTAGE, HW_OVERHEATING, HW_ENCODER, HW_ELECTRICAL_SHOCK, HW_OVERLOAD = 0x01, 0x04, 0x08, 0x10, 0x20
SHUTDOWN_DEFAULT = HW_OVERHEATING | HW_ELECTRICAL_SHOCK | HW_OVERLOAD  # 52, the X-series factory value

XM430_W350, XL430_W250 = 1020, 1060  # model numbers
OP_MODES = {XM430_W350: (0, 1, 3, 4, 5, 16), XL430_W250: (1, 3, 4, 16)}  # XL430 has no current sensing
NO_LOAD_TICKS_S = {XM430_W350: 46 * 4096 / 60, XL430_W250: 57 * 4096 / 60}  # full-PWM speed (46 / 57 rev/min at 12 V)
OP_POSITION_MODES = (3, 5)  # position limits apply
OP_PWM, OP_VELOCITY = 16, 1
PWM_MAX = 885  # Goal PWM full scale of both models
VELOCITY_UNIT_TICKS = 0.229 * 4096 / 60.0  # ticks/s per Present Velocity unit (0.229 rev/min)
REVERSE_PIVOT = 4096  # reverse mode mirrors native <-> register values about 2048 (4096 - x)


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
    """One X-series servo; `native` is its shaft position in ticks (register frame when the
    Drive Mode is normal and the Homing Offset 0)."""

    def __init__(self, dxl_id: int, position: float = 2048, model: int = XM430_W350, speed: float = 40000.0,
                 drive_mode: int = 0, secondary_id: int = 255, homing_offset: int = 0,
                 limits: tuple[int, int] = (0, 4095), sag_speed: float = 0.0, sag_to: float = 2048.0,
                 stops: tuple[float, float] | None = None) -> None:
        if model not in OP_MODES:
            raise ValueError(f"unknown model number {model}; known {sorted(OP_MODES)}")
        self.id = dxl_id
        self.model = model
        self.table = bytearray(TABLE_SIZE)
        struct.pack_into("<H", self.table, A_MODEL, model)
        self.table[A_FIRMWARE] = 45
        self.table[A_ID] = dxl_id
        self.table[A_BAUD] = 3  # 1 Mbps
        self.table[A_RETURN_DELAY] = 0
        self.table[A_DRIVE_MODE] = drive_mode
        self.table[A_OP_MODE] = 3
        self.table[A_SECONDARY_ID] = secondary_id
        self.table[A_PROTOCOL] = 2
        struct.pack_into("<i", self.table, A_HOMING_OFFSET, homing_offset)
        struct.pack_into("<H", self.table, A_PWM_LIMIT, PWM_MAX)
        struct.pack_into("<i", self.table, A_VELOCITY_LIMIT, 131)
        struct.pack_into("<i", self.table, A_MIN_POS, limits[0])
        struct.pack_into("<i", self.table, A_MAX_POS, limits[1])
        self.table[A_SHUTDOWN] = SHUTDOWN_DEFAULT
        self.speed, self.sag_speed, self.sag_to = speed, sag_speed, sag_to
        self.stops = stops  # mechanical end stops of the shaft (native ticks), None = free
        self.native = float(position)
        self._t = time.monotonic()
        self._vel = 0.0  # native ticks/s
        struct.pack_into("<i", self.table, A_GOAL_POS, int(round(self.present)))

    # -- register <-> shaft ----------------------------------------------------------------------
    def get(self, addr: int, n: int) -> int:
        return int.from_bytes(self.table[addr : addr + n], "little", signed=True)

    @property
    def reverse(self) -> bool:
        return bool(self.table[A_DRIVE_MODE] & 1)

    @property
    def present(self) -> float:
        v = self.native + self.get(A_HOMING_OFFSET, 4)
        return REVERSE_PIVOT - v if self.reverse else v

    def native_of(self, register: float) -> float:
        off = self.get(A_HOMING_OFFSET, 4)
        return (REVERSE_PIVOT - register - off) if self.reverse else register - off

    @property
    def torque(self) -> bool:
        return bool(self.table[A_TORQUE])

    @property
    def hw_error(self) -> int:
        return self.table[A_HW_ERROR]

    def update(self) -> None:
        """Integrate the motion since the last call and refresh the present values."""
        now = time.monotonic()
        dt, self._t = now - self._t, now
        if dt <= 0:
            return
        mode = self.table[A_OP_MODE]
        if self.torque:
            if mode == OP_PWM:
                v = NO_LOAD_TICKS_S[self.model] * self.get(A_GOAL_PWM, 2) / PWM_MAX
                step = (-v if self.reverse else v) * dt
            elif mode == OP_VELOCITY:
                v = self.get(A_GOAL_VELOCITY, 4) * VELOCITY_UNIT_TICKS
                step = (-v if self.reverse else v) * dt
            else:
                err = self.native_of(self.get(A_GOAL_POS, 4)) - self.native
                step = max(-self.speed * dt, min(self.speed * dt, err))
        else:
            err = self.sag_to - self.native
            step = max(-self.sag_speed * dt, min(self.sag_speed * dt, err))
        new = self.native + step
        if self.stops is not None:
            new = min(max(new, self.stops[0]), self.stops[1])
        step, self.native = new - self.native, new
        self._vel = step / dt
        self._refresh_present()

    def _refresh_present(self) -> None:
        """Present Position / Velocity / Moving from the shaft (`native`, `_vel` in native ticks/s)."""
        reg_vel = -self._vel if self.reverse else self._vel
        struct.pack_into("<i", self.table, A_PRESENT_POS, int(round(self.present)))
        struct.pack_into("<i", self.table, A_PRESENT_VEL, int(round(reg_vel / VELOCITY_UNIT_TICKS)))
        moving = (self.torque and self.table[A_OP_MODE] != OP_PWM
                  and abs(self.native_of(self.get(A_GOAL_POS, 4)) - self.native) > 1)
        self.table[A_MOVING] = int(moving)

    def status_error(self, err: int) -> int:
        """The error byte of a status packet: `err` plus the Alert bit while a hardware error is set."""
        return err | (ALERT if self.hw_error else 0)

    def read(self, addr: int, n: int) -> tuple[int, bytes]:
        if addr + n > len(self.table) or n == 0:
            return self.status_error(ERR_DATA_RANGE), b""
        self.update()
        return self.status_error(ERR_NONE), bytes(self.table[addr : addr + n])

    def write(self, addr: int, data: bytes) -> int:
        """Apply a write; returns the status error byte (the data is not written on an error)."""
        end = addr + len(data)
        if end > len(self.table) or not data:
            return self.status_error(ERR_DATA_RANGE)
        if any(addr < b and a < end for a, b in READ_ONLY):
            return self.status_error(ERR_ACCESS)
        if addr < A_TORQUE and self.torque:
            return self.status_error(ERR_ACCESS)  # EEPROM is locked while torque is enabled
        if addr <= A_OP_MODE < end and data[A_OP_MODE - addr] not in OP_MODES[self.model]:
            return self.status_error(ERR_DATA_RANGE)
        if addr <= A_TORQUE < end and data[A_TORQUE - addr] not in (0, 1):
            return self.status_error(ERR_DATA_RANGE)
        if addr <= A_GOAL_POS and A_GOAL_POS + 4 <= end and self.table[A_OP_MODE] in OP_POSITION_MODES:
            goal = int.from_bytes(data[A_GOAL_POS - addr : A_GOAL_POS - addr + 4], "little", signed=True)
            if not self.get(A_MIN_POS, 4) <= goal <= self.get(A_MAX_POS, 4):
                return self.status_error(ERR_DATA_LIMIT)
        if addr <= A_GOAL_PWM and A_GOAL_PWM + 2 <= end:
            pwm = int.from_bytes(data[A_GOAL_PWM - addr : A_GOAL_PWM - addr + 2], "little", signed=True)
            if abs(pwm) > self.get(A_PWM_LIMIT, 2):
                return self.status_error(ERR_DATA_LIMIT)
        self.update()
        self.table[addr:end] = data
        if self.hw_error & self.table[A_SHUTDOWN]:
            self.table[A_TORQUE] = 0  # shut down: the torque stays off until a REBOOT
        self.update()
        return self.status_error(ERR_NONE)

    def inject_fault(self, bits: int) -> None:
        """Set Hardware Error Status bits; a shutdown bit drops the torque (and keeps it off)."""
        self.update()
        self.table[A_HW_ERROR] |= bits
        if bits & self.table[A_SHUTDOWN]:
            self.table[A_TORQUE] = 0

    def reboot(self) -> None:
        """REBOOT: RAM back to its initial values (torque off, error cleared, goal := present)."""
        self.update()
        ram = bytearray(TABLE_SIZE - A_TORQUE)
        self.table[A_TORQUE:] = ram
        struct.pack_into("<i", self.table, A_GOAL_POS, int(round(self.present)))
        self.update()


class ShaftServo(DxlServo):
    """A servo whose shaft an outside model moves (the twin's physics): `update()` integrates
    nothing, it only refreshes the present registers from what `set_shaft` last set. Everything
    else (control table, access rules, faults, reboot, Secondary ID) is a DxlServo's."""

    def update(self) -> None:
        self._refresh_present()

    @property
    def shaft_velocity(self) -> float:
        """Native ticks/s, as last set."""
        return self._vel

    def set_shaft(self, native: float, velocity: float) -> None:
        """The shaft's position (native ticks) and velocity (native ticks/s), as the model measured them."""
        self.native, self._vel = float(native), float(velocity)
        self._refresh_present()


class DxlBus:
    """pty + servo chain + responder thread. Use as a context manager; `.port` is the path.
    `lock` serialises the responder with test-side changes (`inject_fault`, `servo_state`)."""

    def __init__(self, servos: list[DxlServo], mirrored: dict[int, tuple[int, float]] | None = None) -> None:
        self.servos = {s.id: s for s in servos}
        self.mirrored = dict(mirrored or {})  # shadow id -> (primary id, assembly offset in native ticks)
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.record = True  # keep `log` and `goal_writes` (tests); False bounds memory in a long run (the twin)
        self.counts: collections.Counter[int] = collections.Counter()  # instruction -> packets received
        self.log: list[tuple[int, int, bytes]] = []  # (id, instruction, params) received
        self.rejected: list[tuple[int, int, int]] = []  # (id, addr, error) of refused broadcast writes
        self.goal_writes: list[tuple[int, int]] = []  # (addressed id, goal) of every goal-position write
        self.crc_errors = 0
        self.lock = threading.RLock()
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
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def instructions(self, inst: int) -> list[tuple[int, bytes]]:
        return [(i, p) for i, ins, p in self.log if ins == inst]

    def inject_fault(self, dxl_id: int, bits: int) -> None:
        with self.lock:
            self.servos[dxl_id].inject_fault(bits)

    def present(self, dxl_id: int) -> float:
        with self.lock:
            s = self.servos[dxl_id]
            s.update()
            return s.present

    def fight(self, primary: int, shadow: int) -> float:
        """|shadow shaft - where the shared shaft puts it| in ticks (0 = the pair agrees)."""
        with self.lock:
            p, s = self.servos[primary], self.servos[shadow]
            p.update()
            s.update()
            return abs(s.native - (REVERSE_PIVOT - p.native + self.mirrored[shadow][1]))

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
            with self.lock:
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
            self.counts[inst] += 1
            if self.record:
                self.log.append((dxl_id, inst, params))
            self._handle(dxl_id, inst, params)

    def _followers(self, dxl_id: int) -> list[DxlServo]:
        """Servos that execute a write addressed to `dxl_id` by their Secondary ID (no reply)."""
        return [s for s in self.servos.values() if s.table[A_SECONDARY_ID] == dxl_id and s.id != dxl_id]

    def _write(self, dxl_id: int, addr: int, data: bytes) -> int | None:
        """Write addressed to `dxl_id`: its own error byte (None if no such primary id)."""
        if self.record and addr <= A_GOAL_POS and A_GOAL_POS + 4 <= addr + len(data):
            self.goal_writes.append((dxl_id, int.from_bytes(data[A_GOAL_POS - addr : A_GOAL_POS - addr + 4], "little", signed=True)))
        for s in self._followers(dxl_id):
            s.write(addr, data)
        return self.servos[dxl_id].write(addr, data) if dxl_id in self.servos else None

    def _handle(self, dxl_id: int, inst: int, p: bytes) -> None:
        if inst == INST_PING:
            targets = sorted(self.servos) if dxl_id == BROADCAST else ([dxl_id] if dxl_id in self.servos else [])
            for i in targets:
                s = self.servos[i]
                self._send(i, s.status_error(ERR_NONE), bytes(s.table[A_MODEL : A_MODEL + 2]) + bytes([s.table[A_FIRMWARE]]))
        elif inst == INST_READ and dxl_id in self.servos:
            addr, n = struct.unpack_from("<HH", p)
            err, data = self.servos[dxl_id].read(addr, n)
            self._send(dxl_id, err, data)
        elif inst == INST_WRITE:
            addr = struct.unpack_from("<H", p)[0]
            if dxl_id == BROADCAST:
                for s in self.servos.values():
                    s.write(addr, p[2:])
            else:
                err = self._write(dxl_id, addr, p[2:])
                if err is not None:
                    self._send(dxl_id, err)
        elif inst == INST_REBOOT and dxl_id in self.servos:
            s = self.servos[dxl_id]
            self._send(dxl_id, s.status_error(ERR_NONE))  # the status goes out before the restart
            s.reboot()
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
                err = self._write(i, addr, data)
                if err and err & ~ALERT:
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
                err = self._write(i, addr, p[k + 5 : k + 5 + n])
                if err and err & ~ALERT:
                    self.rejected.append((i, addr, err))
                k += 5 + n
        elif dxl_id in self.servos:
            self._send(dxl_id, self.servos[dxl_id].status_error(ERR_INSTRUCTION))
