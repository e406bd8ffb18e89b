"""Doctor's calibration checks: files present, valid and `measured: true` on a real rig."""
from __future__ import annotations

import shutil

import yaml

from postbc_ros.doctor.calibration import check_calibration
from postbc_ros.resources import calibration_root
from postbc_ros.robots import get_robot_spec

WX = list(get_robot_spec("widowx").joint_names)
UR = list(get_robot_spec("ur5e").joint_names)


def copy_rig(tmp_path, rig):
    shutil.copytree(calibration_root() / rig, tmp_path / rig)
    return tmp_path / rig


def stamp(path, **fields):
    d = yaml.safe_load(path.read_text())
    d.update(fields)
    path.write_text(yaml.safe_dump(d, sort_keys=False))


def by_name(checks):
    return {c.name: c for c in checks}


def test_nominal_files_are_flagged_with_the_calibrate_command(tmp_path):
    copy_rig(tmp_path, "widowx")
    c = by_name(check_calibration("widowx", "widowx", WX, True, tmp_path))
    assert c["widowx: safety.yaml"].ok
    m = c["widowx: motors.yaml"]
    assert not m.ok and "motors.yaml" in m.detail and "measured: true" in m.detail
    assert m.fix.startswith("postbc calibrate widowx-offsets")
    for cam in ("scene", "wrist"):
        k = c[f"widowx: camera_{cam}.yaml"]
        assert not k.ok and "postbc calibrate intrinsics" in k.fix and f"camera_{cam}.yaml" in k.fix


def test_measured_files_pass_and_one_left_nominal_is_named(tmp_path):
    d = copy_rig(tmp_path, "widowx")
    for name in ("motors.yaml", "camera_scene.yaml"):
        stamp(d / name, measured=True)
    c = by_name(check_calibration("widowx", "widowx", WX, True, tmp_path))
    assert c["widowx: motors.yaml"].ok and c["widowx: camera_scene.yaml"].ok
    assert [n for n, x in c.items() if not x.ok] == ["widowx: camera_wrist.yaml"]


def test_missing_and_invalid_files_are_named(tmp_path):
    d = copy_rig(tmp_path, "widowx")
    (d / "motors.yaml").unlink()
    stamp(d / "camera_wrist.yaml", image_width=-1)
    c = by_name(check_calibration("widowx", "widowx", WX, True, tmp_path))
    assert not c["widowx: motors.yaml"].ok and "missing" in c["widowx: motors.yaml"].detail
    w = c["widowx: camera_wrist.yaml"]
    assert not w.ok and "image_width" in w.detail


def test_ur_host_must_be_set(tmp_path):
    d = copy_rig(tmp_path, "ur5e")
    r = by_name(check_calibration("ur5e", "ur_rtde", UR, True, tmp_path))["ur5e: rtde.yaml"]
    assert not r.ok and "SET_ME" in r.detail and "teach pendant" in r.fix
    (d / "rtde.yaml").write_text("host: 192.168.1.50\n")
    r = by_name(check_calibration("ur5e", "ur_rtde", UR, True, tmp_path))["ur5e: rtde.yaml"]
    assert r.ok and r.detail.endswith("host 192.168.1.50")


def test_a_twin_rig_needs_no_measured_stamp():
    c = check_calibration("widowx_twin", None, WX, False)
    assert c and all(x.ok for x in c), [x.line() for x in c if not x.ok]
