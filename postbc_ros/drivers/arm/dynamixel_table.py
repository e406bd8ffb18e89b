"""Dynamixel X-series facts the WidowX driver relies on: control-table addresses, the servo
models of the Interbotix WidowX 250 6-DOF, Hardware Error Status bits, and `ServoFault`.

Source: the ROBOTIS e-Manual control tables of the XM430-W350 and XL430-W250 (Protocol 2.0;
both share these addresses) and the Protocol 2.0 status packet (Alert = bit 7 of the error
byte, set while Hardware Error Status (70) is non-zero).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from postbc_ros.drivers.arm.base import ArmError

# -- control table (Protocol 2.0, X-series) ----------------------------------------------------
ADDR_DRIVE_MODE = 10  # bit 0: reverse direction, bit 2: time-based profile (EEPROM)
ADDR_OPERATING_MODE = 11  # EEPROM
ADDR_SECONDARY_ID = 12  # 255 = none (EEPROM)
ADDR_HOMING_OFFSET = 20  # 4 bytes signed (EEPROM)
ADDR_MAX_POSITION_LIMIT = 48  # 4 bytes (EEPROM)
ADDR_MIN_POSITION_LIMIT = 52  # 4 bytes (EEPROM)
EEPROM_BLOCK = (ADDR_DRIVE_MODE, ADDR_MIN_POSITION_LIMIT + 4 - ADDR_DRIVE_MODE)  # one read covers 10..55
ADDR_TORQUE_ENABLE = 64
ADDR_HARDWARE_ERROR_STATUS = 70
STATUS_BLOCK = (ADDR_TORQUE_ENABLE, ADDR_HARDWARE_ERROR_STATUS + 1 - ADDR_TORQUE_ENABLE)  # torque .. HW error
ADDR_GOAL_PWM = 100  # 2 bytes signed
ADDR_GOAL_CURRENT = 102  # 2 bytes signed (XM only)
ADDR_PROFILE_ACCELERATION = 108
ADDR_PROFILE_VELOCITY = 112
ADDR_GOAL_POSITION = 116
ADDR_PRESENT_VELOCITY = 128
ADDR_PRESENT_POSITION = 132
STATE_BLOCK = (ADDR_PRESENT_VELOCITY, ADDR_PRESENT_POSITION + 4 - ADDR_PRESENT_VELOCITY)  # one Sync Read

DRIVE_REVERSE = 0x01  # Drive Mode bit 0
DRIVE_TIME_PROFILE = 0x04  # Drive Mode bit 2 (xs_sdk's profile_type: time)
NO_SECONDARY_ID = 255
OP_MODES = {"current": 0, "velocity": 1, "position": 3, "extended_position": 4, "current_based_position": 5, "pwm": 16}

TICKS_PER_RAD = 4096.0 / (2.0 * math.pi)
CENTER_TICKS = 2048  # 0 rad
VELOCITY_UNIT = 0.229 * 2.0 * math.pi / 60.0  # rad/s per Present Velocity unit (0.229 rev/min)

# -- status packet / hardware errors -------------------------------------------------------------
ERRBIT_ALERT = 0x80  # status packet error byte, bit 7: Hardware Error Status is non-zero
HW_ERROR_BITS = {  # Hardware Error Status (70) bit -> name
    0x01: "input voltage",
    0x04: "overheating",
    0x08: "motor encoder",
    0x10: "electrical shock",
    0x20: "overload",
}


def hw_error_names(status: int) -> list[str]:
    """Names of the set Hardware Error Status bits (unknown bits as 'bit N')."""
    out = [name for bit, name in HW_ERROR_BITS.items() if status & bit]
    out += [f"bit {b}" for b in range(8) if status & (1 << b) and (1 << b) not in HW_ERROR_BITS]
    return out


@dataclass(frozen=True)
class ServoModel:
    """One Dynamixel model: its number (ping / Model Number (0)) and what it supports."""

    name: str
    number: int
    op_modes: frozenset[int]
    pwm_max: int  # Goal PWM full scale (100 %)


XM430_W350 = ServoModel("XM430-W350", 1020, frozenset({0, 1, 3, 4, 5, 16}), 885)
XL430_W250 = ServoModel("XL430-W250", 1060, frozenset({1, 3, 4, 16}), 885)  # no current sensing
MODELS = {m.name: m for m in (XM430_W350, XL430_W250)}
MODEL_NAMES = {m.number: m.name for m in MODELS.values()}


def model_name(number: int) -> str:
    return MODEL_NAMES.get(number, f"model number {number}")


class ServoFault(ArmError):
    """A servo reported a hardware error (or lost its torque): it is shut down, the driver holds
    the rest of the arm and refuses commands until the operator confirms a reboot.

    `faults` maps servo id -> (who, Hardware Error Status value, bit names)."""

    def __init__(self, faults: dict[int, tuple[str, int, list[str]]], port: str) -> None:
        self.faults = dict(faults)
        parts = [f"servo {i} ({who}): {', '.join(names) or 'torque off'} (Hardware Error Status 0x{st:02x})"
                 for i, (who, st, names) in sorted(self.faults.items())]
        super().__init__(
            f"widowx on {port}: servo fault -- {'; '.join(parts)}. The rest of the arm is holding. Remove the cause "
            "(blocked or overloaded joint, supply voltage, overheating: let it cool), support the arm, then reboot "
            f"servo(s) {sorted(self.faults)} with reboot({sorted(self.faults)}, confirmed=True) (arm_node: its reboot "
            "service) -- a reboot drops and restores their torque.")

    @property
    def ids(self) -> list[int]:
        return sorted(self.faults)
