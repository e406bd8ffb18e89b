"""Doctor checks of a WidowX's Dynamixel bus: the U2D2 (FTDI USB-serial) and its permissions, the
FTDI latency timer, and -- when the port answers -- the servos on it: ids, model numbers, the
EEPROM settings xs_sdk gives them (Drive Mode, Operating Mode, Secondary ID, Position Limits,
shadow Homing Offset) and their Hardware Error Status.

Read-only: pings and reads, never a write, so a running arm is neither moved nor dropped. A port
another process holds open (arm_node) is left alone -- two masters on one half-duplex bus would
corrupt each other's packets. The expectations and the comparisons are the driver's own
(`drivers.arm.dynamixel_config`, `dynamixel_bus.check_latency_timer`).
"""
from __future__ import annotations

import glob
import grp
import os
import pwd
from contextlib import contextmanager
from pathlib import Path

from postbc_ros.doctor.check import Check, failed, not_checked, passed
from postbc_ros.drivers.arm.base import ArmError
from postbc_ros.drivers.arm.dynamixel_bus import LOG as BUS_LOG
from postbc_ros.drivers.arm.dynamixel_bus import USB_SERIAL_SYSFS, DxlPort, check_latency_timer
from postbc_ros.drivers.arm.dynamixel_config import WidowXCalibration, eeprom_mismatches, eeprom_values, signed32
from postbc_ros.drivers.arm.dynamixel_table import (
    ADDR_PRESENT_POSITION, EEPROM_BLOCK, STATUS_BLOCK, hw_error_names, model_name,
)

U2D2_USB_ID = (0x0403, 0x6014)  # FTDI FT232H: the U2D2's USB-serial chip (vendor, product)
TTY_SYSFS = Path("/sys/class/tty")
SERIAL_BY_ID = Path("/dev/serial/by-id")
SERIAL_GROUP = "dialout"  # owner group of USB-serial devices on Debian/Ubuntu
PING_RETRIES = 2  # a lost status packet is retried, as the driver does
UDEV_RULE = ('a udev rule, e.g. /etc/udev/rules.d/99-u2d2.rules: SUBSYSTEM=="tty", ATTRS{idVendor}=="0403", '
             'ATTRS{idProduct}=="6014", MODE="0666", SYMLINK+="ttyDXL" (Interbotix ships one), then '
             "sudo udevadm control --reload && replug the U2D2")


def find_u2d2(tty_sysfs: Path = TTY_SYSFS) -> list[str]:
    """/dev/ttyUSB* whose USB device is an FTDI 0403:6014 (from sysfs)."""
    out = []
    for tty in sorted(Path(tty_sysfs).glob("ttyUSB*")):
        dev = (tty / "device").resolve()
        for d in (dev, *dev.parents):
            try:
                ids = (int((d / "idVendor").read_text(), 16), int((d / "idProduct").read_text(), 16))
            except (OSError, ValueError):
                continue
            if ids == U2D2_USB_ID:
                out.append(f"/dev/{tty.name}")
            break
    return out


def by_id_names(dev: str, by_id: Path = SERIAL_BY_ID) -> list[str]:
    """/dev/serial/by-id links that point at `dev` (they name the FTDI chip and its serial)."""
    real = os.path.realpath(dev)
    return sorted(p.name for p in Path(by_id).glob("*") if os.path.realpath(p) == real)


def port_users(port: str) -> list[int]:
    """Pids of other processes that hold `port` open (from /proc/*/fd; unreadable ones are skipped)."""
    real, me = os.path.realpath(port), os.getpid()
    pids = set()
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == real:
                pids.add(int(fd.split("/")[2]))
        except OSError:
            continue
    return sorted(pids - {me})


@contextmanager
def _quiet(logger):
    """The driver logs its warnings as well as returning them; doctor prints them once, itself."""
    was, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was


def check_u2d2(name: str, configured: str, tty_sysfs: Path = TTY_SYSFS) -> tuple[Check, str | None]:
    """The port to talk to (the configured one if it exists, else the only U2D2 found) and its check."""
    found = find_u2d2(tty_sysfs)
    where = ", ".join(f"{d} ({', '.join(by_id_names(d)) or 'FTDI 0403:6014'})" for d in found)
    if os.path.exists(configured):
        real = os.path.realpath(configured)
        return passed(name, f"{configured} -> {real}" + (f"; U2D2 found: {where}" if found else "")), configured
    if len(found) == 1:
        return failed(name, f"motors.yaml port {configured} does not exist, but a U2D2 is at {where}",
                      f"set `port: {found[0]}` in motors.yaml, or install {UDEV_RULE}"), found[0]
    if found:
        return failed(name, f"motors.yaml port {configured} does not exist; several U2D2s: {where}",
                      "set `port:` in motors.yaml to the right one (a /dev/serial/by-id path stays stable)"), None
    return failed(name, f"no U2D2 (USB-serial FTDI 0403:6014) found and {configured} does not exist",
                  "plug the U2D2 into this computer by USB and power the arm (12 V); `ls /dev/ttyUSB* /dev/serial/by-id` "
                  "must list it (no driver needed: ftdi_sio)"), None


