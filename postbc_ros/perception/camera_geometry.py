"""What marker pose estimation needs to know about a camera: pinhole intrinsics (K, distortion,
image size) and the pose of its optical frame in the frame poses are wanted in (the arm's base).

`load_camera_geometry(rig, camera)` reads the same ``calibration/<rig>/camera_<name>.yaml`` files as
postbc_ros.drivers.camera.calibration (camera_info_manager YAML + `extrinsics`). It cannot import
that module: drivers import the sim (the MuJoCo backends) and the sim's `markers` observation
runs this package, so the import would close a cycle; tests/perception checks that both readers
agree on every shipped file. A real cell that already holds a driver `CameraCalibration` passes
it to `CameraGeometry.from_calibration`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the frame marker poses are expressed in (the parent frame of a fixed scene camera's extrinsics)
BASE_FRAME = "base_link"


class CameraGeometryError(ValueError):
    """Missing or malformed camera geometry; names the file, the field and the fix."""


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """Unit quaternion [x, y, z, w] -> 3x3 rotation matrix."""
    x, y, z, w = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


@dataclass(frozen=True)
class CameraGeometry:
    """Intrinsics of the images at width x height and `T_parent_camera` (4x4: parent <- camera
    optical frame, x right, y down, z forward). parent_frame is BASE_FRAME for a fixed camera, the
    gripper frame for a wrist camera (then the caller passes the arm's base <- gripper pose)."""

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray
    T_parent_camera: np.ndarray
    parent_frame: str = BASE_FRAME
    source: str = "<in-memory>"

    def scaled(self, width: int, height: int) -> "CameraGeometry":
        """The same camera with its images resized to width x height."""
        K = self.K.copy()
        K[0] *= width / self.width
        K[1] *= height / self.height
        return CameraGeometry(int(width), int(height), K, self.D.copy(), self.T_parent_camera.copy(),
                              self.parent_frame, self.source)

    @classmethod
    def from_calibration(cls, cal) -> "CameraGeometry":
        """From a postbc_ros.drivers.camera.calibration.CameraCalibration (with extrinsics)."""
        if cal.extrinsics is None:
            raise CameraGeometryError(f"{cal.source}: field 'extrinsics': missing; marker poses need the camera's "
                                      "hand-eye pose (calibrate_hand_eye)")
        i = cal.intrinsics
        return cls(int(i.width), int(i.height), np.asarray(i.K, float), np.asarray(i.D, float),
                   cal.extrinsics.matrix(), cal.extrinsics.parent_frame, cal.source)


def _numbers(d: dict, key: str, n: int | None, path: str) -> np.ndarray:
    m = d.get(key)
    data = m.get("data") if isinstance(m, dict) else None
    try:
        arr = np.asarray(data, float).ravel()
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if data is None or (n is not None and arr.size != n) or not np.all(np.isfinite(arr)):
        raise CameraGeometryError(f"{path}: field '{key}.data': needs {n or 'some'} finite numbers, got {data!r}")
    return arr


def load_camera_geometry(rig_or_path: str | Path, camera: str | None = None,
                         calibration_dir: str | Path | None = None) -> CameraGeometry:
    """Read ``calibration/<rig>/camera_<camera>.yaml`` (or an explicit .yaml path)."""
    import yaml

    p = Path(rig_or_path)
    if p.suffix in (".yaml", ".yml"):
        path = p
    else:
        from postbc_ros.resources import calibration_root

        root = Path(calibration_dir) if calibration_dir is not None else calibration_root()
        path = root / str(rig_or_path) / f"camera_{camera}.yaml"
    if not path.is_file():
        raise CameraGeometryError(f"{path}: camera calibration not found; measure it with `postbc calibrate "
                                  "intrinsics` and `postbc calibrate hand-eye` (docs/calibration.md)")
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CameraGeometryError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(d, dict):
        raise CameraGeometryError(f"{path}: expected a mapping")
    for key in ("image_width", "image_height"):
        if not isinstance(d.get(key), int) or d[key] <= 0:
            raise CameraGeometryError(f"{path}: field '{key}': must be a positive integer (pixels), got {d.get(key)!r}")
    K = _numbers(d, "camera_matrix", 9, str(path)).reshape(3, 3)
    D = _numbers(d, "distortion_coefficients", None, str(path)) if "distortion_coefficients" in d else np.zeros(5)
    if d.get("distortion_model", "plumb_bob") not in ("plumb_bob", "rational_polynomial"):
        raise CameraGeometryError(f"{path}: field 'distortion_model': {d.get('distortion_model')!r}: marker poses "
                                  "support plumb_bob and rational_polynomial (cv2.solvePnP's model)")
    e = d.get("extrinsics")
    try:
        t = np.asarray(e["translation"], float)
        q = np.asarray(e["rotation_xyzw"], float)
        parent = str(e["parent_frame"])
    except (KeyError, TypeError, ValueError):
        raise CameraGeometryError(f"{path}: field 'extrinsics': needs parent_frame, translation [x,y,z], rotation_xyzw "
                                  "[x,y,z,w] (the camera's hand-eye pose; calibrate_hand_eye)") from None
    if t.shape != (3,) or q.shape != (4,) or abs(np.linalg.norm(q) - 1) > 1e-3:
        raise CameraGeometryError(f"{path}: field 'extrinsics': translation needs 3 values and rotation_xyzw a unit quaternion")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quat_xyzw_to_matrix(q), t
    return CameraGeometry(d["image_width"], d["image_height"], K, D, T, parent, str(path))
