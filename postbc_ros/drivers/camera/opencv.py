"""OpenCV camera (cv2.VideoCapture): USB/V4L2 webcams, video files, GStreamer/RTSP URLs.

VideoCapture.read() can block forever on a camera that was unplugged, so frames are grabbed
by a background thread and `read()` waits on it with a timeout: a vanished camera becomes a
`CameraError` instead of a hung control loop. BGR is converted to RGB.
"""
from __future__ import annotations

import threading
import time

from postbc_ros.drivers.camera.base import DISCONNECT_AFTER_S, Camera, CameraError, CameraIntrinsics, Frame, check_rgb


class OpenCVCamera(Camera):
    """`source`: device index (0), /dev/videoN path, video file or stream URL."""

    name = "opencv"

    def __init__(self, source: int | str = 0, width: int | None = None, height: int | None = None, fps: float | None = None,
                 intrinsics: CameraIntrinsics | None = None, timeout: float = 1.0, latency: float = 0.0,
                 disconnect_after_s: float = DISCONNECT_AFTER_S) -> None:
        super().__init__(timeout, latency, disconnect_after_s)
        self.source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.width, self.height, self.fps = width, height, fps
        self._intr = intrinsics
        self.intrinsics_source = "calibration file" if intrinsics is not None else "none"
        self._cap = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._returned = 0
        self._error: str | None = None
        self._running = False

    @property
    def intrinsics(self) -> CameraIntrinsics | None:
        return self._intr

    def _start(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            raise CameraError(f"opencv camera: cannot open {self.source!r} (device unplugged, wrong index/path, or used by another process?)")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap
        self._error = None
        self._running = True
        self._thread = threading.Thread(target=self._grab_loop, name=f"opencv-cam-{self.source}", daemon=True)
        self._thread.start()

    def _grab_loop(self) -> None:
        import cv2

        n = 0
        while self._running:
            ok, bgr = self._cap.read()
            t = time.monotonic() - self.latency  # capture = arrival minus the calibrated latency (the only subtraction)
            if not ok or bgr is None:
                with self._cond:
                    self._error = f"opencv camera {self.source!r}: stream ended or device disappeared after {n} frames"
                    self._cond.notify_all()
                return
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            intr = self._intr
            if intr is not None and (intr.width, intr.height) != (rgb.shape[1], rgb.shape[0]):
                intr = intr.scaled(rgb.shape[1], rgb.shape[0])
            with self._cond:
                self._latest = Frame(rgb, t, intr, frame_number=n)
                self._seq += 1
                self._cond.notify_all()
            n += 1

    def _read(self, timeout: float) -> Frame:
        if self._cap is None:
            raise CameraError("opencv camera: not started; call start() first")
        with self._cond:
            ok = self._cond.wait_for(lambda: self._seq > self._returned or self._error is not None, timeout)
            if self._seq > self._returned:
                self._returned = self._seq
                return Frame(check_rgb(self._latest.image, self.name), self._latest.stamp, self._latest.intrinsics, self._latest.frame_number)
            if self._error is not None:
                raise CameraError(self._error)
            assert not ok
            raise CameraError(f"opencv camera {self.source!r}: no frame within {timeout:.2f} s (camera disconnected or stalled?)")

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None
