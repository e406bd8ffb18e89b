"""Interbotix WidowX 250 6-DOF (wx250s) over Dynamixel Protocol 2.0 (ROBOTIS dynamixel_sdk).

The chain, as Interbotix's xs_sdk configures it (calibration/widowx/motors.yaml): XM430-W350 on
ids 1-7, XL430-W250 on 8 (wrist rotate) and 9 (gripper). The shoulder and elbow have a second
servo (ids 3, 5) in reverse Drive Mode whose Secondary ID is its primary's (2, 4) and whose
Homing Offset makes it read what the primary reads: it executes every write to the primary in
hardware. So only primaries are ever commanded -- a goal written to a shadow by its own id
would turn it against its primary.

connect(): FTDI latency-timer check; ping (model numbers checked); read the EEPROM (Drive
Mode, Operating Mode, Secondary ID, Position Limits; shadows must read their primary's
position) and refuse a mismatch with the fix, or write it with `configure_eeprom=True` (servos
that hold the arm are torqued off for it only with `eeprom_torque_off_confirmed=True`); then,
per servo whose torque is off, goal := present before its torque goes on. A servo that already
holds is never torqued off and its goal is not touched: connecting does not move or drop a
holding arm.

Per control period: one Sync Read of Present Velocity + Position of every servo (shadows
included); a status packet with the Alert bit, or every `hw_error_poll_every` reads, triggers a
Sync Read of Torque Enable .. Hardware Error Status. A hardware error (or a servo whose torque
dropped) holds the other servos (goal := present), and `read_state` / `command` raise
`ServoFault` (servo, joint, error bits, fix) until `reboot(ids, confirmed=True)`: Reboot
instruction, error cleared, goal := present, torque back on. One Sync Write of Goal Position to
the primaries per command. The gripper runs in PWM mode (a P-law on Goal PWM capped at
`pwm_limit`, zero beyond the open/closed ticks) or current-based position mode, so a grasp
cannot overload it.
"""
from __future__ import annotations

import logging
import struct
import time
from pathlib import Path

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmInterface, ArmState
from postbc_ros.drivers.arm.dynamixel_bus import USB_SERIAL_SYSFS, DxlPort, check_latency_timer
from postbc_ros.drivers.arm.dynamixel_config import (
    WidowXCalibration, eeprom_mismatches, eeprom_values, load_widowx_calibration, pack_eeprom_writes,
    shadow_homing_offset, signed32,
)
from postbc_ros.drivers.arm.dynamixel_table import (
    ADDR_GOAL_CURRENT, ADDR_GOAL_POSITION, ADDR_GOAL_PWM, ADDR_HOMING_OFFSET,
    ADDR_PRESENT_POSITION, ADDR_PROFILE_ACCELERATION, ADDR_PROFILE_VELOCITY,
    ADDR_SECONDARY_ID, ADDR_TORQUE_ENABLE, CENTER_TICKS, EEPROM_BLOCK, ERRBIT_ALERT, NO_SECONDARY_ID, STATE_BLOCK,
    STATUS_BLOCK, TICKS_PER_RAD, VELOCITY_UNIT, ServoFault, hw_error_names, model_name,
)
from postbc_ros.robots.widowx import ENTRY as WIDOWX

LOG = logging.getLogger(__name__)
HW_ERROR_POLL_EVERY = 10  # control periods between reads of Hardware Error Status besides the Alert bit
REBOOT_TIMEOUT_S = 2.0  # a rebooted X-series servo answers pings again well within this
REBOOT_POLL_S = 0.05
GRIPPER_DEADBAND = 8  # ticks: Goal PWM 0 this close to the gripper target (no buzzing)

__all__ = ["WidowXArm", "ServoFault", "load_widowx_calibration", "TICKS_PER_RAD"]


