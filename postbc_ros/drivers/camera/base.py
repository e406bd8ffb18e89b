"""Camera device interface: `Camera.start() / read() -> Frame / stop()` for every backend.

A `Frame` carries the RGB image, its capture stamp and the intrinsics, so a consumer never has
to guess which calibration belongs to which image. The stamp is the capture time in ONE clock,
`time.monotonic()` seconds, and the driver is the only place that accounts for the rig's
calibrated latency (time is data): it subtracts `latency` from a host arrival time exactly once,
or not at all when the device itself says when the frame was captured (RealSense global time).
Consumers (camera_node) only change the clock (monotonic -> ROS time); they never subtract again.

`read()` never hangs: a camera that stops delivering raises `CameraError` after `timeout`
seconds, and once reads have failed for `disconnect_after_s` the camera reports `disconnected`
(camera/supervisor.py then reopens it with backoff).
"""
from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass, field

import numpy as np

LOG = logging.getLogger("postbc_ros.drivers.camera")
DISCONNECT_AFTER_S = 2.0  # reads failing for this long (no frame at all) -> the camera is `disconnected`


class CameraError(RuntimeError):
    """Camera failed, disappeared or timed out; the message names the device and what to check."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in sensor_msgs/CameraInfo terms (K row-major 3x3, D, model)."""

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    distortion_model: str = "plumb_bob"

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @classmethod
    def from_pinhole(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float, D=None,
                     distortion_model: str = "plumb_bob") -> "CameraIntrinsics":
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return cls(int(width), int(height), K, np.zeros(5) if D is None else np.asarray(D, float), distortion_model)

    def projection(self) -> np.ndarray:
        """P (3x4) of an unrectified monocular camera: [K | 0]."""
        return np.hstack([self.K, np.zeros((3, 1))])

    def camera_info_fields(self) -> dict:
        """Fields for sensor_msgs/CameraInfo (d, k, r, p as flat lists)."""
        return {
            "width": self.width, "height": self.height, "distortion_model": self.distortion_model,
            "d": [float(x) for x in self.D], "k": [float(x) for x in self.K.ravel()],
            "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], "p": [float(x) for x in self.projection().ravel()],
        }

    def scaled(self, width: int, height: int) -> "CameraIntrinsics":
        """Intrinsics for the same camera resized to width x height."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0] *= sx
        K[1] *= sy
        return CameraIntrinsics(int(width), int(height), K, self.D.copy(), self.distortion_model)


@dataclass(frozen=True)
class Frame:
    """One RGB image (H x W x 3, uint8) with its capture stamp (time.monotonic seconds, latency
    already accounted for) and intrinsics; `depth` (H x W uint16, millimetres, aligned to the
    colour image, 0 = no data) when the camera streams depth."""

    image: np.ndarray
    stamp: float
    intrinsics: CameraIntrinsics | None
    frame_number: int | None = None
    device_stamp: float | None = None  # the device's own clock [s], when it has one
    stamp_source: str = "arrival"  # how `stamp` was obtained: global_time | hardware_clock | system_time | arrival | render
    depth: np.ndarray | None = None


def _default_log(level: int, msg: str) -> None:
    LOG.log(level, msg)


class Camera(abc.ABC):
    """Common camera API; usable as a context manager. Subclasses implement `_start`, `_read`,
    `stop` and `intrinsics`; `start`/`read` here keep the disconnect bookkeeping. `log(level,
    message)` (logging levels) tells the operator what the driver decided (intrinsics and stamp
    source, global time); a node points it at its own logger."""

    name = "camera"
    intrinsics_source = "none"  # where `intrinsics` came from (shown to the operator)

    def __init__(self, timeout: float = 1.0, latency: float = 0.0, disconnect_after_s: float = DISCONNECT_AFTER_S) -> None:
        if not timeout > 0:
            raise CameraError(f"{self.name}: timeout must be > 0 seconds, got {timeout!r}")
        if not 0 <= latency < 5:
            raise CameraError(f"{self.name}: latency must be 0 .. 5 seconds, got {latency!r}")
        if not disconnect_after_s > 0:
            raise CameraError(f"{self.name}: disconnect_after_s must be > 0 seconds, got {disconnect_after_s!r}")
        self.timeout = float(timeout)
        self.latency = float(latency)
        self.disconnect_after_s = float(disconnect_after_s)
        self.disconnected = False
        self._last_good = time.monotonic()
        self.log = _default_log

    def start(self) -> None:
        """Open the device and start streaming (again, after `stop`, to reopen)."""
        self._start()
        self.disconnected = False
        self._last_good = time.monotonic()

    def read(self, timeout: float | None = None) -> Frame:
        """The newest frame (newer than the previous one); CameraError after `timeout` seconds.
        Reads failing for `disconnect_after_s` set `disconnected`."""
        try:
            f = self._read(self.timeout if timeout is None else float(timeout))
        except CameraError:
            if time.monotonic() - self._last_good >= self.disconnect_after_s:
                self.disconnected = True
            raise
        self._last_good = time.monotonic()
        return f

    @abc.abstractmethod
    def _start(self) -> None:
        """Open the device and start streaming."""

    @abc.abstractmethod
    def _read(self, timeout: float) -> Frame:
        """Next frame; CameraError after `timeout` seconds."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop streaming and release the device (idempotent)."""

    @property
    @abc.abstractmethod
    def intrinsics(self) -> CameraIntrinsics | None:
        """Intrinsics of the images `read` returns (None when uncalibrated)."""

    def __enter__(self) -> "Camera":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def check_rgb(image: np.ndarray, who: str) -> np.ndarray:
    """Validate an H x W x 3 uint8 image."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CameraError(f"{who}: expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")
    return image
