"""Camera calibration files and helpers (chessboard intrinsics, hand-eye)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from postbc_ros.drivers.camera.calibration import (
    CameraCalibration, CameraCalibrationError, Extrinsics, Latency, calibrate_hand_eye, calibrate_intrinsics,
    load_camera_calibration, rotmat_to_quat_xyzw, save_camera_calibration,
)
from postbc_ros.drivers.camera.base import CameraIntrinsics

RIGS = ["widowx", "ur5e", "widowx_twin", "ur5e_twin"]


def rot(axis: str, a: float) -> np.ndarray:
    import cv2

    v = {"x": [a, 0, 0], "y": [0, a, 0], "z": [0, 0, a]}[axis]
    return cv2.Rodrigues(np.array(v, float))[0]


def render_chessboard(K, R, t, pattern=(9, 6), square=0.025, size=(640, 480)) -> np.ndarray:
    """Synthetic view of a chessboard (inner corners `pattern`) at pose (R, t) in the camera."""
    import cv2

    px = 20  # texture pixels per square
    cols, rows = pattern[0] + 1, pattern[1] + 1
    margin = px
    tex = np.full((rows * px + 2 * margin, cols * px + 2 * margin), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                tex[margin + r * px: margin + (r + 1) * px, margin + c * px: margin + (c + 1) * px] = 0
    s = square / px
    u0 = margin + px  # texture pixel of the first inner corner (board origin)
    A = np.array([[s, 0, -u0 * s], [0, s, -u0 * s], [0, 0, 1]])
    H = K @ np.column_stack([R[:, 0], R[:, 1], t]) @ A
    return cv2.warpPerspective(tex, H, size, flags=cv2.INTER_AREA, borderValue=200)


def test_calibrate_intrinsics_recovers_synthetic_camera():
    K = np.array([[600.0, 0, 322.0], [0, 605.0, 238.0], [0, 0, 1]])
    views = []
    for ax, ay, tx, ty in [(0.0, 0.0, -0.1, -0.07), (0.35, 0.0, -0.12, -0.05), (-0.35, 0.1, -0.1, -0.1), (0.0, 0.4, -0.15, -0.08),
                           (0.1, -0.4, -0.05, -0.08), (0.3, 0.3, -0.1, -0.1), (-0.25, -0.3, -0.12, -0.06)]:
        R = rot("x", ax) @ rot("y", ay)
        views.append(render_chessboard(K, R, np.array([tx, ty, 0.55])))
    views.append(np.full((480, 640), 128, np.uint8))  # a view without the board is skipped
    res = calibrate_intrinsics(views, (9, 6), 0.025)
    assert res.used == list(range(7))
    assert res.rms < 0.5
    assert res.intrinsics.fx == pytest.approx(600.0, rel=0.01) and res.intrinsics.fy == pytest.approx(605.0, rel=0.01)
    assert res.intrinsics.cx == pytest.approx(322.0, abs=4) and res.intrinsics.cy == pytest.approx(238.0, abs=4)
    with pytest.raises(CameraCalibrationError, match="found in only 0 of 1 images"):
        calibrate_intrinsics([views[-1]], (9, 6), 0.025)


def test_hand_eye_recovers_camera_mount():
    rng = np.random.default_rng(3)
    X = np.eye(4)
    X[:3, :3] = rot("z", 0.3) @ rot("x", -0.2)
    X[:3, 3] = [0.03, -0.01, 0.06]  # camera in gripper
    target = np.eye(4)
    target[:3, 3] = [0.4, 0.1, 0.0]
    Rg, tg, Rt, tt = [], [], [], []
    for _ in range(8):
        A = np.eye(4)
        A[:3, :3] = rot("x", rng.uniform(-0.5, 0.5)) @ rot("y", rng.uniform(-0.5, 0.5)) @ rot("z", rng.uniform(-1, 1))
        A[:3, 3] = rng.uniform([0.2, -0.2, 0.2], [0.4, 0.2, 0.4])
        B = np.linalg.inv(X) @ np.linalg.inv(A) @ target  # target in camera
        Rg.append(A[:3, :3]), tg.append(A[:3, 3]), Rt.append(B[:3, :3]), tt.append(B[:3, 3])
    ext = calibrate_hand_eye(Rg, tg, Rt, tt, eye_in_hand=True, parent_frame="ee_gripper_link")
    np.testing.assert_allclose(ext.matrix(), X, atol=1e-4)


def test_quaternion_round_trip():
    for R in [np.eye(3), rot("x", np.pi), rot("y", 2.5) @ rot("z", -1.0), rot("z", np.pi)]:
        q = rotmat_to_quat_xyzw(R)
        np.testing.assert_allclose(Extrinsics("a", np.zeros(3), q).matrix()[:3, :3], R, atol=1e-12)


@pytest.mark.parametrize("rig", RIGS)
@pytest.mark.parametrize("cam", ["scene", "wrist"])
def test_shipped_calibrations_load(rig, cam):
    c = load_camera_calibration(rig, cam)
    assert (c.intrinsics.width, c.intrinsics.height) == (640, 480) and c.extrinsics is not None
    assert c.measured is False  # nominal (real rigs) or model-derived (twins): a RealSense keeps its factory intrinsics


def test_save_load_round_trip(tmp_path: Path):
    cal = CameraCalibration("wrist", CameraIntrinsics.from_pinhole(320, 240, 300, 301, 160, 120, D=[0.1, 0.01, 0, 0, 0]),
                            "wrist_optical", Extrinsics("gripper", np.array([0.01, 0.02, 0.03]), np.array([0, 0, 0, 1.0]), "test"),
                            Latency(0.031, 0.002, "led"), measured=True)
    p = save_camera_calibration(tmp_path / "rig" / "camera_wrist.yaml", cal)
    back = load_camera_calibration("rig", "wrist", calibration_dir=tmp_path)
    np.testing.assert_allclose(back.intrinsics.K, cal.intrinsics.K)
    assert back.latency == cal.latency and back.frame_id == "wrist_optical" and back.measured is True
    d = yaml.safe_load(p.read_text())  # camera_info_manager field names
    assert {"image_width", "camera_matrix", "distortion_coefficients", "projection_matrix", "rectification_matrix"} <= set(d)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(image_width=0), "image_width"),
    (lambda d: d["camera_matrix"].update(data=[1, 2, 3]), "camera_matrix.data"),
    (lambda d: d.update(distortion_model="fisheye9000"), "distortion_model"),
    (lambda d: d["extrinsics"].update(rotation_xyzw=[0, 0, 0, 2]), "extrinsics"),
    (lambda d: d["latency"].update(mean_s=30), "latency.mean_s"),
    (lambda d: d.update(measured="yes"), "measured"),
])
def test_bad_camera_yaml_named(tmp_path: Path, mutate, field):
    src = Path(__file__).resolve().parents[2] / "calibration/widowx/camera_scene.yaml"
    d = yaml.safe_load(src.read_text())
    mutate(d)
    p = tmp_path / "camera_x.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(CameraCalibrationError, match=rf"{p}: field '{field}'"):
        load_camera_calibration(p)


def test_missing_camera_file(tmp_path: Path):
    with pytest.raises(CameraCalibrationError, match=r"rig/camera_top\.yaml: camera calibration not found.*calibrate_intrinsics"):
        load_camera_calibration("rig", "top", calibration_dir=tmp_path)


def test_hand_eye_fixed_camera():
    """Eye-to-hand: a fixed camera looks at a target carried by the gripper."""
    rng = np.random.default_rng(5)
    X = np.eye(4)  # camera in base
    X[:3, :3] = rot("y", 2.5) @ rot("z", 0.4)
    X[:3, 3] = [0.8, -0.1, 0.5]
    target_in_gripper = np.eye(4)
    target_in_gripper[:3, 3] = [0.0, 0.0, 0.05]
    Rg, tg, Rt, tt = [], [], [], []
    for _ in range(8):
        A = np.eye(4)
        A[:3, :3] = rot("x", rng.uniform(-0.6, 0.6)) @ rot("y", rng.uniform(-0.6, 0.6)) @ rot("z", rng.uniform(-1, 1))
        A[:3, 3] = rng.uniform([0.2, -0.2, 0.2], [0.4, 0.2, 0.4])
        B = np.linalg.inv(X) @ A @ target_in_gripper
        Rg.append(A[:3, :3]), tg.append(A[:3, 3]), Rt.append(B[:3, :3]), tt.append(B[:3, 3])
    ext = calibrate_hand_eye(Rg, tg, Rt, tt, eye_in_hand=False)
    assert ext.parent_frame == "base_link"
    np.testing.assert_allclose(ext.matrix(), X, atol=1e-4)


def test_command_line_helper_writes_yaml(tmp_path: Path):
    import cv2

    from postbc_ros.drivers.camera.calibration import main

    K = np.array([[500.0, 0, 320.0], [0, 500.0, 240.0], [0, 0, 1]])
    files = []
    for i, (ax, ay) in enumerate([(0, 0), (0.3, 0), (-0.3, 0.1), (0, 0.35), (0.2, -0.3), (-0.2, -0.2)]):
        f = tmp_path / f"v{i}.png"
        cv2.imwrite(str(f), render_chessboard(K, rot("x", ax) @ rot("y", ay), np.array([-0.1, -0.07, 0.5])))
        files.append(str(f))
    out = tmp_path / "rig" / "camera_scene.yaml"
    assert main(files + ["--square", "0.025", "--out", str(out)]) == 0
    cal = load_camera_calibration(out)
    assert cal.intrinsics.fx == pytest.approx(500.0, rel=0.01) and cal.frame_id == "scene_camera_optical_frame"
    assert cal.measured is True  # calibrated on this camera: overrides a RealSense's factory intrinsics


def test_measured_flag_absent_means_nominal(tmp_path: Path):
    """A camera_info_manager YAML from another tool has no `measured`: it counts as nominal."""
    src = Path(__file__).resolve().parents[2] / "calibration/widowx/camera_scene.yaml"
    d = yaml.safe_load(src.read_text())
    del d["measured"]
    p = tmp_path / "camera_x.yaml"
    p.write_text(yaml.safe_dump(d))
    assert load_camera_calibration(p).measured is False
    d["measured"] = True
    p.write_text(yaml.safe_dump(d))
    assert load_camera_calibration(p).measured is True
