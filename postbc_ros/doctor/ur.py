"""Doctor checks of a UR cell: the controller address in calibration/<rig>/rtde.yaml, whether the
RTDE (30004) and dashboard (29999) ports answer, and -- through the dashboard server -- Remote
Control, the robot mode and the safety status.

The dashboard is read with ur_rtde's own `DashboardClient` (installed with ur_rtde: it sends
"is in remote control", "robotmode", "safetystatus" and parses the replies). Before it, a plain
TCP connect with a short timeout tells "unreachable" from "refused" quickly (DashboardClient's
connect to an unreachable host takes seconds). The reading is interpreted by the driver's own
`ur_status.fault_of`, so doctor and arm_node give the same advice. Nothing here moves the arm:
only read-only dashboard queries are sent.
"""
from __future__ import annotations

import socket

from postbc_ros.doctor.check import Check, failed, not_checked, passed
from postbc_ros.drivers.arm.ur_status import (
    ROBOT_MODE_RUNNING, ROBOT_MODES, RUNTIME_PLAYING, SAFETY_MODES, SAFETY_NORMAL, URStatus, fault_of,
)

RTDE_PORT = 30004  # UR controller: Real-Time Data Exchange
DASHBOARD_PORT = 29999  # UR controller: dashboard server (text commands)
CONNECT_TIMEOUT_S = 1.0  # a controller on the local network answers a TCP connect in milliseconds
REMOTE_FIX = ("on the teach pendant: Settings > System > Remote Control > Enable, then switch Local to Remote at "
              "the top right (ur_rtde needs Remote Control; no URCap is needed)")
_ROBOT_CODES = {v: k for k, v in ROBOT_MODES.items()}
_SAFETY_CODES = {v: k for k, v in SAFETY_MODES.items()}


def tcp_reachable(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when `host:port` accepts a TCP connection within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:  # refused, timed out, no route, unknown host
        return str(e) or type(e).__name__


def _reply_value(reply: str, prefix: str) -> str:
    """'Robotmode: RUNNING' -> 'RUNNING' (the dashboard's "<Field>: VALUE" replies)."""
    head, sep, value = reply.strip().partition(":")
    if not sep or head.strip().lower() != prefix.lower():
        raise ValueError(f"unexpected dashboard reply {reply.strip()!r} (expected '{prefix}: ...')")
    return value.strip()


def check_ur(rig: str, host: str | None = None, rtde_port: int = RTDE_PORT, dashboard_port: int = DASHBOARD_PORT,
             timeout: float = CONNECT_TIMEOUT_S, calibration_dir=None) -> list[Check]:
    """The UR checks of rig `rig`: reachable, remote control, robot mode, safety; `host` overrides
    rtde.yaml's (whose own check is calibration.py's)."""
    from pathlib import Path

    from postbc_ros.drivers.arm.base import CalibrationError
    from postbc_ros.drivers.arm.ur_rig import RIG_FILE, load_ur_rig

    n_reach = f"{rig}: controller reachable"
    n_remote, n_robot, n_safety = f"{rig}: remote control", f"{rig}: robot mode", f"{rig}: safety"
    later = (n_remote, n_robot, n_safety)
    if host is None:  # the file itself is checked (and its fix given) by the calibration check
        try:
            host = load_ur_rig(Path(calibration_dir) / rig / RIG_FILE if calibration_dir else None, rig).host
        except CalibrationError:
            return [not_checked(n, f"no controller address in {RIG_FILE}", f"{rig}: {RIG_FILE}") for n in (n_reach, *later)]
    out = []
    why = {p: tcp_reachable(host, p, timeout) for p in (rtde_port, dashboard_port)}
    if any(why.values()):
        out.append(failed(n_reach, "; ".join(f"{host}:{p}: {w}" for p, w in why.items() if w)
                          + "".join(f"; {host}:{p} answers" for p, w in why.items() if not w),
                          "check the Ethernet cable and that the controller is booted; give this computer an address "
                          f"on the robot's subnet (ping {host}); pendant: Settings > System > Network shows the robot's"))
    else:
        out.append(passed(n_reach, f"{host}: RTDE port {rtde_port} and dashboard port {dashboard_port} answer"))
    if why[dashboard_port]:
        return out + [not_checked(n, "the dashboard server does not answer", n_reach) for n in later]
    return out + dashboard_checks(host, dashboard_port, timeout, later)


def dashboard_checks(host: str, port: int, timeout: float, names: tuple[str, str, str]) -> list[Check]:
    """Remote control, robot mode and safety status over ur_rtde's DashboardClient."""
    from dashboard_client import DashboardClient

    n_remote, n_robot, n_safety = names
    dash = DashboardClient(host, port, False)
    try:
        dash.connect(int(timeout * 1000))
    except RuntimeError as e:
        return [failed(n, f"dashboard {host}:{port}: {e}", "check that nothing else holds the dashboard and run doctor "
                       "again") for n in names]
    try:
        return [_remote(n_remote, dash), _robot_mode(n_robot, dash), _safety(n_safety, dash)]
    finally:
        dash.disconnect()


def _remote(name: str, dash) -> Check:
    try:
        remote = dash.isInRemoteControl()
    except RuntimeError as e:  # ur_rtde refuses it below PolyScope 5.6 (no such query on CB3)
        return failed(name, f"cannot be read: {e}", "PolyScope 5.6 or later tells it; else check it on the pendant: "
                      + REMOTE_FIX)
    return passed(name, "the robot is in Remote Control") if remote else \
        failed(name, "the robot is in Local Control: ur_rtde cannot upload its control script", REMOTE_FIX)


def _robot_mode(name: str, dash) -> Check:
    try:
        mode = _reply_value(dash.robotmode(), "Robotmode")
    except (RuntimeError, ValueError) as e:
        return failed(name, str(e), "check the pendant")
    if mode not in _ROBOT_CODES:
        return failed(name, f"unknown robot mode {mode!r}", "check the pendant")
    fault = fault_of(URStatus(SAFETY_NORMAL, _ROBOT_CODES[mode], RUNTIME_PLAYING, False, False))
    return passed(name, mode) if fault is None else failed(name, mode, fault.action)


def _safety(name: str, dash) -> Check:
    try:
        status = _reply_value(dash.safetystatus(), "Safetystatus")
    except (RuntimeError, ValueError):  # safetystatus came with PolyScope 3.11 / 5.4; safetymode is older
        try:
            status = _reply_value(dash.safetymode(), "Safetymode")
        except (RuntimeError, ValueError) as e:
            return failed(name, str(e), "check the pendant")
    if status not in _SAFETY_CODES:
        return failed(name, f"unknown safety status {status!r}", "check the pendant")
    fault = fault_of(URStatus(_SAFETY_CODES[status], ROBOT_MODE_RUNNING, RUNTIME_PLAYING, False, False))
    return passed(name, status) if fault is None else failed(name, status, fault.action)
