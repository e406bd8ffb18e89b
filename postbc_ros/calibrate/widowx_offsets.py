"""WidowX joint zero offsets and gripper open/closed ticks, measured over the Dynamixel bus.

With the arm's torque off, the operator puts each joint at its reference angle (the Interbotix
zero pose, step by step) and the fully open / fully closed gripper; the tool reads Present
Position over the bus with the driver's own bus access (`drivers.arm.dynamixel_bus.DxlPort`,
the chain from motors.yaml: ids, who is who) and computes what `drivers.arm.widowx` needs:

    offset_j = q_ref_j - direction_j * (ticks_j - 2048) / TICKS_PER_RAD

(`offset` = the joint angle when the primary reads 2048, as motors.yaml defines it), and the
gripper's open_ticks / closed_ticks. `update_motors_yaml` writes them into motors.yaml in place
(comments and layout kept) with `measured: true`; the result is parsed back with the driver's
loader before it is written.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from postbc_ros.drivers.arm.dynamixel_config import WidowXCalibration, load_widowx_calibration
from postbc_ros.drivers.arm.dynamixel_table import ADDR_PRESENT_POSITION, ADDR_TORQUE_ENABLE, CENTER_TICKS, TICKS_PER_RAD

MAX_OFFSET_RAD = math.radians(20.0)  # beyond this the joint is not at its reference (or a horn is a spline off)
MIN_GRIPPER_TRAVEL = 200  # ticks between open and closed; less = the gripper was not moved end to end
MAX_ATTEMPTS = 3  # reads of one step before giving up
# joint -> (reference angle [rad], how the operator recognises it): the Interbotix zero pose
REFERENCE = {
    "waist": (0.0, "the arm points straight forward, along the base's long edge"),
    "shoulder": (0.0, "the upper arm stands vertical (check with a square or a level)"),
    "elbow": (0.0, "the forearm is horizontal, at a right angle to the vertical upper arm"),
    "forearm_roll": (0.0, "the wrist bracket is upright, not rolled (its flat faces horizontal)"),
    "wrist_angle": (0.0, "the gripper is in line with the forearm (horizontal)"),
    "wrist_rotate": (0.0, "the gripper fingers open horizontally (left/right), not up/down"),
}


class OffsetsError(RuntimeError):
    """The procedure stopped (operator declined, implausible readings, bad motors.yaml); says why and what to do."""


@dataclass(frozen=True)
class WidowXOffsets:
    offsets: dict[str, float]  # joint -> offset [rad]
    ticks: dict[str, int]  # joint -> the primary's reading at the reference
    open_ticks: int | None
    closed_ticks: int | None


def offset_from_ticks(ticks: int, q_ref: float, direction: int) -> float:
    return float(q_ref - direction * (ticks - CENTER_TICKS) / TICKS_PER_RAD)


def measure_widowx_offsets(cal: WidowXCalibration, ask: Callable[[str], str], say: Callable[[str], None] = print,
                           port: str | None = None, reference: dict | None = None) -> WidowXOffsets:
    """The interactive procedure. `ask(prompt)` returns the operator's answer (input()), `say`
    prints. Opens the bus itself (nothing else may hold the port) and leaves the torque off."""
    from postbc_ros.drivers.arm.dynamixel_bus import DxlPort

    ref = {**REFERENCE, **(reference or {})}
    port = port or cal.port
    bus = DxlPort(port, cal.baudrate, 2, cal.who)
    try:
        step = 1
        say(f"Step {step}: checking the servos on {port} ({len(cal.all_ids)} expected: ids {cal.all_ids}).")
        for s in cal.servos:
            bus.ping(s.id)
        torqued = [i for i in cal.all_ids if bus.read(i, ADDR_TORQUE_ENABLE, 1, "read torque of")[0]]
        if torqued:
            step += 1
            ans = ask(f"Step {step}: servos {torqued} hold the arm. Support the arm with one hand: its torque goes OFF "
                      "and it will go limp. Type 'yes' when you hold it: ")
            if ans.strip().lower() not in ("y", "yes"):
                raise OffsetsError("widowx-offsets: stopped, the torque was left on (the operator did not confirm). "
                                   "Support the arm and run it again.")
            for i in torqued:
                bus.write(i, ADDR_TORQUE_ENABLE, 1, 0, "torque off (operator-confirmed) of")
            say("Torque is off: the arm moves freely by hand.")

        def present() -> dict[int, int]:
            out = bus.sync_read(cal.all_ids, ADDR_PRESENT_POSITION, 4, "present position")
            return {i: int.from_bytes(d, "little", signed=True) for i, (d, _e) in out.items()}

        offsets, ticks = {}, {}
        for j in cal.joints:
            q_ref, how = ref[j.name]
            step += 1
            for attempt in range(MAX_ATTEMPTS):
                ask(f"Step {step}: move the {j.name} to {math.degrees(q_ref):g} deg: {how}. Keep the joints done so far "
                    "where they are, hold it still and press Enter: ")
                t = present()[j.primary.id]
                off = offset_from_ticks(t, q_ref, j.direction)
                if abs(off) <= MAX_OFFSET_RAD:
                    break
                say(f"  {j.name} reads {t} ticks = {math.degrees(off):+.1f} deg off the nominal zero (> "
                    f"{math.degrees(MAX_OFFSET_RAD):.0f} deg): not at the reference, or its horn is mounted a spline off. Again.")
            else:
                raise OffsetsError(f"widowx-offsets: {j.name} read {t} ticks ({math.degrees(off):+.1f} deg off) "
                                   f"{MAX_ATTEMPTS} times; check the servo horn's mounting (and ids in motors.yaml). Nothing written.")
            offsets[j.name], ticks[j.name] = off, t
            say(f"  {j.name}: {t} ticks -> offset {off:+.4f} rad ({math.degrees(off):+.2f} deg)")
        g_open = g_closed = None
        if cal.gripper is not None:
            gid = cal.gripper.servo.id
            step += 1
            for attempt in range(MAX_ATTEMPTS):
                ask(f"Step {step}: open the gripper fully by hand (fingers at their outer stops) and press Enter: ")
                g_open = present()[gid]
                ask(f"Step {step + 1}: close the gripper fully (fingers touching) and press Enter: ")
                g_closed = present()[gid]
                if abs(g_open - g_closed) >= MIN_GRIPPER_TRAVEL:
                    break
                say(f"  open {g_open} / closed {g_closed} ticks differ by < {MIN_GRIPPER_TRAVEL}: move the fingers end to end. Again.")
            else:
                raise OffsetsError(f"widowx-offsets: the gripper moved < {MIN_GRIPPER_TRAVEL} ticks between open and closed "
                                   f"{MAX_ATTEMPTS} times; is servo {gid} the gripper? Nothing written.")
            say(f"  gripper: open {g_open} ticks, closed {g_closed} ticks")
        say("Done. The torque stays OFF: lower the arm to its rest before you let go.")
        return WidowXOffsets(offsets, ticks, g_open, g_closed)
    finally:
        bus.close()


_NUM = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"


def update_motors_yaml(path: str | Path, result: WidowXOffsets, joint_names: list[str], date: str) -> str:
    """motors.yaml's text with the measured offsets, gripper ticks and `measured: true`, layout
    and comments kept; verified by parsing it with the driver's loader. Raises OffsetsError when
    the file's layout is not the one shipped (one flow mapping per joint line)."""
    import tempfile

    path = Path(path)
    text = path.read_text()

    def sub(pattern: str, repl, what: str, src: str) -> str:
        new, n = re.subn(pattern, repl, src, count=1, flags=re.M)
        if n != 1:
            raise OffsetsError(f"{path}: cannot find {what} in the shipped layout; set it by hand to the value printed above")
        return new

    for name, off in result.offsets.items():
        text = sub(rf"^(\s+{re.escape(name)}:\s*\{{.*?\boffset:\s*){_NUM}", lambda m, o=off: f"{m.group(1)}{o:.6f}",
                   f"joints.{name}.offset", text)
    if result.open_ticks is not None:
        text = sub(rf"^(\s+open_ticks:\s*){_NUM}", lambda m: f"{m.group(1)}{result.open_ticks}", "gripper.open_ticks", text)
        text = sub(rf"^(\s+closed_ticks:\s*){_NUM}", lambda m: f"{m.group(1)}{result.closed_ticks}", "gripper.closed_ticks", text)
    text = sub(r"^measured:\s*\w+.*$", f"measured: true   # postbc calibrate widowx-offsets, {date}", "measured", text)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "motors.yaml"
        tmp.write_text(text)
        cal = load_widowx_calibration(tmp, joint_names)
    got = {j.name: j.offset for j in cal.joints}
    if not cal.measured or any(not np.isclose(got[k], v, atol=1e-6) for k, v in result.offsets.items()) or (
            cal.gripper is not None and result.open_ticks is not None
            and (cal.gripper.open_ticks, cal.gripper.closed_ticks) != (result.open_ticks, result.closed_ticks)):
        raise OffsetsError(f"{path}: the edited file does not read back the measured values; set them by hand")
    return text
