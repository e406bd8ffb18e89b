"""Intel RealSense colour (and optionally aligned depth) through librealsense (pyrealsense2).

Streams through the sensor API (open a profile per sensor, start them into one `rs.syncer`)
rather than `rs.pipeline`: the pipeline resolves only devices its context enumerates, and
librealsense 2.59 does not enumerate software devices added with `software_device.add_to(ctx)`
(checked), while the sensor API behaves identically on hardware and on `rs.software_device` --
which is how the backend is tested. Everything after a frameset arrives (alignment, stamping,
conversion) is the same code for both.

`serial="twin://<path>"` (an explicit switch, logged at open): the device is the wire twin's camera,
a software device fed with the twin's rendered frames and their capture times
(drivers/camera/realsense_twin.py); the rest of this driver runs unchanged on it.

Intrinsics: the device's factory calibration (the colour stream profile's `get_intrinsics()`),
unless `intrinsics` is given -- `make_camera` passes a rig file's intrinsics only when it is
marked `measured: true`. The choice is logged.

Stamps (`Frame.stamp`, time.monotonic seconds; see base.py): chosen per frame from its
timestamp domain, and the calibrated `latency` is subtracted at most once, here:
- global_time: librealsense has already mapped the device's hardware clock to the host's
  system clock (ms); that is the capture time, converted to monotonic, no latency subtracted.
  Global time is enabled on every sensor that supports `rs.option.global_time_enabled`.
- hardware_clock: the device clock (ms) is mapped to the host by `DeviceClockMapper`, whose
  offset is the smallest (arrival - device) seen in a sliding window (the fastest transfers,
  tracking drift) minus `latency`.
- system_time: librealsense's host arrival time minus `latency`.
- otherwise: the arrival time (librealsense's time_of_arrival metadata, else the read time)
  minus `latency`. Each fallback is logged once.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable

import numpy as np

from postbc_ros.drivers.camera.base import DISCONNECT_AFTER_S, Camera, CameraError, CameraIntrinsics, Frame

_MODELS = {"none": "plumb_bob", "brown_conrady": "plumb_bob", "inverse_brown_conrady": "plumb_bob",
           "modified_brown_conrady": "plumb_bob", "kannala_brandt4": "equidistant"}
OFFSET_WINDOW_S = 10.0  # hardware-clock mapping: the minimum (arrival - device) over this window (drift << 1 ms in it)
SYNCER_QUEUE = 4  # framesets librealsense may hold for us; `read` drains to the newest
MM_PER_M = 1000.0  # published depth is uint16 millimetres
DEPTH_UNITS_MM = 0.001  # depth_units [m] at which z16 values already are millimetres (D400 default)
TWIN_FEED_SCHEME = "twin://"  # a serial starting so names the wire twin's camera feed (realsense_twin.py)


def intrinsics_from_rs(intr) -> CameraIntrinsics:
    """rs.intrinsics -> CameraIntrinsics."""
    model = str(intr.model).split(".")[-1]
    coeffs = list(intr.coeffs)
    return CameraIntrinsics.from_pinhole(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy,
                                         D=coeffs[:4] if model == "kannala_brandt4" else coeffs[:5],
                                         distortion_model=_MODELS.get(model, "plumb_bob"))


def wall_minus_monotonic() -> float:
    """time.time() - time.monotonic() now: converts host system-clock stamps to monotonic."""
    return time.time() - time.monotonic()


class DeviceClockMapper:
    """Maps a device's free-running clock (s) to capture times in time.monotonic seconds.

    offset = min over the last `window_s` of (arrival - device): the fastest transfers bound the
    true offset from above and the window lets it follow the clocks' drift; capture = device +
    offset - latency. A device clock that steps back (counter wrap, device reset) restarts it."""

    def __init__(self, window_s: float = OFFSET_WINDOW_S) -> None:
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, float]] = deque()  # (arrival, arrival - device)
        self._last_device: float | None = None

    def reset(self) -> None:
        self._samples.clear()
        self._last_device = None

    def capture_time(self, device_s: float, arrival_s: float, latency: float) -> float:
        if self._last_device is not None and device_s < self._last_device:
            self.reset()
        self._last_device = device_s
        self._samples.append((arrival_s, arrival_s - device_s))
        while len(self._samples) > 1 and self._samples[0][0] < arrival_s - self.window_s:
            self._samples.popleft()
        return device_s + min(o for _, o in self._samples) - latency


def capture_stamp(domain: str, device_ms: float, arrival_s: float, latency: float, mapper: DeviceClockMapper,
                  wall_offset: float) -> tuple[float, str]:
    """(capture time in time.monotonic seconds, stamp source) of a frame whose timestamp is
    `device_ms` in `domain` (global_time | hardware_clock | system_time | other), that arrived at
    `arrival_s` (monotonic); `wall_offset` = time.time() - time.monotonic()."""
    if domain == "global_time":
        return device_ms / 1000.0 - wall_offset, "global_time"
    if domain == "hardware_clock":
        return mapper.capture_time(device_ms / 1000.0, arrival_s, latency), "hardware_clock"
    if domain == "system_time":
        return device_ms / 1000.0 - wall_offset - latency, "system_time"
    return arrival_s - latency, "arrival"


class RealSenseCamera(Camera):
    """Colour stream (+ depth aligned to it) of a RealSense: by serial, the first one, or
    `device` (an rs.device, or a callable returning the current one -- called on every open, so
    a replugged device is found again)."""

    name = "realsense"

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480, fps: int = 30,
                 intrinsics: CameraIntrinsics | None = None, timeout: float = 1.0, latency: float = 0.0,
                 device=None, depth: bool = False, disconnect_after_s: float = DISCONNECT_AFTER_S,
                 queue_size: int = SYNCER_QUEUE) -> None:
        super().__init__(timeout, latency, disconnect_after_s)
        self.serial = serial or None
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.depth = bool(depth)
        self._intr_override = intrinsics
        self._intr: CameraIntrinsics | None = intrinsics
        self.intrinsics_source = "measured (calibration file)" if intrinsics is not None else "factory (device)"
        self.twin_feed = None  # the wire twin's feed device (serial twin://PATH), else None
        if device is None and self.serial and self.serial.startswith(TWIN_FEED_SCHEME):
            from postbc_ros.drivers.camera.realsense_twin import TwinFeedDevice, twin_feed_path

            device = self.twin_feed = TwinFeedDevice(twin_feed_path(self.serial), log=lambda lvl, m: self.log(lvl, m))
        self._device: Callable | object | None = device
        self._sensors: list = []
        self._syncer = None
        self._align = None
        self._queue_size = int(queue_size)
        self._last_number: int | None = None
        self._mapper = DeviceClockMapper()
        self._logged_sources: set[str] = set()

    @property
    def intrinsics(self) -> CameraIntrinsics | None:
        return self._intr

    def _find_device(self):
        import pyrealsense2 as rs

        if self._device is not None:
            return self._device() if callable(self._device) else self._device
        devices = list(rs.context().query_devices())
        if not devices:
            raise CameraError("realsense: no RealSense device connected (check the USB3 cable, `rs-enumerate-devices`, udev rules)")
        for d in devices:
            if self.serial is None or d.get_info(rs.camera_info.serial_number) == self.serial:
                return d
        found = [d.get_info(rs.camera_info.serial_number) for d in devices]
        raise CameraError(f"realsense: no device with serial {self.serial!r}; connected: {found}")

    @staticmethod
    def _profile(dev, stream, fmt, size: tuple[int, int] | None, fps: int):
        """(sensor, video profile) of `stream`/`fmt` at `fps` and `size` (None: the largest)."""
        best = None
        for sensor in dev.query_sensors():
            for p in sensor.get_stream_profiles():
                if p.stream_type() != stream or p.format() != fmt or p.fps() != fps:
                    continue
                vp = p.as_video_stream_profile()
                if size is not None and (vp.width(), vp.height()) == size:
                    return sensor, vp
                if size is None and (best is None or vp.width() * vp.height() > best[1].width() * best[1].height()):
                    best = (sensor, vp)
        return best

    def _enable_global_time(self, sensor) -> None:
        import pyrealsense2 as rs

        if sensor.supports(rs.option.global_time_enabled) and not sensor.is_option_read_only(rs.option.global_time_enabled):
            sensor.set_option(rs.option.global_time_enabled, 1)
            self.log(logging.INFO, f"realsense: global time enabled on {sensor.get_info(rs.camera_info.name)}")

    def _start(self) -> None:
        import pyrealsense2 as rs

        self.stop()
        dev = self._find_device()
        info = {k: dev.get_info(getattr(rs.camera_info, k)) if dev.supports(getattr(rs.camera_info, k)) else "?"
                for k in ("name", "serial_number")}
        self.log(logging.INFO, f"realsense: opened {info['name']} (serial {info['serial_number']})")
        color = self._profile(dev, rs.stream.color, rs.format.rgb8, (self.width, self.height), self.fps)
        if color is None:
            raise CameraError(f"realsense: no rgb8 color stream {self.width}x{self.height} @ {self.fps} fps on this device; "
                              "pick a supported mode (rs-enumerate-devices lists them)")
        streams = [color]
        if self.depth:
            depth = (self._profile(dev, rs.stream.depth, rs.format.z16, (self.width, self.height), self.fps)
                     or self._profile(dev, rs.stream.depth, rs.format.z16, None, self.fps))
            if depth is None:
                raise CameraError(f"realsense: depth requested but the device has no z16 depth stream @ {self.fps} fps; "
                                  "set depth:=false or pick an fps the depth sensor supports (rs-enumerate-devices)")
            streams.append(depth)
        self._syncer = rs.syncer(self._queue_size)
        self._align = rs.align(rs.stream.color) if self.depth else None
        opened = {}  # sensor -> profiles (colour and depth may share one sensor on some models)
        for sensor, vp in streams:
            opened.setdefault(id(sensor), (sensor, []))[1].append(vp)
        try:
            for sensor, profiles in opened.values():
                self._enable_global_time(sensor)
                sensor.open(profiles if len(profiles) > 1 else profiles[0])
                self._sensors.append(sensor)
                sensor.start(self._syncer)
        except RuntimeError as e:
            self.stop()
            raise CameraError(f"realsense: cannot start the streams: {e} (device busy in another process, or unplugged?)") from e
        self._last_number = None
        self._mapper.reset()
        if self._intr_override is None:
            self._intr = intrinsics_from_rs(color[1].get_intrinsics())
        elif (self._intr_override.width, self._intr_override.height) != (self.width, self.height):
            self._intr = self._intr_override.scaled(self.width, self.height)
        self.log(logging.INFO, f"realsense: intrinsics {self.intrinsics_source}: fx={self._intr.fx:.2f} fy={self._intr.fy:.2f} "
                               f"cx={self._intr.cx:.2f} cy={self._intr.cy:.2f}" + (" (depth aligned to colour)" if self.depth else ""))

    def _next_frameset(self, timeout: float):
        """The newest frameset holding colour (and depth when enabled) within `timeout` s."""
        t_end = time.monotonic() + timeout
        while True:
            left_ms = int(max(0.0, t_end - time.monotonic()) * 1000)
            ok, fs = self._syncer.try_wait_for_frames(max(1, left_ms))
            if not ok:
                raise CameraError(f"realsense {self.serial or ''}: no frame within {timeout:.2f} s "
                                  "(camera unplugged or stalled?)".replace("  ", " "))
            while True:  # drain to the newest, so a slow reader never gets a stale frame
                more, newer = self._syncer.poll_for_frames(), None
                if not more:
                    break
                newer = more
                if newer.get_color_frame() and (not self.depth or newer.get_depth_frame()):
                    fs = newer
            color = fs.get_color_frame()
            if not color or (self.depth and not fs.get_depth_frame()):
                continue  # an unmatched single stream (the first frames of a start)
            n = color.get_frame_number()
            if self._last_number is not None and n <= self._last_number:
                continue  # a duplicate
            self._last_number = n
            return fs

    def _arrival(self, frame, read_time: float) -> float:
        import pyrealsense2 as rs

        if frame.supports_frame_metadata(rs.frame_metadata_value.time_of_arrival):
            return frame.get_frame_metadata(rs.frame_metadata_value.time_of_arrival) / 1000.0 - wall_minus_monotonic()
        return read_time

    def _read(self, timeout: float) -> Frame:
        if self._syncer is None:
            raise CameraError("realsense: not started; call start() first")
        fs = self._next_frameset(timeout)
        read_time = time.monotonic()
        depth = None
        if self.depth:
            fs = self._align.process(fs)
            d = fs.get_depth_frame()
            z = np.asanyarray(d.get_data())
            units = d.get_units()
            depth = z.copy() if abs(units - DEPTH_UNITS_MM) < 1e-9 else \
                np.clip(np.rint(z * (units * MM_PER_M)), 0, np.iinfo(np.uint16).max).astype(np.uint16)
        color = fs.get_color_frame()
        domain = str(color.get_frame_timestamp_domain()).split(".")[-1]
        device_ms = color.get_timestamp()
        stamp, source = capture_stamp(domain, device_ms, self._arrival(color, read_time), self.latency, self._mapper,
                                      wall_minus_monotonic())
        if source not in self._logged_sources:
            self._logged_sources.add(source)
            how = {"global_time": "the device's global time (capture time, latency not subtracted)",
                   "hardware_clock": f"the device's hardware clock mapped to the host, minus latency {self.latency * 1e3:.1f} ms",
                   "system_time": f"librealsense's host arrival time minus latency {self.latency * 1e3:.1f} ms (no device time)",
                   "arrival": f"the arrival time minus latency {self.latency * 1e3:.1f} ms (timestamp domain {domain})"}[source]
            self.log(logging.INFO if source in ("global_time", "hardware_clock") else logging.WARNING, f"realsense: frames stamped ({source}) from {how}")
        img = np.asanyarray(color.get_data()).copy()
        return Frame(img, stamp, self._intr, frame_number=int(color.get_frame_number()), device_stamp=device_ms / 1000.0,
                     stamp_source=source, depth=depth)

    def stop(self) -> None:
        if self.twin_feed is not None:
            self.twin_feed.close()  # first: no frame is injected into a sensor being closed
        for sensor in self._sensors:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError:
                    pass  # already stopped, or the device is gone
        self._sensors = []
        self._syncer = None