def check_permissions(name: str, port: str | None) -> Check:
    """The user can open `port` (or, without a port, is in the group that owns serial devices)."""
    if os.geteuid() == 0:
        return passed(name, "running as root")
    user = pwd.getpwuid(os.geteuid()).pw_name
    fix = (f"sudo usermod -aG {SERIAL_GROUP} {user}, then log out and in again; or {UDEV_RULE}")
    if port and os.path.exists(port):
        if os.access(port, os.R_OK | os.W_OK):
            return passed(name, f"{port} is readable and writable by {user}")
        group = grp.getgrgid(os.stat(port).st_gid).gr_name
        if user in grp.getgrnam(group).gr_mem:
            return failed(name, f"{user} is in group {group} but this login session is not yet",
                          "log out and in again (or run `newgrp " + group + "`)")
        return failed(name, f"{user} cannot open {port} (owned by group {group})", fix.replace(SERIAL_GROUP, group, 1))
    try:
        g = grp.getgrnam(SERIAL_GROUP)
    except KeyError:
        return failed(name, f"there is no group {SERIAL_GROUP} on this system", f"use {UDEV_RULE}")
    if g.gr_gid in os.getgroups():
        return passed(name, f"{user} is in group {SERIAL_GROUP} (owner of USB-serial devices)")
    return failed(name, f"{user} is not in group {SERIAL_GROUP}: a plugged-in U2D2 could not be opened", fix)


def check_latency(name: str, port: str, sysfs: Path = USB_SERIAL_SYSFS) -> Check:
    """The FTDI latency timer behind `port` (the driver's `check_latency_timer` decides)."""
    f = Path(sysfs) / Path(port).resolve().name / "latency_timer"
    if not f.is_file():
        return passed(name, f"{port} has no FTDI latency timer ({f} absent: not an FTDI USB-serial device)")
    with _quiet(BUS_LOG):
        warning = check_latency_timer(port, sysfs)
    if warning is None:
        return passed(name, f"{f.read_text().strip()} ms ({f})")
    detail, _, fix = warning.partition(". Fix now: ")
    return failed(name, detail.removeprefix("widowx: "), ("now: " + fix) if fix else warning)


def check_servos(rig: str, cal: WidowXCalibration, port: str) -> list[Check]:
    """Three checks over the bus: servos (answer, model), servo EEPROM, servo hardware errors."""
    names = (f"{rig}: servos", f"{rig}: servo EEPROM", f"{rig}: servo hardware errors")
    users = port_users(port)
    if users:
        why = f"{port} is open in process(es) {users} (arm_node?); doctor does not share a bus with a running driver"
        return [failed(names[0], why, f"stop that process (kill {' '.join(map(str, users))}) and run doctor again")] + \
            [not_checked(n, "the bus is in use", names[0]) for n in names[1:]]
    try:
        bus = DxlPort(port, cal.baudrate, PING_RETRIES, cal.who)
    except ArmError as e:
        return [failed(names[0], str(e), "check the port and its permissions (above)")] + \
            [not_checked(n, f"{port} did not open", names[0]) for n in names[1:]]
    try:
        return _servo_checks(names, cal, bus)
    except ArmError as e:  # the bus failed mid-check (noise, a cable pulled)
        return [failed(names[0], str(e), "check the cables and power, then run doctor again")] + \
            [not_checked(n, "the bus failed", names[0]) for n in names[1:]]
    finally:
        bus.close()


