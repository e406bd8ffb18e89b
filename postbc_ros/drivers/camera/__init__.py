"""Camera backends behind `Camera`, chosen by name with `make_camera(backend, **params)`:
``realsense`` (librealsense), ``opencv`` (cv2.VideoCapture), ``sim`` (MuJoCo twin render).
`calibration=` (a CameraCalibration, or (rig, camera) to load calibration/<rig>/camera_<camera>.yaml)
supplies the measured latency and intrinsics: a RealSense keeps its factory intrinsics unless the
file's intrinsics are `measured: true`."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from postbc_ros.drivers.camera.base import Camera, CameraError, CameraIntrinsics, Frame

BACKENDS = {
    "realsense": "postbc_ros.drivers.camera.realsense:RealSenseCamera",
    "opencv": "postbc_ros.drivers.camera.opencv:OpenCVCamera",
    "sim": "postbc_ros.drivers.camera.sim:SimCamera",
}

if TYPE_CHECKING:
    from postbc_ros.drivers.camera.calibration import CameraCalibration


def __getattr__(name: str):
    # calibration is imported lazily so `python -m postbc_ros.drivers.camera.calibration` runs cleanly
    if name in ("CameraCalibration", "CameraCalibrationError", "load_camera_calibration"):
        from postbc_ros.drivers.camera import calibration

        return getattr(calibration, name)
    raise AttributeError(name)


def make_camera(backend: str, calibration: "CameraCalibration | tuple[str, str] | None" = None, **params: Any) -> Camera:
    """Build (not start) a camera backend; calibration fills `latency` and `intrinsics` unless
    given explicitly (the sim camera derives intrinsics from the model; a RealSense uses its
    factory intrinsics unless the file's are measured)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown camera backend {backend!r}; choose one of {sorted(BACKENDS)}")
    mod, cls = BACKENDS[backend].split(":")
    klass = getattr(importlib.import_module(mod), cls)
    if isinstance(calibration, tuple):
        from postbc_ros.drivers.camera.calibration import load_camera_calibration

        calibration = load_camera_calibration(*calibration)
    if calibration is not None:
        params.setdefault("latency", calibration.latency.mean_s)
        if backend == "opencv" or (backend == "realsense" and calibration.measured):
            params.setdefault("intrinsics", calibration.intrinsics)
    return klass(**params)


__all__ = ["Camera", "CameraError", "CameraIntrinsics", "Frame", "CameraCalibration", "CameraCalibrationError",
           "load_camera_calibration", "make_camera", "BACKENDS"]
