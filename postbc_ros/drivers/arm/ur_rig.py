"""The UR cell's connection settings: ``calibration/<rig>/rtde.yaml`` (rig = the robot entry's
`rig`, ``ur5e``), read by the ur_rtde backend when arm_node's `host` parameter is empty.

There is no built-in robot address: a missing, empty or still-placeholder `host` is refused with
the file, the field and how to find the address, so an arm is never driven at a guessed IP.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from postbc_ros.drivers.arm.base import CalibrationError, require_calibration_file
from postbc_ros.robots.ur5e import NAME as UR5E

RIG_FILE = "rtde.yaml"
HOST_PLACEHOLDER = "SET_ME"  # what calibration/ur5e/rtde.yaml ships with; refused like an empty host
# RFC 1123 host name (labels of letters, digits, hyphens); anything else must be an IP address
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
HOST_FIX = ("set `host:` to the robot's IP address (teach pendant: Settings > System > Network; give the robot a "
            "static address on the workstation's subnet), or pass it to arm_node as host:=<ip>")


@dataclass(frozen=True)
class URRig:
    """Parsed rtde.yaml: `host` (the controller's address) and where it came from."""

    host: str
    source: str


def check_host(host: object, where: str) -> str:
    """`host` stripped, or a CalibrationError naming `where` and the fix."""
    if host is None or (isinstance(host, str) and not host.strip()):
        raise CalibrationError(f"{where}: field 'host' is missing or empty; {HOST_FIX}")
    if not isinstance(host, str):
        raise CalibrationError(f"{where}: field 'host' must be a string (an IP address or host name), got {host!r}; {HOST_FIX}")
    h = host.strip()
    if h == HOST_PLACEHOLDER:
        raise CalibrationError(f"{where}: field 'host' is still the placeholder {HOST_PLACEHOLDER!r}; {HOST_FIX}")
    try:
        ipaddress.ip_address(h)
    except ValueError:
        if not _HOSTNAME.match(h) or h.replace(".", "").isdigit():
            raise CalibrationError(f"{where}: field 'host' {h!r} is neither an IP address nor a host name; {HOST_FIX}") from None
    return h


def load_ur_rig(path: str | Path | None = None, rig: str = UR5E) -> URRig:
    """Read `path` (default calibration/<rig>/rtde.yaml); errors name the file, field and fix."""
    import yaml

    from postbc_ros.resources import calibration_root

    p = Path(path) if path else calibration_root() / rig / RIG_FILE
    require_calibration_file(p, "UR controller settings", f"Copy calibration/{rig}/{RIG_FILE} from the postbc_ros sources "
                             f"to this path and {HOST_FIX}.")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise CalibrationError(f"{p}: not valid YAML: {e}") from e
    if not isinstance(d, dict):
        raise CalibrationError(f"{p}: expected a mapping with a 'host' field; {HOST_FIX}")
    return URRig(host=check_host(d.get("host"), str(p)), source=str(p))