def _servo_checks(names, cal: WidowXCalibration, bus: DxlPort) -> list[Check]:
    models: dict[int, int] = {}
    missing = []
    for s in cal.servos:
        try:
            models[s.id] = bus.ping(s.id)
        except ArmError:
            missing.append(s)
    wrong = [f"servo {s.id} ({s.who}) is a {model_name(models[s.id])}, {cal.source} expects a {s.model.name}"
             for s in cal.servos if s.id in models and models[s.id] != s.model.number]
    listing = ", ".join(f"{i} {model_name(n)}" for i, n in sorted(models.items()))
    if not models:
        servos = failed(names[0], f"no servo answered on {bus.name} at {cal.baudrate} baud (ids {cal.all_ids})",
                        "power the arm (12 V supply: the U2D2 does not power the servos), check the cable from the U2D2 "
                        "to the first servo, and that motors.yaml `baudrate` is the servos' (Interbotix: 1000000)")
    elif missing or wrong:
        parts = ([f"servo(s) {', '.join(f'{s.id} ({s.who})' for s in missing)} did not answer"] if missing else []) + wrong
        servos = failed(names[0], "; ".join(parts) + f"; answering: {listing}",
                        "check the daisy-chain cables and power at the missing servos; check servo ids and models "
                        "with Dynamixel Wizard, or correct motors.yaml")
    else:
        servos = passed(names[0], f"{len(models)} servos on {bus.name}: {listing}")
    if not servos.ok:
        eeprom = not_checked(names[1], "not every servo answered with the expected model", names[0])
    else:
        values = {s.id: eeprom_values(bus.read(s.id, *EEPROM_BLOCK, "read EEPROM of")) for s in cal.servos}
        raw = bus.sync_read(cal.all_ids, ADDR_PRESENT_POSITION, 4, "present position")
        present = {i: signed32(int.from_bytes(d, "little")) for i, (d, _err) in raw.items()}
        bad = eeprom_mismatches(cal, values, present)
        eeprom = passed(names[1], "Drive Mode, Operating Mode, Secondary ID, Position Limits and shadow Homing Offsets "
                        f"as {cal.source} expects") if not bad else failed(
            names[1], "; ".join(map(str, bad)),
            "write them the way xs_sdk does: `postbc arm configure-widowx` (servos that hold the arm are torqued "
            "off for it only with --confirm-torque-off: support the arm), or with Dynamixel Wizard / Interbotix's "
            "xs_sdk; or correct motors.yaml if the arm is deliberately configured otherwise")
    return [servos, eeprom, _hardware_errors(names[2], cal, bus, sorted(models))]


def _hardware_errors(name: str, cal: WidowXCalibration, bus: DxlPort, ids: list[int]) -> Check:
    if not ids:
        return not_checked(name, "no servo answered", name.rsplit(":", 1)[0] + ": servos")
    status = bus.sync_read(ids, *STATUS_BLOCK, "hardware error status")
    faults = {i: d[-1] for i, (d, _err) in status.items() if d[-1]}
    torqued = [i for i, (d, _err) in status.items() if d[0]]
    if faults:
        return failed(name, "; ".join(f"servo {i} ({cal.who(i)}): {', '.join(hw_error_names(st))} (Hardware Error Status "
                                      f"0x{st:02x})" for i, st in sorted(faults.items())),
                      "remove the cause (blocked or overloaded joint, supply voltage, overheating: let it cool), support "
                      "the arm, then reboot the servo(s): `postbc arm reset` with arm_node running (it reboots faulted "
                      "servos), Dynamixel Wizard's Reboot, or a power cycle")
    return passed(name, f"none; torque on: {torqued or 'none'}")


def check_widowx(rig: str, joint_names: list[str], calibration_dir: Path | None = None, port: str | None = None,
                 tty_sysfs: Path = TTY_SYSFS, latency_sysfs: Path = USB_SERIAL_SYSFS) -> list[Check]:
    """Every Dynamixel check of rig `rig` (its motors.yaml; `port` overrides the file's)."""
    from postbc_ros.drivers.arm.base import CalibrationError
    from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration
    from postbc_ros.resources import calibration_root

    path = Path(calibration_dir or calibration_root()) / rig / "motors.yaml"
    u2d2, perms, latency = f"{rig}: U2D2", f"{rig}: serial permissions", f"{rig}: FTDI latency timer"
    try:
        cal = load_widowx_calibration(path, joint_names, rig)
    except CalibrationError:  # the file's own check (and fix) is calibration.py's
        return [not_checked(n, f"{path.name} does not load", f"{rig}: {path.name}")
                for n in (u2d2, perms, latency, f"{rig}: servos")]
    found, use = check_u2d2(u2d2, port or cal.port, tty_sysfs)
    out = [found, check_permissions(perms, use)]
    if use is None:
        return out + [not_checked(n, "no U2D2 port", u2d2) for n in (latency, f"{rig}: servos")]
    out.append(check_latency(latency, use, latency_sysfs))
    if not out[1].ok:
        return out + [not_checked(f"{rig}: servos", f"{use} cannot be opened", perms)]
    return out + check_servos(rig, cal, use)
