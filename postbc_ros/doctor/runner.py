"""Which checks `postbc doctor` runs: per rig its arm's device checks (by the robot entry's real
backend) and its calibration files, once the cameras, the teleop devices and the ROS environment."""
from __future__ import annotations

from pathlib import Path

from postbc_ros.doctor.calibration import check_calibration
from postbc_ros.doctor.check import Check
from postbc_ros.doctor.dynamixel import check_widowx
from postbc_ros.doctor.realsense import check_realsense
from postbc_ros.doctor.ros_env import check_ros
from postbc_ros.doctor.teleop import check_teleop
from postbc_ros.doctor.ur import check_ur
from postbc_ros.robots.ur5e import ENTRY as UR5E
from postbc_ros.robots.widowx import ENTRY as WIDOWX

ARM_CHECKS = {WIDOWX.real_backend: "dynamixel", UR5E.real_backend: "ur"}  # real backend -> its device checks


def known_rigs() -> dict[str, tuple[object, bool]]:
    """rig name -> (robot entry, real?) for every registered robot's real and twin rig."""
    from postbc_ros.robots.registry import get_robot, robot_names

    out: dict[str, tuple[object, bool]] = {}
    for n in robot_names():
        e = get_robot(n)
        out[e.rig] = (e, True)
        out.setdefault(e.twin_rig, (e, False))
    return out


def resolve_rigs(rig: str | None) -> list[str]:
    """[rig] checked against the registry, or every real rig when None; ValueError names the choices."""
    rigs = known_rigs()
    if rig is None:
        return [r for r, (_e, real) in rigs.items() if real]
    if rig not in rigs:
        raise ValueError(f"unknown rig {rig!r}; choose one of {sorted(rigs)} (calibration/<rig>/, the robot "
                         "entries' rig / twin_rig)")
    return [rig]


def run_doctor(rig: str | None = None, calibration_dir: Path | None = None, env: dict | None = None) -> list[Check]:
    """Every check for `rig` (default: every real rig)."""
    rigs, known = resolve_rigs(rig), known_rigs()
    checks: list[Check] = []
    any_real = False
    for r in rigs:
        entry, real = known[r]
        joints = list(entry.make_spec().joint_names)
        if real:
            any_real = True
            if entry.real_backend == WIDOWX.real_backend:
                checks += check_widowx(r, joints, calibration_dir)
            elif entry.real_backend == UR5E.real_backend:
                checks += check_ur(r, calibration_dir=calibration_dir)
        checks += check_calibration(r, entry.real_backend, joints, real, calibration_dir)
    if any_real:
        checks += check_realsense() + check_teleop()
    return checks + check_ros(env)
