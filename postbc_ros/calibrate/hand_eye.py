"""Hand-eye calibration from a capture folder: arm poses + images of the ChArUco board.

Capture folder (written by `postbc calibrate hand-eye-capture`, or by hand):

    <dir>/poses.json   {"format": "postbc-hand-eye-capture", "version": 1, "robot": <robot name>,
                        "mode": "eye_in_hand" | "eye_to_hand", "board": {BoardSpec fields},
                        "samples": [{"image": "000.png", "q": [6 joint angles, rad]}, ...]}
    <dir>/000.png ...  the camera image of each sample (taken with the arm at rest at `q`)

A sample may give the tool pose directly instead of `q`: "tool_pose": {"translation": [x,y,z],
"rotation_xyzw": [x,y,z,w]} (base <- tool). Otherwise the tool pose is the robot's forward
kinematics (`RobotSpec.fk`, the same FK the safety filter bounds the tool point with).

Solve: per sample the board pose in the camera (solvePnP on the ChArUco corners, with the rig's
intrinsics) and the tool pose in the base; then cv2.calibrateHandEye. Eye-in-hand (camera on
the wrist): the gripper->base poses as they are; result = camera in the tool frame. Eye-to-hand
(camera fixed, board held by the gripper): OpenCV's documented trick, base->gripper poses (the
inverses) in place of gripper->base; result = camera in the base frame. The residual is how much
the thing that must not move (the board in the base, eye-in-hand; the board in the gripper,
eye-to-hand) moves across the samples when mapped through the result.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from postbc_ros.calibrate.board import BoardSpec, board_pose, detect

CAPTURE_FORMAT = "postbc-hand-eye-capture"
CAPTURE_VERSION = 1
MODES = ("eye_in_hand", "eye_to_hand")
MIN_SAMPLES = 5  # fewer arm poses leave the AX = XB rotation poorly conditioned
MIN_ROTATION_SPREAD_DEG = 10.0  # the tool must rotate at least this much between some samples
METHODS = ("PARK", "TSAI", "HORAUD", "ANDREFF", "DANIILIDIS")  # cv2.CALIB_HAND_EYE_<name>


class HandEyeError(ValueError):
    """A malformed capture, too few/degenerate samples; names the file/field and the fix."""


@dataclass(frozen=True)
class Sample:
    tool_in_base: np.ndarray  # 4x4 base <- tool
    board_in_cam: np.ndarray  # 4x4 camera <- board
    name: str = ""
    pnp_rms_px: float = 0.0


@dataclass(frozen=True)
class HandEyeResult:
    mode: str
    X: np.ndarray  # eye_in_hand: tool <- camera; eye_to_hand: base <- camera
    residual_mm: float  # RMS distance of the fixed thing's position from its mean across samples
    residual_deg: float  # RMS angle of its orientation from the mean
    n_samples: int
    method: str
    per_sample_mm: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        what = "camera in the tool frame" if self.mode == "eye_in_hand" else "camera in the base frame"
        return (f"{what}: translation {np.round(self.X[:3, 3], 4).tolist()} m; residual (board pose consistency over "
                f"{self.n_samples} samples) {self.residual_mm:.2f} mm / {self.residual_deg:.2f} deg ({self.method})")


def pose_matrix(translation, rotation_xyzw) -> np.ndarray:
    x, y, z, w = np.asarray(rotation_xyzw, float) / np.linalg.norm(rotation_xyzw)
    T = np.eye(4)
    T[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    T[:3, 3] = np.asarray(translation, float)
    return T


def _angle_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def _mean_rotation(Rs: Sequence[np.ndarray]) -> np.ndarray:
    U, _s, Vt = np.linalg.svd(sum(Rs))
    R = U @ Vt
    if np.linalg.det(R) < 0:
        R = U @ np.diag([1, 1, -1]) @ Vt
    return R


def consistency(Ts: Sequence[np.ndarray]) -> tuple[float, float, np.ndarray]:
    """(RMS position spread [mm], RMS rotation spread [deg], per-pose distance [mm]) of poses
    that should all be the same."""
    t = np.array([T[:3, 3] for T in Ts])
    d = np.linalg.norm(t - t.mean(0), axis=1) * 1000
    Rm = _mean_rotation([T[:3, :3] for T in Ts])
    ang = np.array([_angle_deg(Rm.T @ T[:3, :3]) for T in Ts])
    return float(np.sqrt(np.mean(d ** 2))), float(np.sqrt(np.mean(ang ** 2))), d


def solve_hand_eye(samples: Sequence[Sample], mode: str, method: str = "PARK") -> HandEyeResult:
    """cv2.calibrateHandEye on the samples; see the module docstring for the two modes."""
    import cv2

    if mode not in MODES:
        raise HandEyeError(f"hand-eye: mode must be one of {MODES}, got {mode!r}")
    if method not in METHODS:
        raise HandEyeError(f"hand-eye: method must be one of {METHODS}, got {method!r}")
    if len(samples) < MIN_SAMPLES:
        raise HandEyeError(f"hand-eye: {len(samples)} usable samples, need >= {MIN_SAMPLES}: capture more arm poses "
                           "with the board in view")
    G = [s.tool_in_base for s in samples]
    spread = max(_angle_deg(G[0][:3, :3].T @ g[:3, :3]) for g in G)
    if spread < MIN_ROTATION_SPREAD_DEG:
        raise HandEyeError(f"hand-eye: the tool rotates only {spread:.1f} deg across the samples; rotate the wrist "
                           f"by >= {MIN_ROTATION_SPREAD_DEG:.0f} deg about at least two different axes between poses")
    A = G if mode == "eye_in_hand" else [np.linalg.inv(g) for g in G]
    C = [s.board_in_cam for s in samples]
    R, t = cv2.calibrateHandEye([a[:3, :3] for a in A], [a[:3, 3:] for a in A], [c[:3, :3] for c in C],
                                [c[:3, 3:] for c in C], method=getattr(cv2, f"CALIB_HAND_EYE_{method}"))
    X = np.eye(4)
    X[:3, :3], X[:3, 3] = R, np.asarray(t).ravel()
    fixed = [a @ X @ c for a, c in zip(A, C)]  # board in base (eye-in-hand) / board in tool (eye-to-hand)
    mm, deg, d = consistency(fixed)
    return HandEyeResult(mode, X, mm, deg, len(samples), f"cv2.calibrateHandEye {method}",
                         {s.name: float(x) for s, x in zip(samples, d)})


# ------------------------------------------------------------------------------ capture folder

def _bad(path, field: str, why: str):
    raise HandEyeError(f"{path}: field '{field}': {why}")


def write_capture(folder: str | Path, robot: str, mode: str, board: BoardSpec, samples: list[dict]) -> Path:
    """Write poses.json (samples: {"image": name, "q": [...]} or {"image", "tool_pose"})."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"format": CAPTURE_FORMAT, "version": CAPTURE_VERSION, "robot": robot, "mode": mode,
           "board": board.to_dict(), "samples": samples}
    p = folder / "poses.json"
    p.write_text(json.dumps(doc, indent=1))
    return p


