"""Camera perception, ROS-free: ArUco marker detection (cv2.aruco), marker poses in the arm's base
frame (cv2.solvePnP IPPE_SQUARE with the camera's intrinsics and hand-eye extrinsics), and a
per-marker tracker that flags a marker which left the view instead of freezing its last pose as
fresh (docs/perception.md).

    geometry = load_camera_geometry("widowx_twin", "scene")
    perception = MarkerPerception(geometry, [MarkerConfig("object", 0, 0.03)])
    observations = perception.process(rgb_image, stamp)   # name -> MarkerObservation
"""
from __future__ import annotations

from postbc_ros.perception.camera_geometry import CameraGeometry, CameraGeometryError, load_camera_geometry
from postbc_ros.perception.markers import MarkerConfig, MarkerDetection, MarkerDetector, marker_pose_in_camera
from postbc_ros.perception.pipeline import MarkerPerception
from postbc_ros.perception.tracker import MarkerObservation, MarkerTracker

__all__ = ["CameraGeometry", "CameraGeometryError", "load_camera_geometry", "MarkerConfig", "MarkerDetection",
           "MarkerDetector", "marker_pose_in_camera", "MarkerPerception", "MarkerObservation", "MarkerTracker"]
