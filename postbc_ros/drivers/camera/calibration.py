"""Camera calibration data: ``calibration/<rig>/camera_<name>.yaml``.

The file is a camera_info_manager / camera_calibration_parsers YAML (so ROS tools read it
unchanged: image_width, image_height, camera_name, camera_matrix, distortion_model,
distortion_coefficients, rectification_matrix, projection_matrix) plus two postbc_ros
sections: ``extrinsics`` (hand-eye: pose of the camera optical frame in `parent_frame`) and
``latency`` (measured capture-to-arrival delay, subtracted once by the camera driver when it
stamps from the arrival time), and ``measured`` (true when the intrinsics were calibrated on this
camera, e.g. by `postbc calibrate intrinsics`; false for nominal values -- a RealSense then keeps
its factory intrinsics). A file without ``measured`` counts as not measured.

Helpers compute them: `calibrate_intrinsics` (cv2.calibrateCamera on chessboard views) and
`calibrate_hand_eye` (cv2.calibrateHandEye).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from postbc_ros.drivers.camera.base import CameraIntrinsics


class CameraCalibrationError(ValueError):
    """Missing/malformed camera calibration; names the file, the field and the fix."""


@dataclass(frozen=True)
class Extrinsics:
    """Pose of the camera optical frame in `parent_frame` (hand-eye result)."""

    parent_frame: str
    translation: np.ndarray  # [x, y, z] m
    rotation_xyzw: np.ndarray  # unit quaternion
    method: str = ""

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform parent <- camera."""
        x, y, z, w = self.rotation_xyzw
        R = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = self.translation
        return T


@dataclass(frozen=True)
class Latency:
    mean_s: float
    std_s: float = 0.0
    method: str = ""


@dataclass(frozen=True)
class CameraCalibration:
    """Everything known about one camera of a rig."""

    name: str
    intrinsics: CameraIntrinsics
    frame_id: str = ""
    extrinsics: Extrinsics | None = None
    latency: Latency = field(default_factory=lambda: Latency(0.0))
    source: str = "<in-memory>"
    measured: bool = False  # intrinsics calibrated on this camera (else nominal: factory intrinsics win)


