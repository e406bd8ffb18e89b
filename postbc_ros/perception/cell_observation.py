"""What a real cell observes, without ROS: the arm's joint_states and one camera's frames, the
markers on the task objects found in those frames (MarkerPerception), paired by capture stamp
(core.observation_assembler) into `observation.state` -- the same layout the twin's `markers`
observation mode produces (`marker_state_names`), so a policy trained on one acts on the other.

The marker map (which object carries which marker id, its printed size) is the task's, from the
robot's registry entry (`TwinData.markers(task)`): print those markers (docs/perception.md) and put
them on the cell's objects. The camera's intrinsics and hand-eye extrinsics come from the rig's
calibration file (`postbc calibrate`). `observation()` returns None with `reason` set whenever an
input is missing, stale or unpaired, or a marker was never seen: the caller publishes nothing and
the policy (and with it the arm) holds.

layout "proprio" (a cell without markers on its objects, for image policies): the state is the
arm's joints, gripper and tool point only (`proprio_state_names`, the twin's image modes' state);
no marker perception runs and no calibration is read. With a camera its frames are still paired
by stamp (they pace the observation and the recorder's images; a camera that stops blocks it);
with camera "" joint_states alone make the observation.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from postbc_ros.core.observation_assembler import (
    STATE_LAYOUTS, AssembledObservation, AssemblerConfig, ObservationAssembler, marker_state_names,
    proprio_state_names,
)
from postbc_ros.perception.camera_geometry import load_camera_geometry
from postbc_ros.perception.markers import MarkerConfig
from postbc_ros.perception.pipeline import MarkerPerception


class CellObservation:
    def __init__(self, robot: str, task: str, rig: str, camera: str = "scene", slop_s: float = 0.05,
                 max_age_s: float = 0.2, clock: Callable[[], float] = time.time, layout: str = "markers") -> None:
        from postbc_ros.robots import get_robot_spec, get_twin
        from postbc_ros.robots.twin_data import ARUCO_DICTIONARY

        if layout not in STATE_LAYOUTS:
            raise ValueError(f"CellObservation: layout {layout!r} unknown; choose one of {list(STATE_LAYOUTS)} "
                             "(markers: joints + marker poses; proprio: joints, gripper and tool only)")
        if layout == "markers" and not camera:
            raise ValueError("CellObservation: layout 'markers' perceives the markers in a camera's frames: "
                             "name the camera, or use layout 'proprio'")
        self.spec = get_robot_spec(robot)
        self.layout, self.camera = layout, camera
        specs = get_twin(robot).markers(task) if layout == "markers" else []
        self.perception = MarkerPerception(load_camera_geometry(rig, camera),
                                           [MarkerConfig(m.name, m.marker_id, m.size) for m in specs],
                                           ARUCO_DICTIONARY) if layout == "markers" else None
        self.assembler = ObservationAssembler(
            AssemblerConfig(cameras=(camera,) if camera else (), markers=tuple(m.name for m in specs), slop_s=slop_s,
                            max_age_s=max_age_s),
            lambda q: self.spec.fk(q)[0], clock=clock)
        self.state_names = (marker_state_names(self.spec.joint_names, [m.name for m in specs]) if layout == "markers"
                            else proprio_state_names(self.spec.joint_names))

    @property
    def reason(self) -> str:
        """Why the last `observation()` was None ('' after one was assembled)."""
        return self.assembler.reason

    def joint_state(self, stamp: float, q, gripper: float) -> None:
        """The arm's measured joints (arm joints only, in the spec's order) and gripper (0..1)."""
        self.assembler.add_joint_state(stamp, np.asarray(q, float), gripper)

    def frame(self, stamp: float, image: np.ndarray) -> None:
        """A camera frame captured at `stamp` (same clock as the joint states): markers found (layout
        markers), frame kept. A frame of another size than the calibration's is scaled to it (the
        intrinsics scale with it)."""
        self.assembler.add_frame(self.camera, stamp, image)
        if self.perception is None:
            return
        g = self.perception.geometry
        if image.shape[:2] != (g.height, g.width):
            self.perception.geometry = g.scaled(image.shape[1], image.shape[0])
        self.assembler.add_markers(stamp, self.perception.process(image, stamp))

    def observation(self) -> AssembledObservation | None:
        return self.assembler.assemble()

    def reset(self) -> None:
        """A new episode: the objects moved, last episode's marker poses and samples are void."""
        if self.perception is not None:
            self.perception.reset()
        self.assembler.reset()
