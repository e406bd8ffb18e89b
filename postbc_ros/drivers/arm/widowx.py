"""Interbotix WidowX 250 6-DOF over Dynamixel Protocol 2.0 (ROBOTIS dynamixel_sdk).

Servo ids, offsets and directions come from ``calibration/widowx/motors.yaml`` (or any path
given as `calibration`). Per control period: one Sync Write of Goal Position (all servos,
shadows mirrored) and one Sync Read of Present Velocity + Present Position (addresses
128..135, one read for both). On connect: ping every id, torque off, Operating Mode =
position control, profile velocity/acceleration, goal := present position (no jump), torque
on. X-series control table (XM430/XM540): 4096 ticks per revolution, 2048 = 0 rad.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmInterface, ArmState, CalibrationError, require_calibration_file
from postbc_ros.robots.widowx import ENTRY as WIDOWX

# X-series control table (Protocol 2.0)
ADDR_OPERATING_MODE = 11
ADDR_TORQUE_ENABLE = 64
ADDR_PROFILE_ACCELERATION = 108
ADDR_PROFILE_VELOCITY = 112
ADDR_GOAL_POSITION = 116
ADDR_PRESENT_VELOCITY = 128
ADDR_PRESENT_POSITION = 132
OP_MODE_POSITION = 3
TICKS_PER_RAD = 4096.0 / (2.0 * math.pi)
CENTER_TICKS = 2048
VELOCITY_UNIT = 0.229 * 2.0 * math.pi / 60.0  # rad/s per Present Velocity unit


@dataclass(frozen=True)
class JointMotors:
    name: str
    ids: tuple[int, ...]
    directions: tuple[int, ...]
    offset: float


@dataclass(frozen=True)
class WidowXCalibration:
    """Parsed motors.yaml."""

    port: str
    baudrate: int
    joints: tuple[JointMotors, ...]
    gripper_id: int | None
    gripper_open: int
    gripper_closed: int
    profile_velocity: int
    profile_acceleration: int
    source: str

    @property
    def all_ids(self) -> list[int]:
        ids = [i for j in self.joints for i in j.ids]
        if self.gripper_id is not None:
            ids.append(self.gripper_id)
        return ids


def load_widowx_calibration(path: str | Path | None, joint_names: list[str]) -> WidowXCalibration:
    """Parse and validate a motors.yaml; errors name the file and field."""
    import yaml

    from postbc_ros.resources import calibration_root

    p = Path(path) if path else calibration_root() / WIDOWX.rig / "motors.yaml"
    require_calibration_file(p, "WidowX motor calibration", "Copy calibration/widowx/motors.yaml from the postbc_ros sources to this "
                             "path and set the servo ids, offsets and directions of your arm (see the comments in that file).")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise CalibrationError(f"{p}: not valid YAML: {e}") from e

    def bad(field: str, why: str):
        raise CalibrationError(f"{p}: field '{field}': {why}")

    if not isinstance(d, dict):
        bad("<top>", "expected a mapping")
    if float(d.get("protocol", 2.0)) != 2.0:
        bad("protocol", "only Dynamixel Protocol 2.0 is supported (X-series servos)")
    joints_d = d.get("joints")
    if not isinstance(joints_d, dict):
        bad("joints", "missing; a mapping joint name -> {ids, directions, offset}")
    if list(joints_d) != list(joint_names):
        bad("joints", f"must list exactly the joints {joint_names} in this order, got {list(joints_d)}")
    joints = []
    seen: set[int] = set()
    for name, j in joints_d.items():
        f = f"joints.{name}"
        if not isinstance(j, dict) or "ids" not in j:
            bad(f, "needs ids: [..], directions: [..], offset: rad")
        ids = j["ids"]
        dirs = j.get("directions", [1] * len(ids) if isinstance(ids, list) else None)
        if not (isinstance(ids, list) and ids and all(isinstance(i, int) and 0 <= i <= 252 for i in ids)):
            bad(f + ".ids", f"must be a list of servo ids 0..252, got {ids!r}")
        if not (isinstance(dirs, list) and len(dirs) == len(ids) and all(x in (1, -1) for x in dirs)):
            bad(f + ".directions", f"must be a list of +1/-1, one per id, got {dirs!r}")
        dup = seen.intersection(ids)
        if dup:
            bad(f + ".ids", f"servo id(s) {sorted(dup)} used twice")
        seen.update(ids)
        off = j.get("offset", 0.0)
        if not (isinstance(off, (int, float)) and math.isfinite(off)):
            bad(f + ".offset", f"must be a finite angle in rad, got {off!r}")
        joints.append(JointMotors(name, tuple(ids), tuple(int(x) for x in dirs), float(off)))
    g = d.get("gripper")
    gid, g_open, g_closed = None, 0, 0
    if g is not None:
        if not isinstance(g, dict) or not all(k in g for k in ("id", "open_ticks", "closed_ticks")):
            bad("gripper", "needs id, open_ticks, closed_ticks (or null for no gripper)")
        gid, g_open, g_closed = int(g["id"]), int(g["open_ticks"]), int(g["closed_ticks"])
        if gid in seen:
            bad("gripper.id", f"servo id {gid} is already used by an arm joint")
        if g_open == g_closed or not all(0 <= x <= 4095 for x in (g_open, g_closed)):
            bad("gripper", f"open_ticks and closed_ticks must differ and lie in 0..4095, got {g_open}, {g_closed}")
    port = d.get("port")
    if not isinstance(port, str) or not port:
        bad("port", "the serial device of the U2D2, e.g. /dev/ttyDXL or /dev/ttyUSB0")
    return WidowXCalibration(
        port=port, baudrate=int(d.get("baudrate", 1000000)), joints=tuple(joints), gripper_id=gid,
        gripper_open=g_open, gripper_closed=g_closed, profile_velocity=int(d.get("profile_velocity", 0)),
        profile_acceleration=int(d.get("profile_acceleration", 0)), source=str(p),
    )


def _signed32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


class WidowXArm(ArmInterface):
    """WidowX 250 6-DOF on a Dynamixel bus (U2D2)."""

    name = WIDOWX.real_backend

    def __init__(self, robot: str = WIDOWX.name, calibration: str | Path | None = None, port: str | None = None,
                 baudrate: int | None = None, torque_off_on_disconnect: bool = False, retries: int = 2) -> None:
        super().__init__(robot)
        if self.robot != WIDOWX.name:
            raise ArmError(f"widowx backend drives the WidowX 250 6-DOF, not {self.robot}")
        self.cal = load_widowx_calibration(calibration, self.joint_names)
        self.port_name = port or self.cal.port
        self.baudrate = int(baudrate or self.cal.baudrate)
        self.torque_off_on_disconnect = bool(torque_off_on_disconnect)
        self.retries = max(0, int(retries))  # a lost/corrupted status packet is retried, not fatal
        self._port = None
        self._pkt = None
        self._goal: dict[int, int] = {}

    # -- conversions ---------------------------------------------------------------------------
    def q_to_ticks(self, q: np.ndarray, gripper: float | None) -> dict[int, int]:
        out: dict[int, int] = {}
        for j, qi in zip(self.cal.joints, q):
            for mid, s in zip(j.ids, j.directions):
                out[mid] = int(round(CENTER_TICKS + s * (qi - j.offset) * TICKS_PER_RAD))
        if gripper is not None and self.cal.gripper_id is not None:
            g = self.cal
            out[g.gripper_id] = int(round(g.gripper_open + gripper * (g.gripper_closed - g.gripper_open)))
        return out

    def ticks_to_q(self, ticks: dict[int, int]) -> np.ndarray:
        return np.array([j.offset + j.directions[0] * (ticks[j.ids[0]] - CENTER_TICKS) / TICKS_PER_RAD for j in self.cal.joints])

    # -- bus helpers ----------------------------------------------------------------------------
    def _check(self, what: str, mid: int, result: int, error: int) -> None:
        from dynamixel_sdk import COMM_SUCCESS

        if result != COMM_SUCCESS:
            raise ArmError(f"widowx: {what} servo {mid} ({self._who(mid)}) on {self.port_name}: {self._pkt.getTxRxResult(result)}")
        if error != 0:
            raise ArmError(f"widowx: {what} servo {mid} ({self._who(mid)}): servo reported {self._pkt.getRxPacketError(error)}")

    def _who(self, mid: int) -> str:
        for j in self.cal.joints:
            if mid in j.ids:
                return j.name if mid == j.ids[0] else f"{j.name} shadow"
        return "gripper" if mid == self.cal.gripper_id else "unknown"

    def _txrx(self, fn, *args):
        """Call an SDK TxRx function, retrying on a missing/corrupted status packet (noise on
        the half-duplex bus); returns its result tuple."""
        from dynamixel_sdk import COMM_RX_CORRUPT, COMM_RX_TIMEOUT

        for _ in range(self.retries + 1):
            out = fn(self._port, *args)
            if out[-2] not in (COMM_RX_TIMEOUT, COMM_RX_CORRUPT):
                break
            self._port.clearPort()
        return out

    def _write1(self, mid: int, addr: int, val: int, what: str) -> None:
        self._check(what, mid, *self._txrx(self._pkt.write1ByteTxRx, mid, addr, val))

    def _write4(self, mid: int, addr: int, val: int, what: str) -> None:
        self._check(what, mid, *self._txrx(self._pkt.write4ByteTxRx, mid, addr, val & 0xFFFFFFFF))

    # -- lifecycle ------------------------------------------------------------------------------
    def connect(self) -> None:
        from dynamixel_sdk import PacketHandler, PortHandler

        port = PortHandler(self.port_name)
        try:
            opened = port.openPort()
        except Exception as e:  # serial.SerialException and OSError
            raise ArmError(f"widowx: cannot open {self.port_name}: {e}. Is the U2D2 plugged in and are you in the dialout group?") from e
        if not opened:
            raise ArmError(f"widowx: cannot open {self.port_name}")
        if not port.setBaudRate(self.baudrate):
            port.closePort()
            raise ArmError(f"widowx: baud rate {self.baudrate} not supported by the port")
        self._port, self._pkt = port, PacketHandler(2.0)
        try:
            for mid in self.cal.all_ids:
                model, result, error = self._txrx(self._pkt.ping, mid)
                self._check("ping", mid, result, error)
            for mid in self.cal.all_ids:  # EEPROM (operating mode) is writable only with torque off
                self._write1(mid, ADDR_TORQUE_ENABLE, 0, "torque off")
                self._write1(mid, ADDR_OPERATING_MODE, OP_MODE_POSITION, "set operating mode")
                self._write4(mid, ADDR_PROFILE_ACCELERATION, self.cal.profile_acceleration, "set profile acceleration")
                self._write4(mid, ADDR_PROFILE_VELOCITY, self.cal.profile_velocity, "set profile velocity")
            present = self._read_all()[1]
            self._sync_write(present)  # goal := present: torque on must not jump
            for mid in self.cal.all_ids:
                self._write1(mid, ADDR_TORQUE_ENABLE, 1, "torque on")
        except Exception:
            self._port.closePort()
            self._port = None
            raise

    def disconnect(self) -> None:
        if self._port is None:
            return
        try:
            if self.torque_off_on_disconnect:  # the arm falls if unsupported: opt-in only
                for mid in self.cal.all_ids:
                    self._pkt.write1ByteTxRx(self._port, mid, ADDR_TORQUE_ENABLE, 0)
        finally:
            self._port.closePort()
            self._port = None

    def is_connected(self) -> bool:
        return self._port is not None and self._port.is_open

    # -- I/O ------------------------------------------------------------------------------------
    def _read_all(self) -> tuple[dict[int, int], dict[int, int]]:
        """(present velocity, present position) in raw units for every servo: one Sync Read."""
        from dynamixel_sdk import COMM_SUCCESS, GroupSyncRead

        n = ADDR_PRESENT_POSITION + 4 - ADDR_PRESENT_VELOCITY
        grp = GroupSyncRead(self._port, self._pkt, ADDR_PRESENT_VELOCITY, n)
        for mid in self.cal.all_ids:
            grp.addParam(mid)
        for _ in range(self.retries + 1):
            result = grp.txRxPacket()
            if result == COMM_SUCCESS:
                break
            self._port.clearPort()
        if result != COMM_SUCCESS:
            raise ArmError(f"widowx: sync read of present position failed on {self.port_name}: {self._pkt.getTxRxResult(result)}")
        vel, pos = {}, {}
        for mid in self.cal.all_ids:
            if not grp.isAvailable(mid, ADDR_PRESENT_VELOCITY, n):
                raise ArmError(f"widowx: servo {mid} ({self._who(mid)}) did not answer the sync read")
            vel[mid] = _signed32(grp.getData(mid, ADDR_PRESENT_VELOCITY, 4))
            pos[mid] = _signed32(grp.getData(mid, ADDR_PRESENT_POSITION, 4))
        return vel, pos

    def _sync_write(self, goal: dict[int, int]) -> None:
        from dynamixel_sdk import COMM_SUCCESS, GroupSyncWrite

        grp = GroupSyncWrite(self._port, self._pkt, ADDR_GOAL_POSITION, 4)
        for mid, t in goal.items():
            v = t & 0xFFFFFFFF
            grp.addParam(mid, [v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF])
        result = grp.txPacket()
        if result != COMM_SUCCESS:
            raise ArmError(f"widowx: sync write of goal position failed on {self.port_name}: {self._pkt.getTxRxResult(result)}")
        self._goal.update(goal)

    def read_state(self) -> ArmState:
        self._require_connected()
        vel, pos = self._read_all()
        q = self.ticks_to_q(pos)
        dq = np.array([j.directions[0] * vel[j.ids[0]] * VELOCITY_UNIT for j in self.cal.joints])
        g = None
        if self.cal.gripper_id is not None:
            c = self.cal
            g = float(np.clip((pos[c.gripper_id] - c.gripper_open) / (c.gripper_closed - c.gripper_open), 0.0, 1.0))
        return ArmState(q=q, dq=dq, gripper=g, stamp=time.monotonic())

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        self._sync_write(self.q_to_ticks(q, gripper))

    def hold(self) -> None:
        """Goal := present position for every servo (torque stays on)."""
        self._require_connected()
        self._sync_write(self._read_all()[1])
