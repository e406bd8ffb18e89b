"""Marker pose recovery on synthetic warps: a marker printed at a known pose is projected into an
image (cv2.warpPerspective of the generated marker), detected and its pose solved; the recovered
pose in the base frame must match the known one. Plus the tracker's visibility / age rules and
the camera-geometry reader against the drivers' calibration loader."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from postbc_ros.perception import (
    CameraGeometry, CameraGeometryError, MarkerConfig, MarkerDetector, MarkerPerception, MarkerTracker, load_camera_geometry,
)
from postbc_ros.perception.markers import aruco_dictionary, marker_object_points

W, H, F = 640, 480, 600.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
SIZE = 0.04  # black square side [m]
POS_TOL = 0.002  # [m] at 0.4-0.6 m with ~50 px markers
ROT_TOL_DEG = 3.0


FACING = np.diag([1.0, -1.0, -1.0])  # a print facing the camera: its z (out of the print) = camera -z


def _rot(rx: float, ry: float, rz: float) -> np.ndarray:
    """A marker facing the camera, tilted by the rotation vector (rx, ry, rz) in its own frame."""
    return FACING @ cv2.Rodrigues(np.array([rx, ry, rz], float))[0]


def _camera_in_base() -> np.ndarray:
    """A camera 0.6 m above the base origin's +x side, looking down at 45 deg (optical frame)."""
    T = np.eye(4)
    z = np.array([-1.0, 0.0, -1.0]) / math.sqrt(2)  # forward
    x = np.array([0.0, -1.0, 0.0])  # right
    T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    T[:3, 3] = [0.7, 0.05, 0.45]
    return T


def _render_marker(marker_id: int, R_cam: np.ndarray, t_cam: np.ndarray) -> np.ndarray:
    """Image of a white-bordered marker at pose (R_cam, t_cam) in the camera frame (grey background)."""
    px, cells, margin = 120, 6, 1
    img = cv2.aruco.generateImageMarker(aruco_dictionary("DICT_4X4_50"), marker_id, px, borderBits=1)
    pad = px // cells * margin
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    n = img.shape[0]
    card = SIZE * n / px  # side of the card including the white margin [m]
    h = card / 2
    obj = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]])  # image corners of the card
    proj, _ = cv2.projectPoints(obj, cv2.Rodrigues(R_cam)[0], t_cam, K, np.zeros(5))
    # pixel centres at integers (OpenCV): the print's outer edges lie at -0.5 and n - 0.5
    src = np.float32([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]])
    M = cv2.getPerspectiveTransform(src, proj.reshape(4, 2).astype(np.float32))
    out = cv2.warpPerspective(img, M, (W, H), flags=cv2.INTER_LINEAR, borderValue=128)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)


@pytest.mark.parametrize("pose", [
    ((0.0, 0.0, 0.5), (0.1, -0.05, 0.2)),  # (exactly fronto-parallel and pixel-aligned edges carry no
    # sub-pixel information in a synthetic warp: not a pose a real or rendered camera produces)
    ((0.05, -0.03, 0.45), (0.5, 0.2, 0.3)),
    ((-0.08, 0.06, 0.6), (-0.6, 0.1, -1.2)),
    ((0.02, 0.05, 0.4), (0.3, -0.5, 2.5)),
])
def test_known_pose_is_recovered_in_the_base_frame(pose):
    t_cam, rvec = np.array(pose[0]), pose[1]
    R_cam = _rot(*rvec)
    T_base_cam = _camera_in_base()
    geometry = CameraGeometry(W, H, K, np.zeros(5), T_base_cam)
    perception = MarkerPerception(geometry, [MarkerConfig("object", 7, SIZE)])
    obs = perception.process(_render_marker(7, R_cam, t_cam), stamp=1.0)["object"]
    assert obs.visible and obs.age_s == 0.0
    want_pos = T_base_cam[:3, :3] @ t_cam + T_base_cam[:3, 3]
    assert np.linalg.norm(obs.position - want_pos) < POS_TOL, (obs.position, want_pos)
    dR = obs.rotation.T @ (T_base_cam[:3, :3] @ R_cam)
    angle = math.degrees(math.acos(np.clip((np.trace(dR) - 1) / 2, -1, 1)))
    assert angle < ROT_TOL_DEG


def test_unconfigured_and_absent_markers_are_not_reported():
    geometry = CameraGeometry(W, H, K, np.zeros(5), np.eye(4))
    perception = MarkerPerception(geometry, [MarkerConfig("goal", 1, SIZE)])
    obs = perception.process(_render_marker(3, FACING, np.array([0.0, 0.0, 0.5])), 0.0)
    assert obs["goal"].visible is False and obs["goal"].position is None and obs["goal"].age_s == math.inf
    assert MarkerDetector().detect(_render_marker(3, FACING, np.array([0.0, 0.0, 0.5]))).keys() == {3}


def test_a_marker_that_leaves_the_view_is_flagged_and_ages_not_frozen():
    tracker = MarkerTracker([MarkerConfig("object", 0, SIZE)])
    seen = {0: (np.array([0.3, 0.0, 0.05]), np.eye(3))}
    first = tracker.update(10.0, seen)["object"]
    gone = tracker.update(10.25, {})["object"]
    later = tracker.update(10.75, {})["object"]
    assert first.visible and first.age_s == 0.0
    assert not gone.visible and gone.age_s == pytest.approx(0.25) and np.allclose(gone.position, [0.3, 0.0, 0.05])
    assert not later.visible and later.age_s == pytest.approx(0.75)
    back = tracker.update(11.0, {0: (np.array([0.31, 0.0, 0.05]), np.eye(3))})["object"]
    assert back.visible and back.age_s == 0.0 and back.position[0] == pytest.approx(0.31)
    with pytest.raises(ValueError, match="capture order"):
        tracker.update(10.9, {})


def test_wrong_image_size_and_wrist_camera_without_arm_pose_are_refused():
    geometry = CameraGeometry(W, H, K, np.zeros(5), np.eye(4), parent_frame="gripper_link", source="cam.yaml")
    perception = MarkerPerception(geometry, [MarkerConfig("object", 0, SIZE)])
    with pytest.raises(ValueError, match="320x240 but the calibration"):
        perception.process(np.zeros((240, 320, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="pass T_base_parent"):
        perception.process(np.zeros((H, W, 3), np.uint8), 0.0)


@pytest.mark.parametrize("rig", ["widowx", "widowx_twin", "ur5e", "ur5e_twin"])
def test_geometry_reader_agrees_with_the_drivers_calibration_loader(rig):
    from postbc_ros.drivers.camera.calibration import load_camera_calibration

    cal = load_camera_calibration(rig, "scene")
    a, b = load_camera_geometry(rig, "scene"), CameraGeometry.from_calibration(cal)
    assert (a.width, a.height, a.parent_frame) == (b.width, b.height, b.parent_frame)
    assert np.allclose(a.K, b.K) and np.allclose(a.D, b.D) and np.allclose(a.T_parent_camera, b.T_parent_camera)


def test_a_malformed_calibration_names_file_and_field(tmp_path):
    p = tmp_path / "camera_scene.yaml"
    p.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 0, 0]}\n")
    with pytest.raises(CameraGeometryError, match="camera_scene.yaml: field 'camera_matrix.data'"):
        load_camera_geometry(p)


def test_object_points_follow_aruco_corner_order():
    pts = marker_object_points(0.02)
    assert np.allclose(pts[0], [-0.01, 0.01, 0]) and np.allclose(pts[2], [0.01, -0.01, 0])
