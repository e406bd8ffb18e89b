"""calibration/widowx/motors.yaml: the WidowX's servo chain and the EEPROM it must have.

Parsed into `WidowXCalibration` (errors name the file and field). Each joint has one commanded
primary servo and optionally a shadow that follows it in hardware (Secondary ID = the primary's
id, reverse Drive Mode, Homing Offset calibrated so it reads what the primary reads) -- the way
Interbotix's xs_sdk configures the WX250s from wx250s.yaml. `eeprom_mismatches` compares what the
servos report with that expectation; the driver refuses a mismatch or, with an explicit flag,
writes it (`postbc_ros.drivers.arm.widowx`).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from postbc_ros.drivers.arm.base import CalibrationError, require_calibration_file
from postbc_ros.drivers.arm.dynamixel_table import (
    ADDR_DRIVE_MODE, ADDR_HOMING_OFFSET, ADDR_MAX_POSITION_LIMIT, ADDR_MIN_POSITION_LIMIT, ADDR_OPERATING_MODE,
    ADDR_SECONDARY_ID, DRIVE_REVERSE, DRIVE_TIME_PROFILE, MODELS, NO_SECONDARY_ID, OP_MODES, ServoModel,
)
from postbc_ros.robots.widowx import NAME as WIDOWX

GRIPPER_MODES = ("pwm", "current_based_position")  # effort-limited modes (xs_sdk: pwm for the WX250s)
PROFILE_TYPES = ("velocity", "time")  # Drive Mode bit 2
DEFAULT_SHADOW_TOLERANCE = 20  # ticks (1.8 deg) a shadow may read off its primary before it counts as uncalibrated
DEFAULT_GRIPPER_KP = 4.0  # Goal PWM units per tick of gripper position error


@dataclass(frozen=True)
class ServoConfig:
    id: int
    model: ServoModel
    reverse: bool
    secondary_id: int  # NO_SECONDARY_ID or the primary a shadow follows
    limits: tuple[int, int]  # Min/Max Position Limit
    op_mode: int
    who: str  # "shoulder", "shoulder shadow", "gripper"


@dataclass(frozen=True)
class JointConfig:
    name: str
    primary: ServoConfig
    shadow: ServoConfig | None
    offset: float  # joint angle [rad] when the primary reads 2048
    direction: int  # +1/-1: joint angle sign vs the primary's register


@dataclass(frozen=True)
class GripperConfig:
    servo: ServoConfig
    mode: str  # pwm | current_based_position
    open_ticks: int
    closed_ticks: int
    pwm_limit: int  # |Goal PWM| cap (pwm mode)
    current_limit: int  # Goal Current (current_based_position mode)
    kp: float


@dataclass(frozen=True)
class WidowXCalibration:
    """Parsed motors.yaml."""

    port: str
    baudrate: int
    joints: tuple[JointConfig, ...]
    gripper: GripperConfig | None
    profile_type: str
    profile_velocity: int
    profile_acceleration: int
    shadow_tolerance: int
    measured: bool
    source: str

    @property
    def servos(self) -> list[ServoConfig]:
        out = [s for j in self.joints for s in ((j.primary, j.shadow) if j.shadow else (j.primary,))]
        return out + ([self.gripper.servo] if self.gripper else [])

    @property
    def all_ids(self) -> list[int]:
        return [s.id for s in self.servos]

    @property
    def primary_ids(self) -> list[int]:
        return [j.primary.id for j in self.joints]

    @property
    def shadow_ids(self) -> list[int]:
        return [j.shadow.id for j in self.joints if j.shadow]

    def servo(self, mid: int) -> ServoConfig:
        return next(s for s in self.servos if s.id == mid)

    def who(self, mid: int) -> str:
        return next((s.who for s in self.servos if s.id == mid), "unknown")

    def drive_mode(self, s: ServoConfig) -> int:
        return (DRIVE_REVERSE if s.reverse else 0) | (DRIVE_TIME_PROFILE if self.profile_type == "time" else 0)


def load_widowx_calibration(path: str | Path | None, joint_names: list[str], rig: str = WIDOWX) -> WidowXCalibration:
    """Parse and validate a motors.yaml; errors name the file and field."""
    import yaml

    from postbc_ros.resources import calibration_root

    p = Path(path) if path else calibration_root() / rig / "motors.yaml"
    require_calibration_file(p, "WidowX motor calibration", "Copy calibration/widowx/motors.yaml from the postbc_ros sources to this "
                             "path and set the servo ids, offsets and gripper ticks of your arm (see the comments in that file).")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise CalibrationError(f"{p}: not valid YAML: {e}") from e

    def bad(field: str, why: str):
        raise CalibrationError(f"{p}: field '{field}': {why}")

    def integer(v, field: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            bad(field, f"must be an integer in {lo}..{hi}, got {v!r}")
        return v

    def flag(v, field: str) -> bool:
        if not isinstance(v, bool):
            bad(field, f"must be true or false, got {v!r}")
        return v

    seen: set[int] = set()

    def servo(s, field: str, who: str, op_mode: int, secondary: int = NO_SECONDARY_ID) -> ServoConfig:
        mid = integer(s.get("id"), field + ".id", 0, 252)
        if mid in seen:
            bad(field + ".id", f"servo id {mid} used twice")
        seen.add(mid)
        model = s.get("model", "XM430-W350")
        if model not in MODELS:
            bad(field + ".model", f"unknown servo model {model!r}; known: {sorted(MODELS)}")
        lim = s.get("limits", [0, 4095])
        if not (isinstance(lim, list) and len(lim) == 2 and all(isinstance(x, int) and 0 <= x <= 4095 for x in lim) and lim[0] < lim[1]):
            bad(field + ".limits", f"must be [min, max] Position Limit ticks in 0..4095, min < max, got {lim!r}")
        if op_mode not in MODELS[model].op_modes:
            bad(field + ".model", f"{model} has no operating mode {op_mode} (it supports {sorted(MODELS[model].op_modes)})")
        return ServoConfig(mid, MODELS[model], flag(s.get("reverse", False), field + ".reverse"), secondary,
                           (lim[0], lim[1]), op_mode, who)

    if not isinstance(d, dict):
        bad("<top>", "expected a mapping")
    if float(d.get("protocol", 2.0)) != 2.0:
        bad("protocol", "only Dynamixel Protocol 2.0 is supported (X-series servos)")
    if "measured" not in d:
        bad("measured", "missing: true once offsets and gripper ticks were measured (postbc calibrate widowx-offsets), else false")
    joints_d = d.get("joints")
    if not isinstance(joints_d, dict):
        bad("joints", "missing; a mapping joint name -> {id, model, reverse, limits, offset[, shadow]}")
    if list(joints_d) != list(joint_names):
        bad("joints", f"must list exactly the joints {joint_names} in this order, got {list(joints_d)}")
    position = OP_MODES["position"]
    joints = []
    for name, j in joints_d.items():
        f = f"joints.{name}"
        if not isinstance(j, dict) or "id" not in j:
            bad(f, "needs id, model, reverse, limits, offset (and shadow: {id, reverse} for a dual-servo joint)")
        if "ids" in j or "directions" in j:
            bad(f, "the ids/directions format is gone: shadows are configured in the servo (shadow: {id, reverse}) and never commanded")
        prim = servo(j, f, name, position)
        sh = j.get("shadow")
        shadow = None
        if sh is not None:
            if not isinstance(sh, dict) or "id" not in sh:
                bad(f + ".shadow", "needs id and reverse (the shadow follows the primary by its Secondary ID)")
            shadow = servo({"model": j.get("model", "XM430-W350"), "limits": j.get("limits", [0, 4095]), **sh},
                           f + ".shadow", f"{name} shadow", position, secondary=prim.id)
        off = j.get("offset", 0.0)
        if isinstance(off, bool) or not isinstance(off, (int, float)) or not math.isfinite(off):
            bad(f + ".offset", f"must be a finite angle in rad, got {off!r}")
        direction = j.get("direction", 1)
        if direction not in (1, -1) or isinstance(direction, bool):
            bad(f + ".direction", f"must be 1 or -1, got {direction!r}")
        joints.append(JointConfig(name, prim, shadow, float(off), int(direction)))
    g = d.get("gripper")
    gripper = None
    if g is not None:
        if not isinstance(g, dict) or not all(k in g for k in ("id", "mode", "open_ticks", "closed_ticks")):
            bad("gripper", "needs id, model, mode (pwm | current_based_position), open_ticks, closed_ticks (or null for no gripper)")
        mode = g["mode"]
        if mode not in GRIPPER_MODES:
            bad("gripper.mode", f"must be one of {GRIPPER_MODES} (position mode overloads the servo on a grasp), got {mode!r}")
        gs = servo(g, "gripper", "gripper", OP_MODES[mode])
        g_open = integer(g["open_ticks"], "gripper.open_ticks", 0, 4095)
        g_closed = integer(g["closed_ticks"], "gripper.closed_ticks", 0, 4095)
        if g_open == g_closed:
            bad("gripper", f"open_ticks and closed_ticks must differ, got {g_open} for both")
        pwm = integer(g.get("pwm_limit", gs.model.pwm_max // 2), "gripper.pwm_limit", 1, gs.model.pwm_max)
        cur = integer(g.get("current_limit", 0), "gripper.current_limit", 0, 1193)
        if mode == "current_based_position" and cur == 0:
            bad("gripper.current_limit", "current_based_position needs a current limit (Goal Current units, 2.69 mA)")
        kp = g.get("kp", DEFAULT_GRIPPER_KP)
        if isinstance(kp, bool) or not isinstance(kp, (int, float)) or not 0 < kp < 1000:
            bad("gripper.kp", f"must be a number in (0, 1000) Goal PWM per tick, got {kp!r}")
        gripper = GripperConfig(gs, mode, g_open, g_closed, pwm, cur, float(kp))
    port = d.get("port")
    if not isinstance(port, str) or not port:
        bad("port", "the serial device of the U2D2, e.g. /dev/ttyDXL or /dev/ttyUSB0")
    profile_type = d.get("profile_type", "velocity")
    if profile_type not in PROFILE_TYPES:
        bad("profile_type", f"must be one of {PROFILE_TYPES}, got {profile_type!r}")
    return WidowXCalibration(
        port=port, baudrate=integer(d.get("baudrate", 1000000), "baudrate", 9600, 4500000), joints=tuple(joints),
        gripper=gripper, profile_type=profile_type,
        profile_velocity=integer(d.get("profile_velocity", 0), "profile_velocity", 0, 32767),
        profile_acceleration=integer(d.get("profile_acceleration", 0), "profile_acceleration", 0, 32767),
        shadow_tolerance=integer(d.get("shadow_tolerance_ticks", DEFAULT_SHADOW_TOLERANCE), "shadow_tolerance_ticks", 1, 512),
        measured=flag(d["measured"], "measured"), source=str(p),
    )


@dataclass(frozen=True)
class EepromMismatch:
    id: int
    who: str
    field: str
    found: int
    expected: int

    def __str__(self) -> str:
        return f"servo {self.id} ({self.who}) {self.field} = {self.found}, expected {self.expected}"


def eeprom_values(block: bytes) -> dict[str, int]:
    """Fields of the EEPROM block read from ADDR_DRIVE_MODE (see dynamixel_table.EEPROM_BLOCK)."""
    def at(addr: int, n: int = 1) -> int:
        return int.from_bytes(block[addr - ADDR_DRIVE_MODE : addr - ADDR_DRIVE_MODE + n], "little", signed=n == 4)

    return {"drive_mode": at(ADDR_DRIVE_MODE), "operating_mode": at(ADDR_OPERATING_MODE),
            "secondary_id": at(ADDR_SECONDARY_ID), "homing_offset": at(ADDR_HOMING_OFFSET, 4),
            "min_position_limit": at(ADDR_MIN_POSITION_LIMIT, 4), "max_position_limit": at(ADDR_MAX_POSITION_LIMIT, 4)}


def expected_eeprom(cal: WidowXCalibration, s: ServoConfig) -> dict[str, int]:
    return {"drive_mode": cal.drive_mode(s), "operating_mode": s.op_mode, "secondary_id": s.secondary_id,
            "min_position_limit": s.limits[0], "max_position_limit": s.limits[1]}


def eeprom_mismatches(cal: WidowXCalibration, eeprom: dict[int, dict[str, int]], present: dict[int, int]) -> list[EepromMismatch]:
    """Every EEPROM field that differs from what xs_sdk would have set, plus shadows whose
    Homing Offset does not make them read their primary's position (field 'homing_offset',
    `found` = the shadow's present position, `expected` = the primary's)."""
    out = []
    for s in cal.servos:
        have = eeprom[s.id]
        out += [EepromMismatch(s.id, s.who, k, have[k], v) for k, v in expected_eeprom(cal, s).items() if have[k] != v]
    for j in cal.joints:
        if j.shadow and abs(present[j.shadow.id] - present[j.primary.id]) > cal.shadow_tolerance:
            out.append(EepromMismatch(j.shadow.id, j.shadow.who, "homing_offset", present[j.shadow.id], present[j.primary.id]))
    return out


def shadow_homing_offset(shadow_present_at_zero_offset: int, primary_present: int, reverse: bool) -> int:
    """xs_sdk's shadow calibration: the Homing Offset that makes the shadow read the primary's
    position (the offset acts before a reverse Drive Mode mirrors the reading)."""
    d = shadow_present_at_zero_offset - primary_present
    return d if reverse else -d


def pack_eeprom_writes(cal: WidowXCalibration, s: ServoConfig) -> list[tuple[int, int, int]]:
    """(address, size, value) writes that give servo `s` its expected EEPROM."""
    e = expected_eeprom(cal, s)
    return [(ADDR_DRIVE_MODE, 1, e["drive_mode"]), (ADDR_OPERATING_MODE, 1, e["operating_mode"]),
            (ADDR_MIN_POSITION_LIMIT, 4, e["min_position_limit"]), (ADDR_MAX_POSITION_LIMIT, 4, e["max_position_limit"])]


def signed32(v: int) -> int:
    return struct.unpack("<i", struct.pack("<I", v & 0xFFFFFFFF))[0]
