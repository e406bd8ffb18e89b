"""Camera intrinsics from ChArUco board views (cv2.calibrateCameraExtended), with advice on what
views to add: image regions the board never reached, too little tilt, views that fit badly.

Intrinsics are only as good as the views' spread: a board always in the image centre leaves the
distortion (strongest at the borders) unconstrained, and a board always facing the camera leaves
the focal length correlated with the distance. The advice names exactly which views to add.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from postbc_ros.calibrate.board import BoardSpec, Detection, detect
from postbc_ros.drivers.camera.base import CameraIntrinsics

MIN_VIEWS = 5  # usable board views below which the 9-parameter fit is not trusted
COVERAGE_GRID = 3  # the image is split COVERAGE_GRID x COVERAGE_GRID; every cell needs board corners
MIN_TILT_DEG = 20.0  # at least one view must tilt the board this far from facing the camera
BAD_VIEW_FACTOR = 3.0  # a view whose RMS error exceeds this x the median is flagged (blur, motion)
BAD_VIEW_MIN_PX = 1.0  # ... and exceeds this many pixels (sub-pixel spread is noise)
CELL_NAMES = [["top-left corner", "top edge", "top-right corner"],
              ["left edge", "centre", "right edge"],
              ["bottom-left corner", "bottom edge", "bottom-right corner"]]


class IntrinsicsError(ValueError):
    """Too few usable views, or images of different sizes; says what to capture."""


@dataclass(frozen=True)
class IntrinsicsReport:
    intrinsics: CameraIntrinsics
    rms_px: float  # overall RMS reprojection error
    per_view_rms_px: dict[str, float]  # image name -> its RMS error
    used: list[str]  # images where the board was found
    skipped: list[str]  # images without a usable board view
    rvecs: list[np.ndarray] = field(repr=False)
    tvecs: list[np.ndarray] = field(repr=False)
    advice: list[str] = field(default_factory=list)

    def summary(self) -> str:
        i = self.intrinsics
        return (f"fx={i.fx:.2f} fy={i.fy:.2f} cx={i.cx:.2f} cy={i.cy:.2f} px, distortion {np.round(i.D, 4).tolist()}, "
                f"RMS reprojection error {self.rms_px:.3f} px over {len(self.used)} views ({len(self.skipped)} skipped)")


def coverage_advice(detections: Sequence[Detection], width: int, height: int, rvecs: Sequence[np.ndarray] = (),
                    per_view: dict[str, float] | None = None) -> list[str]:
    """What views to add: uncovered image regions, missing tilt, badly fitting views."""
    import cv2

    hit = np.zeros((COVERAGE_GRID, COVERAGE_GRID), int)
    for det in detections:
        cells = set()
        for u, v in det.image_points:
            cells.add((min(int(v * COVERAGE_GRID / height), COVERAGE_GRID - 1), min(int(u * COVERAGE_GRID / width), COVERAGE_GRID - 1)))
        for r, c in cells:
            hit[r, c] += 1
    advice = [f"no board corners near the {CELL_NAMES[r][c]} of the image: add views with the board moved to the {CELL_NAMES[r][c]}"
              for r in range(COVERAGE_GRID) for c in range(COVERAGE_GRID) if hit[r, c] == 0]
    if rvecs:
        tilts = [np.degrees(np.arccos(abs(cv2.Rodrigues(np.asarray(r, float))[0][2, 2]))) for r in rvecs]
        if max(tilts) < MIN_TILT_DEG:
            advice.append(f"the board always faces the camera (largest tilt {max(tilts):.0f} deg): add views tilted "
                          f"{MIN_TILT_DEG:.0f}-45 deg left/right and up/down")
    if per_view:
        med = float(np.median(list(per_view.values())))
        bad = [k for k, e in per_view.items() if e > max(BAD_VIEW_FACTOR * med, BAD_VIEW_MIN_PX)]
        if bad:
            advice.append(f"views fitting badly (blur, motion, a bent board?): {', '.join(bad)}; retake or drop them")
    return advice


def calibrate_intrinsics(images: Sequence[np.ndarray], spec: BoardSpec, names: Sequence[str] | None = None,
                         min_views: int = MIN_VIEWS) -> IntrinsicsReport:
    """Intrinsics (plumb_bob: k1 k2 p1 p2 k3) from images of the ChArUco board `spec`."""
    import cv2

    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    sizes = {tuple(np.asarray(im).shape[:2]) for im in images}
    if len(sizes) > 1:
        raise IntrinsicsError(f"intrinsics: the images have different sizes {sorted(sizes)}; calibrate one resolution at a time")
    dets, used, skipped = [], [], []
    for name, im in zip(names, images):
        det = detect(im, spec)
        (skipped if det is None else used).append(name)
        if det is not None:
            dets.append(det)
    if len(dets) < min_views:
        raise IntrinsicsError(
            f"intrinsics: the board ({spec.describe()}) was found in {len(dets)} of {len(images)} images; need {min_views}. "
            "Check the board options (--squares, --dictionary: they must match the print), the lighting and the focus, "
            "and capture more views (the whole board need not be visible, but >= 6 corners)")
    h, w = next(iter(sizes))
    obj = [d.object_points.astype(np.float32) for d in dets]
    img = [d.image_points.astype(np.float32).reshape(-1, 1, 2) for d in dets]
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    rms, K, D, rvecs, tvecs, _si, _se, per_view = cv2.calibrateCameraExtended(obj, img, (w, h), None, None, criteria=criteria)
    per = {n: float(e) for n, e in zip(used, np.asarray(per_view).ravel())}
    intr = CameraIntrinsics(int(w), int(h), np.asarray(K, float), np.asarray(D, float).ravel()[:5], "plumb_bob")
    advice = coverage_advice(dets, w, h, list(rvecs), per)
    return IntrinsicsReport(intr, float(rms), per, used, skipped, list(rvecs), list(tvecs), advice)