def rotmat_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion [x, y, z, w] (w >= 0)."""
    R = np.asarray(R, float)
    t = np.trace(R)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (R[j, i] + R[i, j]) / s
        q[k] = (R[k, i] + R[i, k]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


# ------------------------------------------------------------------------------------ YAML

def _matrix(d: dict, key: str, rows: int, cols: int, path: str) -> np.ndarray:
    m = d.get(key)
    if not isinstance(m, dict) or "data" not in m:
        raise CameraCalibrationError(f"{path}: field '{key}': missing; needs {{rows: {rows}, cols: {cols}, data: [...]}}")
    data = m["data"]
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise CameraCalibrationError(f"{path}: field '{key}.data': must be numbers, got {data!r}") from None
    if (cols is not None and arr.size != rows * cols) or not np.all(np.isfinite(arr)):
        raise CameraCalibrationError(f"{path}: field '{key}.data': needs {rows * cols if cols else 'some'} finite numbers, got {len(arr.ravel())}")
    return arr.reshape(rows, cols) if cols is not None else arr


def calibration_from_dict(d: dict, source: str) -> CameraCalibration:
    """Validate a parsed camera YAML."""
    if not isinstance(d, dict):
        raise CameraCalibrationError(f"{source}: expected a mapping")
    for key in ("image_width", "image_height"):
        v = d.get(key)
        if not isinstance(v, int) or v <= 0:
            raise CameraCalibrationError(f"{source}: field '{key}': must be a positive integer (pixels), got {v!r}")
    K = _matrix(d, "camera_matrix", 3, 3, source)
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise CameraCalibrationError(f"{source}: field 'camera_matrix': expected [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0")
    D = _matrix(d, "distortion_coefficients", 1, None, source).ravel() if "distortion_coefficients" in d else np.zeros(5)
    model = d.get("distortion_model", "plumb_bob")
    if model not in ("plumb_bob", "rational_polynomial", "equidistant"):
        raise CameraCalibrationError(f"{source}: field 'distortion_model': {model!r} is not one of plumb_bob, rational_polynomial, equidistant")
    intr = CameraIntrinsics(d["image_width"], d["image_height"], K, D, model)
    ext = None
    if d.get("extrinsics") is not None:
        e = d["extrinsics"]
        try:
            t = np.asarray(e["translation"], float)
            q = np.asarray(e["rotation_xyzw"], float)
            parent = str(e["parent_frame"])
        except (KeyError, TypeError, ValueError) as err:
            raise CameraCalibrationError(f"{source}: field 'extrinsics': needs parent_frame, translation [x,y,z], rotation_xyzw [x,y,z,w] ({err})") from None
        if t.shape != (3,) or q.shape != (4,) or abs(np.linalg.norm(q) - 1) > 1e-3:
            raise CameraCalibrationError(f"{source}: field 'extrinsics': translation needs 3 values and rotation_xyzw a unit quaternion")
        ext = Extrinsics(parent, t, q / np.linalg.norm(q), str(e.get("method", "")))
    lat = Latency(0.0)
    if d.get("latency") is not None:
        la = d["latency"]
        try:
            lat = Latency(float(la["mean_s"]), float(la.get("std_s", 0.0)), str(la.get("method", "")))
        except (KeyError, TypeError, ValueError):
            raise CameraCalibrationError(f"{source}: field 'latency': needs mean_s (seconds), optional std_s, method") from None
        if not 0 <= lat.mean_s < 5:
            raise CameraCalibrationError(f"{source}: field 'latency.mean_s': {lat.mean_s} s is implausible (expected 0 .. 5 s)")
    measured = d.get("measured", False)
    if not isinstance(measured, bool):
        raise CameraCalibrationError(f"{source}: field 'measured': must be true (intrinsics calibrated on this camera) "
                                     f"or false (nominal), got {measured!r}")
    return CameraCalibration(str(d.get("camera_name", "")), intr, str(d.get("frame_id", "")), ext, lat, source, measured)


def camera_calibration_path(rig: str, camera: str, calibration_dir: str | Path | None = None) -> Path:
    from postbc_ros.resources import calibration_root

    root = Path(calibration_dir) if calibration_dir is not None else calibration_root()
    return root / rig / f"camera_{camera}.yaml"


def load_camera_calibration(rig_or_path: str | Path, camera: str | None = None, calibration_dir: str | Path | None = None) -> CameraCalibration:
    """Load ``calibration/<rig>/camera_<camera>.yaml`` (or an explicit .yaml path)."""
    import yaml

    p = Path(rig_or_path)
    path = p if p.suffix in (".yaml", ".yml") else camera_calibration_path(str(rig_or_path), str(camera), calibration_dir)
    if not path.is_file():
        raise CameraCalibrationError(
            f"{path}: camera calibration not found. Create it with "
            "postbc_ros.drivers.camera.calibration.calibrate_intrinsics (chessboard images) + save_camera_calibration, "
            "or ROS camera_calibration (its YAML is accepted as is).")
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CameraCalibrationError(f"{path}: not valid YAML: {e}") from e
    return calibration_from_dict(d, str(path))


def save_camera_calibration(path: str | Path, cal: CameraCalibration) -> Path:
    """Write a camera_info_manager-compatible YAML (plus extrinsics / latency)."""
    import yaml

    intr = cal.intrinsics
    d = {
        "image_width": intr.width, "image_height": intr.height, "camera_name": cal.name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": [float(x) for x in intr.K.ravel()]},
        "distortion_model": intr.distortion_model,
        "distortion_coefficients": {"rows": 1, "cols": int(intr.D.size), "data": [float(x) for x in intr.D]},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": [float(x) for x in intr.projection().ravel()]},
        "frame_id": cal.frame_id,
        "measured": bool(cal.measured),
    }
    if cal.extrinsics is not None:
        e = cal.extrinsics
        d["extrinsics"] = {"parent_frame": e.parent_frame, "translation": [float(x) for x in e.translation],
                           "rotation_xyzw": [float(x) for x in e.rotation_xyzw], "method": e.method}
    d["latency"] = {"mean_s": cal.latency.mean_s, "std_s": cal.latency.std_s, "method": cal.latency.method}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=None))
    return path


# ---------------------------------------------------------------------------- calibrating

@dataclass(frozen=True)
class IntrinsicsResult:
    intrinsics: CameraIntrinsics
    rms: float  # reprojection error [px]
    used: list[int]  # indices of the images where the board was found
    rvecs: list[np.ndarray]
    tvecs: list[np.ndarray]


def chessboard_points(pattern: tuple[int, int], square: float) -> np.ndarray:
    """3-D inner-corner coordinates of a (cols, rows) chessboard in its own frame (z = 0)."""
    cols, rows = pattern
    pts = np.zeros((rows * cols, 3), np.float32)
    pts[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square
    return pts


def calibrate_intrinsics(images: Sequence[np.ndarray], pattern: tuple[int, int], square: float, min_views: int = 5) -> IntrinsicsResult:
    """cv2.calibrateCamera from chessboard views. `pattern` = inner corners (cols, rows),
    `square` = square size [m]. Images: grayscale or RGB uint8."""
    import cv2

    obj = chessboard_points(pattern, square)
    obj_pts, img_pts, used = [], [], []
    size = None
    for i, im in enumerate(images):
        gray = im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        size = gray.shape[::-1]
        found, corners = cv2.findChessboardCorners(gray, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not found:
            continue
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4))
        obj_pts.append(obj)
        img_pts.append(corners)
        used.append(i)
    if len(used) < min_views:
        raise CameraCalibrationError(f"calibrate_intrinsics: the {pattern[0]}x{pattern[1]} chessboard was found in only {len(used)} "
                                     f"of {len(images)} images; need {min_views}. Check `pattern` (inner corners) and lighting.")
    rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj_pts, img_pts, size, None, None)
    w, h = size
    return IntrinsicsResult(CameraIntrinsics(w, h, K, D.ravel()[:5], "plumb_bob"), float(rms), used, list(rvecs), list(tvecs))


def _park_martin(G: list[np.ndarray], C: list[np.ndarray]) -> np.ndarray:
    """AX = XB by Park & Martin (1994): rotation from the log-maps of all relative motions
    (closed form), translation by linear least squares. G: gripper->base, C: target->camera
    (4x4); returns X = camera->gripper."""
    import cv2

    alphas, betas, rows, rhs = [], [], [], []
    motions = []
    for i in range(len(G)):
        for j in range(i + 1, len(G)):
            A = np.linalg.inv(G[j]) @ G[i]
            B = C[j] @ np.linalg.inv(C[i])
            motions.append((A, B))
            alphas.append(cv2.Rodrigues(A[:3, :3])[0].ravel())
            betas.append(cv2.Rodrigues(B[:3, :3])[0].ravel())
    M = sum(np.outer(b, a) for a, b in zip(alphas, betas))
    w, V = np.linalg.eigh(M.T @ M)
    if np.min(w) < 1e-12:
        raise CameraCalibrationError("calibrate_hand_eye: the arm rotations are degenerate; use poses rotating about at least two different axes")
    R = V @ np.diag(w ** -0.5) @ V.T @ M.T
    for A, B in motions:
        rows.append(A[:3, :3] - np.eye(3))
        rhs.append(R @ B[:3, 3] - A[:3, 3])
    t = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R, t
    return X


def calibrate_hand_eye(R_gripper2base: Sequence[np.ndarray], t_gripper2base: Sequence[np.ndarray],
                       R_target2cam: Sequence[np.ndarray], t_target2cam: Sequence[np.ndarray],
                       eye_in_hand: bool = True, parent_frame: str | None = None) -> Extrinsics:
    """Hand-eye calibration from N arm poses and N views of a calibration target (e.g. the
    rvecs/tvecs of `calibrate_intrinsics` or cv2.solvePnP). Eye-in-hand: returns the camera
    pose in the gripper frame. Eye-to-hand (fixed camera): pass the same arm poses; the
    base->gripper inversion is done here and the result is the camera pose in the base frame.
    Uses cv2.calibrateHandEye (Park) where the OpenCV build has it, else the same Park & Martin
    method implemented above (OpenCV 5.0 wheels dropped the binding)."""
    import cv2

    n = len(R_gripper2base)
    if n < 3 or not (len(t_gripper2base) == len(R_target2cam) == len(t_target2cam) == n):
        raise CameraCalibrationError("calibrate_hand_eye: need >= 3 matching arm poses and target views, with distinct rotations")

    def T(R, t):
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = np.asarray(R, float), np.asarray(t, float).ravel()
        return m

    G = [T(R, t) for R, t in zip(R_gripper2base, t_gripper2base)]
    if not eye_in_hand:  # use base->gripper instead of gripper->base
        G = [np.linalg.inv(g) for g in G]
    C = [T(R, t) for R, t in zip(R_target2cam, t_target2cam)]
    if hasattr(cv2, "calibrateHandEye"):
        R, t = cv2.calibrateHandEye([g[:3, :3] for g in G], [g[:3, 3:] for g in G], [c[:3, :3] for c in C],
                                    [c[:3, 3:] for c in C], method=cv2.CALIB_HAND_EYE_PARK)
        X = T(R, t)
        method = "cv2.calibrateHandEye PARK"
    else:
        X = _park_martin(G, C)
        method = "Park & Martin (1994)"
    parent = parent_frame or ("gripper" if eye_in_hand else "base_link")
    return Extrinsics(parent, X[:3, 3].copy(), rotmat_to_quat_xyzw(X[:3, :3]), method)


def main(argv: list[str] | None = None) -> int:
    """`python -m postbc_ros.drivers.camera.calibration IMAGES... --pattern 9x6 --square 0.025
    --out calibration/<rig>/camera_<name>.yaml`: chessboard intrinsics -> camera YAML."""
    import argparse

    import cv2

    ap = argparse.ArgumentParser(prog="python -m postbc_ros.drivers.camera.calibration",
                                 description="Intrinsics from chessboard images (cv2.calibrateCamera) written as a camera YAML.")
    ap.add_argument("images", nargs="+", help="image files showing the chessboard (>= 5 views, varied tilt)")
    ap.add_argument("--pattern", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    ap.add_argument("--square", type=float, required=True, help="square size [m]")
    ap.add_argument("--name", default="scene", help="camera name (camera_name in the YAML)")
    ap.add_argument("--frame-id", default="", help="optical frame id (default <name>_camera_optical_frame)")
    ap.add_argument("--out", required=True, help="output YAML, e.g. calibration/widowx/camera_scene.yaml")
    args = ap.parse_args(argv)
    try:
        cols, rows = (int(x) for x in args.pattern.lower().split("x"))
    except ValueError:
        ap.error(f"--pattern must look like 9x6, got {args.pattern!r}")
    images = []
    for p in args.images:
        im = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        if im is None:
            ap.error(f"cannot read image {p}")
        images.append(im)
    res = calibrate_intrinsics(images, (cols, rows), args.square)
    out = Path(args.out)
    old_ext, old_lat = None, Latency(0.0)
    if out.is_file():  # keep extrinsics / latency of an existing file
        old = load_camera_calibration(out)
        old_ext, old_lat = old.extrinsics, old.latency
    save_camera_calibration(out, CameraCalibration(args.name, res.intrinsics, args.frame_id or f"{args.name}_camera_optical_frame",
                                                   old_ext, old_lat, str(out), measured=True))
    print(f"{out}: fx={res.intrinsics.fx:.2f} fy={res.intrinsics.fy:.2f} cx={res.intrinsics.cx:.2f} cy={res.intrinsics.cy:.2f} "
          f"rms={res.rms:.3f} px from {len(res.used)}/{len(images)} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
