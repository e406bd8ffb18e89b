"""Camera rendering a MuJoCo Twin camera ("scene" or "wrist"), with intrinsics derived from
the model's vertical field of view (square pixels, principal point at the image centre)."""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from postbc_ros.drivers.camera.base import Camera, CameraError, CameraIntrinsics, Frame, check_rgb


def twin_camera_intrinsics(twin, camera: str, width: int, height: int) -> CameraIntrinsics:
    """Pinhole intrinsics of a MuJoCo camera rendered at width x height."""
    import mujoco

    cid = mujoco.mj_name2id(twin.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if cid < 0:
        raise CameraError(f"sim camera: the twin has no camera {camera!r}")
    fovy = math.radians(float(twin.model.cam_fovy[cid]))
    f = 0.5 * height / math.tan(0.5 * fovy)
    return CameraIntrinsics.from_pinhole(width, height, f, f, 0.5 * width, 0.5 * height)


class SimCamera(Camera):
    """Renders `camera` of a Twin on every `read()` (synchronous with the physics)."""

    name = "sim"

    def __init__(self, twin=None, camera: str = "scene", width: int = 96, height: int = 96, robot: str | None = None,
                 task: str | None = None, timeout: float = 1.0, latency: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(timeout, latency)
        self.intrinsics_source = "twin model (camera fovy)"
        self._twin = twin
        self._robot, self._task = robot, task
        self.camera = camera
        self.width, self.height = int(width), int(height)
        self._clock = clock
        self._intr: CameraIntrinsics | None = None
        self._n = 0
        self._started = False

    @property
    def twin(self):
        return self._twin

    @property
    def intrinsics(self) -> CameraIntrinsics | None:
        return self._intr

    def _start(self) -> None:
        if self._twin is None:
            if self._robot is None:
                raise CameraError("sim camera: pass a Twin (twin=...) or the robot name to build one")
            from postbc_ros.sim.twin import Twin

            self._twin = Twin(self._robot, self._task)
        self._intr = twin_camera_intrinsics(self._twin, self.camera, self.width, self.height)
        self._started = True

    def _read(self, timeout: float) -> Frame:
        if not self._started:
            raise CameraError("sim camera: not started; call start() first")
        img = check_rgb(self._twin.render(self.camera, (self.height, self.width)), self.name)
        self._n += 1
        return Frame(img.copy(), self._clock() - self.latency, self._intr, frame_number=self._n, device_stamp=self._twin.time,
                     stamp_source="render")

    def stop(self) -> None:
        self._started = False


def twin_camera_calibration(twin, camera: str, width: int, height: int):
    """Exact calibration of a twin camera: intrinsics from fovy, extrinsics = pose of the
    camera *optical* frame (x right, y down, z forward) in the body it is attached to
    (MuJoCo cameras look along -z with y up, hence the flip), latency 0."""
    import mujoco

    from postbc_ros.drivers.camera.calibration import CameraCalibration, Extrinsics, Latency, rotmat_to_quat_xyzw

    intr = twin_camera_intrinsics(twin, camera, width, height)
    m = twin.model
    cid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, m.cam_quat[cid])
    R_opt = R.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    body = m.body(int(m.cam_bodyid[cid])).name
    ext = Extrinsics("base_link" if body == "world" else body, m.cam_pos[cid].copy(), rotmat_to_quat_xyzw(R_opt),
                     f"exact: MuJoCo model {twin.robot} camera '{camera}'")
    return CameraCalibration(camera, intr, f"{camera}_camera_optical_frame", ext, Latency(0.0, 0.0, "simulation: rendered on read"),
                             source=f"<twin {twin.robot}/{camera}>")
