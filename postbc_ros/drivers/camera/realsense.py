"""Intel RealSense color stream through librealsense (pyrealsense2).

Streams through the sensor API (open a color profile, start into a frame_queue) rather than
`rs.pipeline`: the pipeline resolves only devices its context enumerates, and librealsense
2.59 does not enumerate software devices added with `software_device.add_to(ctx)` (checked),
while the sensor API behaves identically on hardware and on `rs.software_device` -- which
is how the backend is tested. Intrinsics come from the device's factory calibration unless a
calibration file overrides them.
"""
from __future__ import annotations

import time

import numpy as np

from postbc_ros.drivers.camera.base import Camera, CameraError, CameraIntrinsics, Frame

_MODELS = {"none": "plumb_bob", "brown_conrady": "plumb_bob", "inverse_brown_conrady": "plumb_bob",
           "modified_brown_conrady": "plumb_bob", "kannala_brandt4": "equidistant"}


def intrinsics_from_rs(intr) -> CameraIntrinsics:
    """rs.intrinsics -> CameraIntrinsics."""
    model = str(intr.model).split(".")[-1]
    coeffs = list(intr.coeffs)
    return CameraIntrinsics.from_pinhole(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy,
                                         D=coeffs[:4] if model == "kannala_brandt4" else coeffs[:5],
                                         distortion_model=_MODELS.get(model, "plumb_bob"))


class RealSenseCamera(Camera):
    """Color stream of a RealSense (by serial, or the first one), or of an injected rs.device."""

    name = "realsense"

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480, fps: int = 30,
                 intrinsics: CameraIntrinsics | None = None, timeout: float = 1.0, latency: float = 0.0,
                 device=None, queue_size: int = 2) -> None:
        super().__init__(timeout, latency)
        self.serial = serial or None
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self._intr_override = intrinsics
        self._intr: CameraIntrinsics | None = intrinsics
        self._device = device
        self._sensor = None
        self._queue = None
        self._queue_size = int(queue_size)
        self._last_number: int | None = None

    @property
    def intrinsics(self) -> CameraIntrinsics | None:
        return self._intr

    def _find_device(self):
        import pyrealsense2 as rs

        if self._device is not None:
            return self._device
        devices = list(rs.context().query_devices())
        if not devices:
            raise CameraError("realsense: no RealSense device connected (check the USB3 cable, `rs-enumerate-devices`, udev rules)")
        for d in devices:
            if self.serial is None or d.get_info(rs.camera_info.serial_number) == self.serial:
                return d
        found = [d.get_info(rs.camera_info.serial_number) for d in devices]
        raise CameraError(f"realsense: no device with serial {self.serial!r}; connected: {found}")

    def start(self) -> None:
        import pyrealsense2 as rs

        dev = self._find_device()
        for sensor in dev.query_sensors():
            for p in sensor.get_stream_profiles():
                if p.stream_type() != rs.stream.color or p.format() != rs.format.rgb8:
                    continue
                vp = p.as_video_stream_profile()
                if (vp.width(), vp.height(), vp.fps()) == (self.width, self.height, self.fps):
                    break
            else:
                continue
            break
        else:
            raise CameraError(f"realsense: no rgb8 color stream {self.width}x{self.height} @ {self.fps} fps on this device; "
                              "pick a supported mode (rs-enumerate-devices lists them)")
        self._queue = rs.frame_queue(self._queue_size, keep_frames=True)
        try:
            sensor.open(vp)
            sensor.start(self._queue)
        except RuntimeError as e:
            raise CameraError(f"realsense: cannot start the color stream: {e} (device busy in another process?)") from e
        self._sensor = sensor
        self._intr = self._intr_override or intrinsics_from_rs(vp.get_intrinsics())

    def read(self, timeout: float | None = None) -> Frame:
        if self._sensor is None:
            raise CameraError("realsense: not started; call start() first")
        timeout = self.timeout if timeout is None else timeout
        t_end = time.monotonic() + timeout
        while True:
            left_ms = int(max(0.0, t_end - time.monotonic()) * 1000)
            ok, f = self._queue.try_wait_for_frame(max(1, left_ms))
            if not ok:
                raise CameraError(f"realsense {self.serial or ''}: no frame within {timeout:.2f} s (camera unplugged or stalled?)".replace("  ", " "))
            vf = f.as_video_frame()
            n = vf.get_frame_number()
            if self._last_number is not None and n <= self._last_number:
                continue  # a duplicate from the queue
            self._last_number = n
            img = np.asanyarray(vf.get_data()).copy()
            return Frame(img, time.monotonic() - self.latency, self._intr, frame_number=int(n), device_stamp=vf.get_timestamp() / 1000.0)

    def stop(self) -> None:
        if self._sensor is not None:
            try:
                self._sensor.stop()
                self._sensor.close()
            except RuntimeError:
                pass
            self._sensor = None
