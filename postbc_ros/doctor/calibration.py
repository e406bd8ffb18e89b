"""Doctor checks of a rig's calibration files (calibration/<rig>/): each present, valid (loaded by
the same function the nodes use) and, on a real rig, stamped `measured: true` -- naming the file
and the `postbc calibrate ...` command that measures it.

Files: safety.yaml (every rig), camera_<name>.yaml (every rig), motors.yaml (WidowX backend),
rtde.yaml (UR backend: the host must be set). A twin rig's files are exact (generated from the
MuJoCo model), so only their presence and validity are checked.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from postbc_ros.doctor.check import Check, failed, passed
from postbc_ros.robots.ur5e import ENTRY as UR5E
from postbc_ros.robots.widowx import ENTRY as WIDOWX

CAMERA_FIX = ("postbc calibrate intrinsics, then postbc calibrate hand-eye and postbc calibrate latency "
              "(each writes calibration/{rig}/camera_{cam}.yaml with measured: true)")
MOTORS_FIX = "postbc calibrate widowx-offsets (joint offsets and gripper ticks; writes measured: true)"


def _measured(path: Path) -> bool:
    d = yaml.safe_load(path.read_text())
    return isinstance(d, dict) and d.get("measured") is True


def check_calibration(rig: str, backend: str | None, joint_names: list[str], real: bool,
                      calibration_dir: Path | None = None) -> list[Check]:
    """`backend`: the rig's arm backend (the registry entry's real_backend, or None for none); `real`: a real
    rig (measured stamps required) rather than a twin."""
    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.drivers.camera.calibration import load_camera_calibration
    from postbc_ros.resources import calibration_root

    root = Path(calibration_dir or calibration_root())
    d = root / rig
    out = []

    def loads(name: str, path: Path, load, fix_missing: str, fix_invalid: str = "") -> bool:
        if not path.is_file():
            out.append(failed(name, f"{path} missing", fix_missing))
            return False
        try:
            load()
        except (ValueError, yaml.YAMLError) as e:  # CalibrationError & co. are ValueErrors naming file and field
            out.append(failed(name, str(e), fix_invalid or f"correct {path} (calibration/README.md)"))
            return False
        return True

    p = d / "safety.yaml"
    if loads(f"{rig}: {p.name}", p, lambda: load_safety_limits(rig, root),
             f"copy calibration/{rig}/safety.yaml from the postbc_ros sources and tighten it for this cell"):
        out.append(passed(f"{rig}: {p.name}", f"{p} valid"))
    cams = sorted(d.glob("camera_*.yaml"))
    if not cams:
        out.append(failed(f"{rig}: cameras", f"no camera_<name>.yaml in {d}",
                          CAMERA_FIX.format(rig=rig, cam="<name>")))
    for p in cams:
        cam = p.stem.removeprefix("camera_")
        name = f"{rig}: {p.name}"
        if loads(name, p, lambda p=p: load_camera_calibration(p), CAMERA_FIX.format(rig=rig, cam=cam)):
            out.append(_stamp(name, p, real, CAMERA_FIX.format(rig=rig, cam=cam)))
    if backend == WIDOWX.real_backend:
        from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration

        p = d / "motors.yaml"
        if loads(f"{rig}: {p.name}", p, lambda: load_widowx_calibration(p, joint_names, rig),
                 "copy calibration/widowx/motors.yaml from the postbc_ros sources and set your arm's servo ids"):
            out.append(_stamp(f"{rig}: {p.name}", p, real, MOTORS_FIX))
    elif backend == UR5E.real_backend:
        from postbc_ros.drivers.arm.ur_rig import HOST_FIX, RIG_FILE, load_ur_rig

        p = d / RIG_FILE
        if loads(f"{rig}: {p.name}", p, lambda: load_ur_rig(p, rig), f"copy calibration/{rig}/{RIG_FILE} from the "
                 f"postbc_ros sources and {HOST_FIX}", HOST_FIX):
            out.append(passed(f"{rig}: {p.name}", f"{p}: host {load_ur_rig(p, rig).host}"))
    return out


def _stamp(name: str, path: Path, real: bool, fix: str) -> Check:
    if not real:
        return passed(name, f"{path} valid (twin: exact, from the MuJoCo model)")
    if _measured(path):
        return passed(name, f"{path} valid, measured: true")
    return failed(name, f"{path} holds nominal values (no `measured: true`)", fix)
