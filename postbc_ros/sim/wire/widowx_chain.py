"""The Interbotix WidowX 250 6-DOF (wx250s) servo chain on a simulated Dynamixel bus.

`widowx_servos()` builds the chain: XM430-W350 on ids 1-7, XL430-W250 on 8-9, the EEPROM that
Interbotix's wx250s.yaml + xs_sdk set (shadows 3 and 5 reversed with Secondary ID 2 and 4, their
Homing Offsets calibrated against their primaries), and the shadows' shafts mechanically mirrored
to their primaries with an assembly offset, so `DxlBus.fight(primary, shadow)` measures in ticks
how far a shadow is from where the shared shaft puts it. `widowx_bus()` puts it on a `DxlBus`.
`servo_class=ShaftServo` gives servos whose shafts the twin's physics moves (sim/wire/servo_bridge.py).
"""
from __future__ import annotations

import struct

from postbc_ros.sim.wire.dynamixel_bus import (
    A_GOAL_POS, A_HOMING_OFFSET, A_OP_MODE, A_TORQUE, OP_PWM, REVERSE_PIVOT, XL430_W250, XM430_W350, DxlBus, DxlServo,
)

# Interbotix wx250s.yaml: (id, model, Drive Mode, Secondary ID, Min/Max Position Limit)
WX250S = [
    (1, XM430_W350, 0, 255, (0, 4095)),  # waist
    (2, XM430_W350, 0, 255, (819, 3345)),  # shoulder
    (3, XM430_W350, 1, 2, (819, 3345)),  # shoulder shadow
    (4, XM430_W350, 0, 255, (648, 3094)),  # elbow
    (5, XM430_W350, 1, 4, (648, 3094)),  # elbow shadow
    (6, XM430_W350, 0, 255, (0, 4095)),  # forearm roll
    (7, XM430_W350, 1, 255, (910, 3447)),  # wrist angle
    (8, XL430_W250, 0, 255, (0, 4095)),  # wrist rotate
    (9, XL430_W250, 0, 255, (0, 4095)),  # gripper
]
GRIPPER_STOPS = (1750.0, 2930.0)  # fingers fully closed / open (native ticks), just past motors.yaml's ticks
SHADOWS = {3: 2, 5: 4}  # shadow id -> primary id
ASSEMBLY_OFFSET = {3: 37.0, 5: -25.0}  # native ticks a shadow's horn sits off the mirror of its primary


def widowx_servos(missing: tuple[int, ...] = (), configured: bool = True, present: dict[int, float] | None = None,
                  torque: tuple[int, ...] = (), gripper_mode: int = OP_PWM, servo_class: type[DxlServo] = DxlServo,
                  **servo_kw) -> list[DxlServo]:
    """The wx250s chain. `configured`: EEPROM as xs_sdk leaves it (drive modes, secondary ids,
    shadow homing offsets calibrated; gripper in PWM mode); False = factory defaults (normal drive
    mode, no secondary id, offset 0, position mode). `present`: register positions of the
    primaries/gripper (2048 default); `torque`: ids that start torqued (holding); `servo_class`:
    DxlServo (its own kinematic motion) or ShaftServo (moved by the twin)."""
    present = present or {}
    out: dict[int, DxlServo] = {}
    for i, model, drive, sec, limits in WX250S:
        if i in missing:
            continue
        kw = dict(servo_kw)
        if configured:
            kw.update(drive_mode=drive, secondary_id=sec, limits=limits)
        reverse = configured and drive & 1
        reg = present.get(SHADOWS.get(i, i), 2048.0)
        if i in SHADOWS:  # shaft mirrored to the primary's (whose drive mode is normal)
            native = REVERSE_PIVOT - present.get(SHADOWS[i], 2048.0) + ASSEMBLY_OFFSET[i]
        else:
            native = (REVERSE_PIVOT - reg) if reverse else reg
        s = servo_class(i, position=native, model=model, **kw)
        if configured and i in SHADOWS:  # xs_sdk's calibration: offset := shadow - primary (reversed shadow)
            struct.pack_into("<i", s.table, A_HOMING_OFFSET, int(round((REVERSE_PIVOT - native) - reg)))
            struct.pack_into("<i", s.table, A_GOAL_POS, int(round(s.present)))
        if configured and i == 9:
            s.table[A_OP_MODE] = gripper_mode
        if i == 9:
            s.stops = GRIPPER_STOPS
        out[i] = s
    for i in torque:
        out[i].table[A_TORQUE] = 1
    return list(out.values())


def widowx_bus(**kw) -> DxlBus:
    """A `DxlBus` of `widowx_servos(**kw)` that knows which shafts are mirrored."""
    return DxlBus(widowx_servos(**kw), mirrored={s: (p, ASSEMBLY_OFFSET[s]) for s, p in SHADOWS.items()})
