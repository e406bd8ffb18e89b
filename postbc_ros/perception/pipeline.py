"""Image -> marker observations in the arm's base frame: detect (cv2.aruco), solve each configured
marker's pose (solvePnP IPPE_SQUARE), move it into the base frame with the camera's extrinsics,
track visibility and age. The same object runs on a real cell's camera frames and on the twin's
rendered frames (the twin's `markers` observation)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from postbc_ros.perception.camera_geometry import BASE_FRAME, CameraGeometry
from postbc_ros.perception.markers import (
    DEFAULT_DICTIONARY, DEFAULT_REFINEMENT, MarkerConfig, MarkerDetector, marker_pose_in_camera,
)
from postbc_ros.perception.tracker import MarkerObservation, MarkerTracker


class MarkerPerception:
    """Marker poses of the configured markers from one camera."""

    def __init__(self, geometry: CameraGeometry, markers: Sequence[MarkerConfig], dictionary: str = DEFAULT_DICTIONARY,
                 refinement: str = DEFAULT_REFINEMENT) -> None:
        if not markers:
            raise ValueError("MarkerPerception: configure at least one marker (name, id, size)")
        self.geometry = geometry
        self.markers = tuple(markers)
        self.detector = MarkerDetector(dictionary, refinement)
        self.tracker = MarkerTracker(self.markers)
        self._by_id = {m.marker_id: m for m in self.markers}

    def reset(self) -> None:
        """Forget the tracked poses (new episode)."""
        self.tracker.reset()

    def poses(self, image: np.ndarray, T_base_parent: np.ndarray | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """id -> (position, rotation) in the base frame of the configured markers seen in `image`.
        T_base_parent: base <- the camera's parent frame, needed when that frame is not the base
        (a wrist camera: the arm's base <- gripper pose at the frame's capture time)."""
        g = self.geometry
        if image.shape[:2] != (g.height, g.width):
            raise ValueError(f"MarkerPerception: image is {image.shape[1]}x{image.shape[0]} but the calibration "
                             f"({g.source}) is for {g.width}x{g.height}; use CameraGeometry.scaled(w, h)")
        if T_base_parent is None:
            if g.parent_frame != BASE_FRAME:
                raise ValueError(f"MarkerPerception: the camera's extrinsics ({g.source}) are relative to "
                                 f"{g.parent_frame!r}; pass T_base_parent (the arm's base <- {g.parent_frame} pose)")
            T = g.T_parent_camera
        else:
            T = np.asarray(T_base_parent, float) @ g.T_parent_camera
        out = {}
        for i, det in self.detector.detect(image).items():
            m = self._by_id.get(i)
            if m is None:
                continue  # a marker nobody configured (another cell's, a calibration board)
            pose = marker_pose_in_camera(det.corners, m.size, g.K, g.D)
            if pose is None:
                continue
            R, t = pose
            out[i] = (T[:3, :3] @ t + T[:3, 3], T[:3, :3] @ R)
        return out

    def process(self, image: np.ndarray, stamp: float, T_base_parent: np.ndarray | None = None) -> dict[str, MarkerObservation]:
        """Observations (name -> MarkerObservation) of every configured marker as of the frame
        captured at `stamp` [s]; frames must come in capture order."""
        return self.tracker.update(stamp, self.poses(image, T_base_parent))