def read_capture(folder: str | Path) -> dict:
    """poses.json of a capture folder, validated (errors name the file and field)."""
    folder = Path(folder)
    p = folder / "poses.json"
    if not p.is_file():
        raise HandEyeError(f"{p}: no capture here. Record one with `postbc calibrate hand-eye-capture` or write it "
                           "as docs/calibration.md describes (poses.json + one image per sample)")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise HandEyeError(f"{p}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != CAPTURE_FORMAT:
        _bad(p, "format", f"must be {CAPTURE_FORMAT!r}")
    if doc.get("version") != CAPTURE_VERSION:
        _bad(p, "version", f"this tool reads version {CAPTURE_VERSION}, got {doc.get('version')!r}")
    if doc.get("mode") is not None and doc["mode"] not in MODES:
        _bad(p, "mode", f"one of {MODES}")
    samples = doc.get("samples")
    if not isinstance(samples, list) or not samples:
        _bad(p, "samples", "a non-empty list of {image, q | tool_pose}")
    for i, s in enumerate(samples):
        if not isinstance(s, dict) or not isinstance(s.get("image"), str):
            _bad(p, f"samples[{i}].image", "the image file name (relative to the folder)")
        if not (folder / s["image"]).is_file():
            _bad(p, f"samples[{i}].image", f"{folder / s['image']} does not exist")
        if "q" not in s and "tool_pose" not in s:
            _bad(p, f"samples[{i}]", "needs q (joint angles, rad) or tool_pose {translation, rotation_xyzw}")
    doc["_path"] = str(p)
    return doc


def tool_pose_of(sample: dict, fk, where: str) -> np.ndarray:
    if "tool_pose" in sample:
        tp = sample["tool_pose"]
        try:
            return pose_matrix(tp["translation"], tp["rotation_xyzw"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise HandEyeError(f"{where}.tool_pose: needs translation [x,y,z] and rotation_xyzw [x,y,z,w]") from None
    if fk is None:
        raise HandEyeError(f"{where}.q: joint angles need the robot's forward kinematics; set 'robot' in poses.json")
    try:
        pos, R = fk(np.asarray(sample["q"], float))
    except (TypeError, ValueError) as e:
        raise HandEyeError(f"{where}.q: {e}") from None
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, pos
    return T


def samples_from_capture(folder: str | Path, K: np.ndarray, D: np.ndarray, fk=None, board: BoardSpec | None = None,
                         images: dict[str, np.ndarray] | None = None) -> tuple[list[Sample], list[str]]:
    """(usable samples, messages about the skipped ones) of a capture folder."""
    import cv2

    doc = read_capture(folder)
    spec = board or BoardSpec.from_dict(doc.get("board"), doc["_path"])
    out, skipped = [], []
    for i, s in enumerate(doc["samples"]):
        where = f"{doc['_path']}: samples[{i}]"
        im = images.get(s["image"]) if images else None
        if im is None:
            im = cv2.imread(str(Path(folder) / s["image"]), cv2.IMREAD_GRAYSCALE)
        if im is None:
            raise HandEyeError(f"{where}.image: cannot read {s['image']} as an image")
        det = detect(im, spec)
        if det is None:
            skipped.append(f"{s['image']}: the board is not visible (fewer than 6 corners); skipped")
            continue
        T_cb, rms = board_pose(det, K, D)
        out.append(Sample(tool_pose_of(s, fk, where), T_cb, s["image"], rms))
    return out, skipped
