"""ArUco marker detection (cv2.aruco.ArucoDetector) and the pose of one square marker in the camera
frame (cv2.solvePnP, SOLVEPNP_IPPE_SQUARE: the closed-form solver for a planar square)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: default fiducial family: 4x4 bits, 50 ids (robust at the few tens of pixels a marker covers)
DEFAULT_DICTIONARY = "DICT_4X4_50"


@dataclass(frozen=True)
class MarkerConfig:
    """One marker to track: its feature name (e.g. "object"), its id in the dictionary and the side
    of its black square [m] (what pose estimation scales by; the white quiet zone not included)."""

    name: str
    marker_id: int
    size: float

    def __post_init__(self) -> None:
        if not self.size > 0:
            raise ValueError(f"marker {self.name!r}: size must be the black square's side in metres (> 0), got {self.size!r}")
        if int(self.marker_id) < 0:
            raise ValueError(f"marker {self.name!r}: marker_id must be >= 0, got {self.marker_id!r}")


@dataclass(frozen=True)
class MarkerDetection:
    """One detected marker: its id and its 4 image corners (4x2 float32, pixels) in ArUco order:
    top-left, top-right, bottom-right, bottom-left of the printed marker."""

    marker_id: int
    corners: np.ndarray

    @property
    def perimeter(self) -> float:
        c = self.corners
        return float(np.sum(np.linalg.norm(c - np.roll(c, 1, axis=0), axis=1)))


def aruco_dictionary(name: str):
    """cv2.aruco predefined dictionary by name (DICT_4X4_50, DICT_APRILTAG_36h11, ...)."""
    import cv2

    if not (name.startswith("DICT_") and hasattr(cv2.aruco, name)):
        known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
        raise ValueError(f"marker dictionary {name!r} is not a cv2.aruco predefined dictionary; choose one of {known}")
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


#: cv2.aruco corner refinement methods by name. The corners feed solvePnP, whose depth error grows
#: with the corner error: on the twins' 640x480 frames (markers 20-40 px wide) "apriltag" (edge
#: fit of the quad) gives 1-2 mm mean position error where "subpix" leaves a 6-13 mm depth bias and
#: "none" 9-19 mm (measured on 30 rendered frames per arm; docs/perception.md)
CORNER_REFINEMENT = {"apriltag": "CORNER_REFINE_APRILTAG", "subpix": "CORNER_REFINE_SUBPIX",
                     "contour": "CORNER_REFINE_CONTOUR", "none": "CORNER_REFINE_NONE"}
DEFAULT_REFINEMENT = "apriltag"


class MarkerDetector:
    """cv2.aruco.ArucoDetector of one dictionary with corner refinement (CORNER_REFINEMENT)."""

    def __init__(self, dictionary: str = DEFAULT_DICTIONARY, refinement: str = DEFAULT_REFINEMENT) -> None:
        import cv2

        if refinement not in CORNER_REFINEMENT:
            raise ValueError(f"MarkerDetector: corner refinement {refinement!r} unknown; choose one of {list(CORNER_REFINEMENT)}")
        self.dictionary_name, self.refinement = dictionary, refinement
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = getattr(cv2.aruco, CORNER_REFINEMENT[refinement])
        self._detector = cv2.aruco.ArucoDetector(aruco_dictionary(dictionary), params)

    def detect(self, image: np.ndarray) -> dict[int, MarkerDetection]:
        """Markers in an RGB (H x W x 3) or grayscale uint8 image, by id. An id seen twice (two
        prints of one marker) keeps its largest view."""
        import cv2

        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"MarkerDetector.detect: expected an H x W (x 3) uint8 image, got {image.shape} {image.dtype}")
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        corners, ids, _ = self._detector.detectMarkers(gray)
        out: dict[int, MarkerDetection] = {}
        for c, i in zip(corners, [] if ids is None else ids.ravel()):
            det = MarkerDetection(int(i), np.asarray(c, np.float32).reshape(4, 2))
            if int(i) not in out or det.perimeter > out[int(i)].perimeter:
                out[int(i)] = det
        return out


def marker_object_points(size: float) -> np.ndarray:
    """The 4 corners of a square marker of side `size` in its own frame (centre at the origin,
    x right, y up in the printed image, z out of the print), in ArUco corner order."""
    h = size / 2
    return np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], np.float64)


def marker_pose_in_camera(corners: np.ndarray, size: float, K: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(R, t): the marker frame in the camera optical frame (3x3, metres), or None when solvePnP
    finds no pose in front of the camera."""
    import cv2

    ok, rvec, tvec = cv2.solvePnP(marker_object_points(size), np.asarray(corners, np.float64).reshape(4, 1, 2),
                                  np.asarray(K, np.float64), np.asarray(D, np.float64), flags=cv2.SOLVEPNP_IPPE_SQUARE)
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return None
    return cv2.Rodrigues(rvec)[0], tvec.ravel()