class WidowXArm(ArmInterface):
    """WidowX 250 6-DOF on a Dynamixel bus (U2D2). `warnings` lists what connect() warned about."""

    name = WIDOWX.real_backend

    def __init__(self, robot: str = WIDOWX.name, calibration: str | Path | None = None, port: str | None = None,
                 baudrate: int | None = None, torque_off_on_disconnect: bool = False, retries: int = 2,
                 configure_eeprom: bool = False, eeprom_torque_off_confirmed: bool = False,
                 hw_error_poll_every: int = HW_ERROR_POLL_EVERY, latency_sysfs: str | Path = USB_SERIAL_SYSFS) -> None:
        super().__init__(robot)
        if self.robot != WIDOWX.name:
            raise ArmError(f"widowx backend drives the WidowX 250 6-DOF, not {self.robot}")
        self.cal: WidowXCalibration = load_widowx_calibration(calibration, self.joint_names, WIDOWX.rig)
        self.port_name = port or self.cal.port
        self.baudrate = int(baudrate or self.cal.baudrate)
        self.torque_off_on_disconnect = bool(torque_off_on_disconnect)
        self.retries = max(0, int(retries))  # a lost/corrupted status packet is retried, not fatal
        self.configure_eeprom = bool(configure_eeprom)
        self.eeprom_torque_off_confirmed = bool(eeprom_torque_off_confirmed)
        if int(hw_error_poll_every) < 1:
            raise ArmError(f"widowx: hw_error_poll_every must be >= 1 control period, got {hw_error_poll_every}")
        self.hw_error_poll_every = int(hw_error_poll_every)
        self.latency_sysfs = Path(latency_sysfs)
        self.warnings: list[str] = []
        self.eeprom_written: list[str] = []  # what configure_eeprom changed on the last connect
        self.faults: dict[int, tuple[str, int, list[str]]] = {}  # latched until reboot()
        self._bus: DxlPort | None = None
        self._reads = 0
        self._gripper_target: int | None = None
        self._gripper_pwm: int | None = None
        self._gripper_present: int | None = None
        self._clipped: set[str] = set()
        self._free = False  # free_drive: arm servos torqued off for moving by hand

    # -- conversions ---------------------------------------------------------------------------
    def q_to_ticks(self, q: np.ndarray) -> dict[int, int]:
        """Goal Position of each joint's primary (shadows follow in hardware)."""
        return {j.primary.id: int(round(CENTER_TICKS + j.direction * (qi - j.offset) * TICKS_PER_RAD))
                for j, qi in zip(self.cal.joints, q)}

    def ticks_to_q(self, ticks: dict[int, int]) -> np.ndarray:
        return np.array([j.offset + j.direction * (ticks[j.primary.id] - CENTER_TICKS) / TICKS_PER_RAD for j in self.cal.joints])

    def _who(self, mid: int) -> str:
        return self.cal.who(mid)

    def _warn(self, msg: str) -> None:
        LOG.warning(msg)
        self.warnings.append(msg)

    # -- lifecycle ------------------------------------------------------------------------------
    def connect(self) -> None:
        self.warnings, self.eeprom_written, self.faults, self._reads, self._free = [], [], {}, 0, False
        if not self.cal.measured:
            self._warn(f"widowx: {self.cal.source} is not measured (measured: false): joint offsets and gripper "
                       "open/closed ticks are nominal. Run `postbc calibrate widowx-offsets` on this arm.")
        lat = check_latency_timer(self.port_name, self.latency_sysfs)
        if lat:
            self.warnings.append(lat)
        self._bus = DxlPort(self.port_name, self.baudrate, self.retries, self._who)
        try:
            self._verify_models()
            eeprom = {s.id: eeprom_values(self._bus.read(s.id, *EEPROM_BLOCK, "read EEPROM of")) for s in self.cal.servos}
            status, pos = self._read_status(), self._positions()
            mismatches = eeprom_mismatches(self.cal, eeprom, pos)
            if mismatches:
                self._configure(mismatches, status)
                status, pos = self._read_status(), self._positions()
            self.faults = self._faults_in(status, torque_expected=False)
            if self.faults:
                self._warn(str(ServoFault(self.faults, self.port_name)))
            self._power_up(status, pos)
        except Exception:
            self._bus.close()
            self._bus = None
            raise

    def _verify_models(self) -> None:
        for s in self.cal.servos:
            number = self._bus.ping(s.id)
            if number != s.model.number:
                raise ArmError(f"widowx: servo {s.id} ({s.who}) is a {model_name(number)}, {self.cal.source} expects a "
                               f"{s.model.name} (model number {s.model.number}). Check the servo ids with Dynamixel Wizard "
                               "or correct the model in motors.yaml.")

    def _configure(self, mismatches, status) -> None:
        """Refuse the EEPROM mismatch with the fix, or (configure_eeprom) write it xs_sdk's way."""
        cal = self.cal
        targets = {m.id for m in mismatches}
        for j in cal.joints:  # a write to a primary also reaches its shadow (Secondary ID): configure both
            if j.shadow and j.primary.id in targets:
                targets.add(j.shadow.id)
        held = sorted(i for i in targets if status[i][0])
        listing = "; ".join(str(m) for m in mismatches)
        if not self.configure_eeprom:
            raise ArmError(
                f"widowx on {self.port_name}: servo EEPROM differs from what this arm needs (Interbotix xs_sdk / wx250s "
                f"settings in {cal.source}): {listing}. Nothing was written. Fix: run `postbc arm configure-widowx --port "
                f"{self.port_name}` once (the driver's configure_eeprom=True: writes these fields; servos {sorted(targets)} "
                "are torqued off for it"
                + (f", and {held} hold the arm now: support it and add --confirm-torque-off "
                   "(eeprom_torque_off_confirmed=True)" if held else "")
                + "), or set them with Dynamixel Wizard / Interbotix's xs_sdk, or correct motors.yaml if the arm is "
                "deliberately configured otherwise.")
        if held and not self.eeprom_torque_off_confirmed:
            raise ArmError(
                f"widowx on {self.port_name}: configure_eeprom must torque off servos {held}, which hold the arm now "
                f"({listing}). Nothing was written. Support the arm (or lower it to rest), then connect with "
                "eeprom_torque_off_confirmed=True.")
        bus = self._bus
        for i in sorted(targets):
            if status[i][0]:
                bus.write(i, ADDR_TORQUE_ENABLE, 1, 0, "torque off (operator-confirmed, for EEPROM) of")
        shadows = [j for j in cal.joints if j.shadow and j.shadow.id in targets]
        for j in shadows:  # detach first: writes to the primary must not reach it half-configured
            bus.write(j.shadow.id, ADDR_SECONDARY_ID, 1, NO_SECONDARY_ID, "clear Secondary ID of")
        for s in cal.servos:
            if s.id in targets and s.secondary_id == NO_SECONDARY_ID:
                for addr, n, v in pack_eeprom_writes(cal, s):
                    bus.write(s.id, addr, n, v, "write EEPROM of")
        for j in shadows:
            sh = j.shadow
            for addr, n, v in pack_eeprom_writes(cal, sh):
                bus.write(sh.id, addr, n, v, "write EEPROM of")
            bus.write(sh.id, ADDR_HOMING_OFFSET, 4, 0, "clear Homing Offset of")
            pos = self._positions([sh.id, j.primary.id])
            off = shadow_homing_offset(pos[sh.id], pos[j.primary.id], sh.reverse)
            bus.write(sh.id, ADDR_HOMING_OFFSET, 4, off, "write Homing Offset of")
            bus.write(sh.id, ADDR_SECONDARY_ID, 1, j.primary.id, "write Secondary ID of")
        self.eeprom_written = [str(m) for m in mismatches]
        self._warn(f"widowx: configure_eeprom wrote servos {sorted(targets)}: {listing}")

    def _power_up(self, status, pos) -> None:
        """Torque on every healthy servo that is off, goal := present first; a holding servo keeps
        its torque and goal (a shadow that is off gets its primary's goal re-sent, unchanged)."""
        bus, cal = self._bus, self.cal
        off = {i for i, (torque, _err) in status.items() if not torque and i not in self.faults}
        goals: dict[int, int] = {}
        for j in cal.joints:
            p, s = j.primary.id, (j.shadow.id if j.shadow else None)
            if p in off:
                goals[p] = pos[p]
            elif s in off and p not in self.faults:
                goals[p] = signed32(int.from_bytes(bus.read(p, ADDR_GOAL_POSITION, 4, "read goal of"), "little"))
        primaries = [i for i in cal.primary_ids if i in off]
        if primaries:  # RAM, written before torque on; shadows take it from their primary
            bus.sync_write(ADDR_PROFILE_ACCELERATION, 4, {i: cal.profile_acceleration for i in primaries}, "profile acceleration")
            bus.sync_write(ADDR_PROFILE_VELOCITY, 4, {i: cal.profile_velocity for i in primaries}, "profile velocity")
        bus.sync_write(ADDR_GOAL_POSITION, 4, goals, "goal position")
        g = cal.gripper
        if g is not None and g.servo.id not in self.faults:
            gid = g.servo.id
            self._gripper_present = pos[gid]
            if gid in off:
                self._gripper_target = pos[gid]
                if g.mode == "pwm":
                    bus.write(gid, ADDR_GOAL_PWM, 2, 0, "zero Goal PWM of")
                    self._gripper_pwm = 0
                else:
                    bus.write(gid, ADDR_GOAL_CURRENT, 2, g.current_limit, "set Goal Current of")
                    bus.write(gid, ADDR_GOAL_POSITION, 4, pos[gid], "set goal of")
            else:  # it holds: keep doing what it does (a grasp is not released)
                self._gripper_target = self._gripper_holding_target(pos[gid])
        for i in [*cal.primary_ids, *cal.shadow_ids, *([g.servo.id] if g else [])]:
            if i in off:
                bus.write(i, ADDR_TORQUE_ENABLE, 1, 1, "torque on")

    def _gripper_holding_target(self, present: int) -> int:
        g = self.cal.gripper
        if g.mode == "pwm":
            self._gripper_pwm = struct.unpack("<h", self._bus.read(g.servo.id, ADDR_GOAL_PWM, 2, "read Goal PWM of"))[0]
            if self._gripper_pwm:  # it pushes toward one end: that end is its target
                return max(g.open_ticks, g.closed_ticks) if self._gripper_pwm > 0 else min(g.open_ticks, g.closed_ticks)
            return present
        return signed32(int.from_bytes(self._bus.read(g.servo.id, ADDR_GOAL_POSITION, 4, "read goal of"), "little"))

    def disconnect(self) -> None:
        if self._bus is None:
            return
        try:
            if self.torque_off_on_disconnect:  # the arm falls if unsupported: opt-in only
                for mid in self.cal.all_ids:
                    self._bus.pkt.write1ByteTxRx(self._bus.port, mid, ADDR_TORQUE_ENABLE, 0)
        finally:
            self._bus.close()
            self._bus = None

    def is_connected(self) -> bool:
        return self._bus is not None and self._bus.is_open

    # -- faults ---------------------------------------------------------------------------------
    def _read_status(self) -> dict[int, tuple[bool, int]]:
        """{id: (torque on, Hardware Error Status)} from one Sync Read."""
        n = STATUS_BLOCK[1]
        out = self._bus.sync_read(self.cal.all_ids, *STATUS_BLOCK, "hardware error status")
        return {i: (bool(d[0]), d[n - 1]) for i, (d, _err) in out.items()}

    def _faults_in(self, status, torque_expected: bool) -> dict[int, tuple[str, int, list[str]]]:
        return {i: (self._who(i), hw, hw_error_names(hw)) for i, (torque, hw) in status.items()
                if hw or (torque_expected and not torque)}

    def _trip(self, faults, pos: dict[int, int]) -> ServoFault:
        """Latch `faults`, hold every other servo where it is, and return the exception to raise."""
        self.faults.update(faults)
        self._hold_at(pos)
        err = ServoFault(self.faults, self.port_name)
        LOG.error(str(err))
        return err

    def _hold_at(self, pos: dict[int, int]) -> None:
        bad = set(self.faults)
        goals = {j.primary.id: pos[j.primary.id] for j in self.cal.joints if j.primary.id not in bad}
        self._bus.sync_write(ADDR_GOAL_POSITION, 4, goals, "goal position (hold)")

    @property
    def fault(self) -> ServoFault | None:
        """The latched servo fault (commands refused until a confirmed reboot), or None."""
        return ServoFault(self.faults, self.port_name) if self.faults else None

    def recover(self, confirmed: bool = False) -> str:
        """The operator's reset (arm_node's arm/operator_reset): reboot the faulted servos."""
        return self.reboot(confirmed=confirmed) if self.faults else "no hardware fault to clear"

    def reboot(self, ids: list[int] | None = None, confirmed: bool = False) -> str:
        """Reboot servos `ids` (default: the faulted ones) after the operator confirmed it: their
        torque drops during the reboot, so the arm must be supported or its cause removed. Clears
        Hardware Error Status; goal := present, torque back on; the fault latch is released when
        no servo reports an error any more. Without `confirmed` it refuses (ArmError)."""
        self._require_connected()
        ids = sorted(self.faults) if ids is None else sorted({int(i) for i in ids})
        unknown = [i for i in ids if i not in self.cal.all_ids]
        if unknown:
            raise ArmError(f"widowx: no servo {unknown} on this arm; its servos are {self.cal.all_ids}")
        if not ids:
            return "no servo to reboot: no fault is latched"
        names = ", ".join(f"{i} ({self._who(i)})" for i in ids)
        if not confirmed:
            raise ArmError(f"widowx: reboot of servo(s) {names} refused: it needs the operator's confirmation. A reboot "
                           "drops their torque for a moment; support the arm and remove the cause of the fault, then call "
                           f"reboot({ids}, confirmed=True) (arm_node: the operator's `postbc arm reset` confirms it).")
        for i in ids:
            self._bus.reboot(i)
        deadline = time.monotonic() + REBOOT_TIMEOUT_S
        for i in ids:
            while True:
                try:
                    self._bus.ping(i)
                    break
                except ArmError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(REBOOT_POLL_S)
        status, pos = self._read_status(), self._positions()
        self.faults = {i: f for i, f in self._faults_in(status, torque_expected=False).items()}
        still = {i: f for i, f in self.faults.items() if i in ids}
        self._power_up(status, pos)
        self._reads = 0
        if still:
            raise ServoFault(still, self.port_name)
        if self.faults:  # the rebooted ones are fine, others (not rebooted) are still latched
            raise ServoFault(self.faults, self.port_name)
        LOG.warning(f"widowx: rebooted servo(s) {names}; torque restored")
        return f"rebooted servo(s) {names}; torque restored, holding"

    # -- I/O ------------------------------------------------------------------------------------
    def _positions(self, ids: list[int] | None = None) -> dict[int, int]:
        out = self._bus.sync_read(ids or self.cal.all_ids, ADDR_PRESENT_POSITION, 4, "present position")
        return {i: signed32(int.from_bytes(d, "little")) for i, (d, _err) in out.items()}

    def read_state(self) -> ArmState:
        self._require_connected()
        if self.faults:
            raise ServoFault(self.faults, self.port_name)
        raw = self._bus.sync_read(self.cal.all_ids, *STATE_BLOCK, "present position")
        stamp = time.monotonic()
        vel = {i: signed32(int.from_bytes(d[0:4], "little")) for i, (d, _e) in raw.items()}
        pos = {i: signed32(int.from_bytes(d[4:8], "little")) for i, (d, _e) in raw.items()}
        self._reads += 1
        alert = any(err & ERRBIT_ALERT for _d, err in raw.values())
        if alert or self._reads % self.hw_error_poll_every == 0:
            faults = self._faults_in(self._read_status(), torque_expected=not self._free)
            if faults:
                raise self._trip(faults, pos)
        q = self.ticks_to_q(pos)
        dq = np.array([j.direction * vel[j.primary.id] * VELOCITY_UNIT for j in self.cal.joints])
        g = None
        if self.cal.gripper is not None:
            c = self.cal.gripper
            gp = pos[c.servo.id]
            g = float(np.clip((gp - c.open_ticks) / (c.closed_ticks - c.open_ticks), 0.0, 1.0))
            self._gripper_present = gp
            self._drive_gripper(gp)
        return ArmState(q=q, dq=dq, gripper=g, stamp=stamp)

    def _drive_gripper(self, present: int) -> None:
        """PWM mode: Goal PWM = kp * (target - present), capped at pwm_limit, 0 within the
        deadband or when it would push past the open/closed ticks (written only when it changes)."""
        g = self.cal.gripper
        if g.mode != "pwm" or self._gripper_target is None or present is None:
            return
        err = self._gripper_target - present
        lo, hi = min(g.open_ticks, g.closed_ticks), max(g.open_ticks, g.closed_ticks)
        pwm = int(np.clip(g.kp * err, -g.pwm_limit, g.pwm_limit))
        if abs(err) <= GRIPPER_DEADBAND or (pwm > 0 and present >= hi) or (pwm < 0 and present <= lo):
            pwm = 0
        if pwm != self._gripper_pwm:
            self._bus.sync_write(ADDR_GOAL_PWM, 2, {g.servo.id: pwm}, "gripper Goal PWM")
            self._gripper_pwm = pwm

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        if self.faults:
            raise ServoFault(self.faults, self.port_name)
        if self._free:
            raise ArmError(f"widowx on {self.port_name}: the arm is in free drive (torque off, moved by hand); "
                           "free_drive(False) holds it where it is and accepts commands again")
        goals = {}
        for j, (mid, t) in zip(self.cal.joints, self.q_to_ticks(q).items()):
            lo, hi = j.primary.limits
            if not lo <= t <= hi:  # the servo would drop the goal silently (Data Limit Error, no status)
                if j.name not in self._clipped:
                    LOG.warning(f"widowx: {j.name} goal {t} ticks outside the servo's Position Limits [{lo}, {hi}]: clipped")
                    self._clipped.add(j.name)
                t = min(max(t, lo), hi)
            goals[mid] = t
        g = self.cal.gripper
        if gripper is not None and g is not None:
            self._gripper_target = int(round(g.open_ticks + gripper * (g.closed_ticks - g.open_ticks)))
            if g.mode == "current_based_position":
                goals[g.servo.id] = self._gripper_target
        self._bus.sync_write(ADDR_GOAL_POSITION, 4, goals, "goal position")
        if gripper is not None and g is not None:
            self._drive_gripper(self._gripper_present)

    def hold(self) -> None:
        """Goal := present position for every healthy joint (torque stays on). The gripper keeps
        its last command (its effort is capped), so a grasped object is not dropped. In free drive
        the arm stays released (its torque is off): free_drive(False) is what locks it."""
        self._require_connected()
        if not self._free:
            self._hold_at(self._positions())

    # -- moving by hand -------------------------------------------------------------------------
    can_free_drive = True
    free_drive_hazard = "its arm servos are torqued off and it FALLS unless you support it"

    def free_drive(self, on: bool, confirmed: bool = False) -> str:
        """on: torque off every arm servo (shadows too; the gripper keeps its torque), after the
        operator `confirmed` that they support the arm -- it falls under gravity otherwise. off:
        goal := present, torque on (where the arm is now, no jump), commands accepted again."""
        self._require_connected()
        if self.faults:
            raise ServoFault(self.faults, self.port_name)
        arm_ids = [*self.cal.primary_ids, *self.cal.shadow_ids]
        if on:
            if not confirmed:
                raise ArmError(f"widowx on {self.port_name}: free drive refused without the operator's confirmation: "
                               "it torques off the arm servos and the arm falls unless someone supports it. Support "
                               "the arm, then call free_drive(True, confirmed=True).")
            if not self._free:
                self._free = True
                for i in arm_ids:  # shadows after their primaries: both let go together
                    self._bus.write(i, ADDR_TORQUE_ENABLE, 1, 0, "torque off (free drive) of")
            return f"arm servos {arm_ids} torqued off: the arm moves by hand; free_drive(False) locks it"
        if not self._free:
            return "not in free drive: the arm holds"
        self._power_up(self._read_status(), self._positions())  # goal := present, then torque on
        self._free = False
        return f"arm servos {arm_ids} torqued on where the arm is: holding"

    def hardware_error_status(self) -> dict[int, int]:
        """Hardware Error Status (70) of every servo, read now (for diagnostics / `postbc doctor`)."""
        self._require_connected()
        return {i: hw for i, (_t, hw) in self._read_status().items()}

