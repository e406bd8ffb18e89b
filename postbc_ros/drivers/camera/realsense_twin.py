"""A RealSense whose sensor is the wire twin's camera: librealsense's software device fed by the
twin's camera feed (postbc_ros.sim.wire.camera_feed), for `camera_backend:=realsense` with
`wire_twin:=true`.

`RealSenseCamera(serial="twin://<feed path>")` uses a `TwinFeedDevice` as its device: on every
open it connects to the feed, builds an `rs.software_device` with one colour sensor (rgb8 at the
feed's size and rate, the twin camera's intrinsics, `global_time_enabled` like a D400) and starts
a thread that injects each received frame with `on_video_frame` -- stamped with its capture time in
the global_time domain (host system clock, ms) while the driver has global time enabled, else with
its arrival in the system_time domain, as librealsense does. Everything after that is
RealSenseCamera's own code: sensor open/start into the syncer, stamping, conversion, intrinsics,
and the supervisor's reopen when the feed stops (reads time out; the next open reconnects).
"""
from __future__ import annotations

import logging
import threading
import time

from postbc_ros.drivers.camera.base import CameraError
from postbc_ros.drivers.camera.realsense import TWIN_FEED_SCHEME as TWIN_SCHEME
from postbc_ros.sim.wire.camera_feed import FeedClient, FeedError, FeedInfo

DEVICE_NAME = "Wire twin camera (librealsense software device)"
COLOR_SENSOR = "RGB Camera"  # a D400's colour sensor name
JOIN_S = 2.0  # close(): how long to wait for the injecting thread
FIRST_OPEN_WAIT_S = 30.0  # the first open waits this long for the feed: the twin starts with the graph (MuJoCo, EGL)
CONNECT_POLL_S = 0.2  # ... trying to connect this often


def twin_feed_path(serial: str | None) -> str | None:
    """The feed path a `twin://PATH` serial names, else None (a hardware serial)."""
    if serial and serial.startswith(TWIN_SCHEME):
        path = serial[len(TWIN_SCHEME):]
        if not path:
            raise CameraError(f"realsense: serial {serial!r} names no feed path; use twin://<path> "
                              "(the wire twin's camera_feed)")
        return path
    return None


def _rs_intrinsics(rs, info: FeedInfo):
    i = rs.intrinsics()
    i.width, i.height, i.fx, i.fy, i.ppx, i.ppy = info.width, info.height, info.fx, info.fy, info.cx, info.cy
    i.model, i.coeffs = rs.distortion.brown_conrady, list(info.coeffs)
    return i


class TwinFeedDevice:
    """Callable device for RealSenseCamera: each call (an open) reconnects to the feed at `path`
    and returns a fresh software device streaming it; `close()` ends the feed connection.

    The first open waits up to `first_open_wait_s` for the feed (the wire twin is started with the
    graph and needs a few seconds; a camera_node that exited meanwhile would only be restarted);
    later opens (the supervisor's reopens) try once, the supervisor backs off between them."""

    def __init__(self, path: str, log=None, first_open_wait_s: float = FIRST_OPEN_WAIT_S) -> None:
        self.path = path
        self.log = log or (lambda level, msg: None)
        self.first_open_wait_s = float(first_open_wait_s)
        self.opens = 0
        self.client: FeedClient | None = None
        self.device = self.sensor = self.profile = None
        self.injected = 0  # frames handed to librealsense since the last open
        self._thread: threading.Thread | None = None

    def _connect(self) -> FeedClient:
        deadline = time.monotonic() + (self.first_open_wait_s if self.opens == 0 else 0.0)
        waiting = False
        while True:
            try:
                return FeedClient(self.path)
            except FeedError as e:
                if time.monotonic() >= deadline:
                    raise CameraError(f"realsense: {e}" + (f" (waited {self.first_open_wait_s:g} s)" if waiting else "")) from e
                if not waiting:
                    self.log(logging.INFO, f"realsense: waiting up to {self.first_open_wait_s:g} s for the wire twin's "
                                           f"camera feed at {self.path}")
                    waiting = True
                time.sleep(CONNECT_POLL_S)

    def __call__(self):
        import pyrealsense2 as rs

        self.close()
        client = self._connect()
        self.opens += 1
        info = client.info
        dev = rs.software_device()
        sensor = dev.add_sensor(COLOR_SENSOR)
        sensor.add_option(rs.option.global_time_enabled, rs.option_range(0, 1, 1, 0), True)
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = (
            rs.stream.color, 0, 0, info.width, info.height, info.fps, 3, rs.format.rgb8)
        vs.intrinsics = _rs_intrinsics(rs, info)
        profile = sensor.add_video_stream(vs).as_video_stream_profile()
        dev.register_info(rs.camera_info.name, DEVICE_NAME)
        dev.register_info(rs.camera_info.serial_number, TWIN_SCHEME + self.path)
        self.client, self.device, self.sensor, self.profile, self.injected = client, dev, sensor, profile, 0
        self._thread = threading.Thread(target=self._inject, args=(rs, client, sensor, profile, info),
                                        name="realsense-twin-feed", daemon=True)
        self._thread.start()
        return dev

    def _inject(self, rs, client: FeedClient, sensor, profile, info: FeedInfo) -> None:
        while True:
            try:
                number, capture, image = client.recv()
            except FeedError:
                return  # the twin stopped: reads time out and the supervisor reopens (reconnects)
            f = rs.software_video_frame()
            if sensor.get_option(rs.option.global_time_enabled):
                f.timestamp, f.domain = capture * 1000.0, rs.timestamp_domain.global_time  # capture time, host clock
            else:
                f.timestamp, f.domain = time.time() * 1000.0, rs.timestamp_domain.system_time  # host arrival
            f.pixels, f.bpp, f.stride, f.frame_number, f.profile = image, 3, info.width * 3, number, profile
            sensor.on_video_frame(f)  # librealsense copies the pixels
            self.injected += 1

    def close(self) -> None:
        if self.client is not None:
            self.client.close()  # ends the injecting thread's recv
        if self._thread is not None:
            self._thread.join(timeout=JOIN_S)
        self.client, self._thread = None, None
