"""Writing calibration/<rig>/camera_<name>.yaml with what was measured, stamped `measured: true`.

The file stays a camera_info_manager YAML (drivers/camera/calibration.py reads it). What each
calibration marks, so a reader can tell measured values from the nominal ones the rigs ship with:

- intrinsics (`postbc calibrate intrinsics`): top-level `measured: true`, `measured_date`,
  `reprojection_rms_px` (the camera_info part: camera_matrix, distortion, projection);
- extrinsics (`postbc calibrate hand-eye`): `extrinsics.measured: true`, `extrinsics.date`,
  `extrinsics.residual_mm`, `extrinsics.residual_deg`;
- latency (`postbc calibrate latency`): `latency.measured: true`, `latency.date`.

Sections not measured are kept as they are. The text is parsed back with the camera loader
(`calibration_from_dict`) before it is written: a file this writes always loads.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from postbc_ros.drivers.camera.base import CameraIntrinsics
from postbc_ros.drivers.camera.calibration import (
    CameraCalibrationError, calibration_from_dict, camera_calibration_path, rotmat_to_quat_xyzw,
)

IDENTITY_3X3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def today() -> str:
    return datetime.date.today().isoformat()


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a, float).ravel()]


def camera_file(rig: str, camera: str, calibration_dir: str | Path | None = None) -> Path:
    return camera_calibration_path(rig, camera, calibration_dir)


def _load(path: Path) -> dict:
    import yaml

    if not path.is_file():
        return {}
    d = yaml.safe_load(path.read_text())
    if not isinstance(d, dict):
        raise CameraCalibrationError(f"{path}: expected a camera YAML mapping; move it away and run again")
    return d


def update_camera_yaml(path: str | Path, camera: str, *, intrinsics: CameraIntrinsics | None = None, rms_px: float | None = None,
                       extrinsics: tuple[str, np.ndarray, str] | None = None, residual: tuple[float, float] | None = None,
                       latency: tuple[float, float, str] | None = None, date: str | None = None, tool: str = "") -> str:
    """The new YAML text for `path` with the given sections replaced and marked measured.
    extrinsics: (parent_frame, 4x4 parent <- camera optical frame, method); latency: (mean_s, std_s, method)."""
    import yaml

    path = Path(path)
    date = date or today()
    d = _load(path)
    if not d and intrinsics is None:
        raise CameraCalibrationError(f"{path}: no camera file yet; run `postbc calibrate intrinsics` for this camera first")
    if intrinsics is not None:
        i = intrinsics
        d.update({
            "image_width": int(i.width), "image_height": int(i.height), "camera_name": d.get("camera_name", camera),
            "camera_matrix": {"rows": 3, "cols": 3, "data": _floats(i.K)},
            "distortion_model": i.distortion_model,
            "distortion_coefficients": {"rows": 1, "cols": int(np.asarray(i.D).size), "data": _floats(i.D)},
            "rectification_matrix": {"rows": 3, "cols": 3, "data": IDENTITY_3X3},
            "projection_matrix": {"rows": 3, "cols": 4, "data": _floats(i.projection())},
        })
        d.setdefault("frame_id", f"{camera}_camera_optical_frame")
        d["measured"] = True
        d["measured_date"] = date
        if rms_px is not None:
            d["reprojection_rms_px"] = round(float(rms_px), 4)
    if extrinsics is not None:
        parent, T, method = extrinsics
        e = {"parent_frame": parent, "translation": _floats(T[:3, 3]), "rotation_xyzw": _floats(rotmat_to_quat_xyzw(T[:3, :3])),
             "method": method, "measured": True, "date": date}
        if residual is not None:
            e["residual_mm"], e["residual_deg"] = round(float(residual[0]), 3), round(float(residual[1]), 3)
        d["extrinsics"] = e
    if latency is not None:
        d["latency"] = {"mean_s": round(float(latency[0]), 5), "std_s": round(float(latency[1]), 5), "method": latency[2],
                        "measured": True, "date": date}
    calibration_from_dict(d, str(path))  # what the camera loader will say about it
    measured = [k for k, v in (("intrinsics", d.get("measured")), ("extrinsics", (d.get("extrinsics") or {}).get("measured")),
                               ("latency", (d.get("latency") or {}).get("measured"))) if v]
    nominal = [k for k in ("intrinsics", "extrinsics", "latency") if k not in measured]
    head = (f"# camera '{d.get('camera_name', camera)}' (camera_info_manager YAML + postbc_ros extrinsics/latency).\n"
            f"# Measured: {', '.join(measured) or 'nothing'}" + (f" (last: {tool}, {date})" if tool else "") + "."
            + (f" Still nominal: {', '.join(nominal)}." if nominal else "") + "\n# Written by `postbc calibrate` (docs/calibration.md).\n")
    return head + yaml.safe_dump(d, sort_keys=False, default_flow_style=None)


def write_or_print(path: Path, text: str, dry_run: bool, say=print) -> None:
    if dry_run:
        say(f"--dry-run: would write {path}:\n{text}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    say(f"wrote {path}")


def rig_dir(rig: str, calibration_dir: str | Path | None = None) -> Path:
    from postbc_ros.resources import calibration_root

    return (Path(calibration_dir) if calibration_dir else calibration_root()) / rig


__all__ = ["update_camera_yaml", "write_or_print", "camera_file", "rig_dir", "today"]
