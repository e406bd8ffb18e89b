"""RealSense backend against librealsense's software device (the real SDK in the loop): capture
stamps per timestamp domain with a configured latency, global time, aligned depth, and an
unplug / replug through the CameraSupervisor.

What the software device emulates: frames with any timestamp and timestamp domain (global_time
included -- librealsense passes both through), options (global_time_enabled, depth_units),
extrinsics between streams (for rs.align) and the syncer's matching. What it cannot: its frames
carry no time_of_arrival metadata, so the driver falls back to its read time there (the
DeviceClockMapper tests below drive the mapping directly)."""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from postbc_ros.drivers.camera import CameraError, make_camera
from postbc_ros.drivers.camera.realsense import DeviceClockMapper, capture_stamp, wall_minus_monotonic
from postbc_ros.drivers.camera.supervisor import DISCONNECTED, FAILED, STREAMING, CameraGaveUp, CameraSupervisor, ReopenPolicy

rs = pytest.importorskip("pyrealsense2")

W, H, FPS = 64, 48, 30
DW, DH = 40, 30  # the depth stream has its own resolution: rs.align resamples it onto the colour image
PERIOD = 1.0 / FPS
LATENCY = 0.05  # the configured capture-to-arrival delay [s]
DEVICE_EPOCH_S = 1234.5  # hardware_clock: the device clock's zero is unrelated to the host's
DRIFT = 50e-6  # hardware_clock: the device clock runs 50 ppm fast


def _intr(w, h, f):
    i = rs.intrinsics()
    i.width, i.height, i.ppx, i.ppy, i.fx, i.fy = w, h, w / 2 - 0.5, h / 2 - 0.5, f, f + 1
    i.model, i.coeffs = rs.distortion.brown_conrady, [0.1, -0.05, 0.0, 0.0, 0.01]
    return i


class SoftwareD400:
    """A software device shaped like a D400: an RGB sensor and a depth sensor (z16, depth_units),
    both with global_time_enabled, fed at FPS by a thread. Each frame was "captured" LATENCY
    before it is handed to librealsense; `captured[frame_number]` is that time (monotonic)."""

    def __init__(self, domain: str = "system_time", generation: int = 0, depth_units: float = 0.001):
        self.domain = getattr(rs.timestamp_domain, domain)
        self.generation, self.depth_units = generation, depth_units
        self.dev = rs.software_device()
        self.color_sensor = self.dev.add_sensor("RGB Camera")
        self.depth_sensor = self.dev.add_sensor("Stereo Module")
        for s in (self.color_sensor, self.depth_sensor):
            s.add_option(rs.option.global_time_enabled, rs.option_range(0, 1, 1, 0), True)
        self.depth_sensor.add_read_only_option(rs.option.depth_units, depth_units)
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = rs.stream.color, 0, 0, W, H, FPS, 3, rs.format.rgb8
        vs.intrinsics = _intr(W, H, 60.0)
        self.color = self.color_sensor.add_video_stream(vs).as_video_stream_profile()
        ds = rs.video_stream()
        ds.type, ds.index, ds.uid, ds.width, ds.height, ds.fps, ds.bpp, ds.fmt = rs.stream.depth, 0, 1, DW, DH, FPS, 2, rs.format.z16
        ds.intrinsics = _intr(DW, DH, 37.5)  # same field of view as the colour stream
        self.depth = self.depth_sensor.add_video_stream(ds).as_video_stream_profile()
        ext = rs.extrinsics()
        ext.rotation, ext.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0.0, 0.0, 0.0]
        self.depth.register_extrinsics_to(self.color, ext)
        self.dev.register_info(rs.camera_info.serial_number, f"SW{generation:04d}")
        self.captured: dict[int, float] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)

    def device_ms(self, capture_mono: float) -> float:
        if self.domain == rs.timestamp_domain.global_time:  # librealsense's global time: host system clock
            return (capture_mono + wall_minus_monotonic()) * 1000.0
        if self.domain == rs.timestamp_domain.hardware_clock:
            return (DEVICE_EPOCH_S + capture_mono * (1 + DRIFT)) * 1000.0
        return (capture_mono + LATENCY + wall_minus_monotonic()) * 1000.0  # system_time: the host arrival

    def _feed(self):
        while not self._stop.is_set():
            n, capture = self.sent, time.monotonic() - LATENCY
            ts = self.device_ms(capture)
            self.captured[n] = capture
            img = np.full((H, W, 3), (n * 7) % 256, np.uint8)
            img[..., 1], img[..., 2] = 11, self.generation
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride, f.timestamp, f.domain, f.frame_number, f.profile = img, 3, W * 3, ts, self.domain, n, self.color
            self.color_sensor.on_video_frame(f)
            z = np.full((DH, DW), round((1.0 + n / 1000) / self.depth_units), np.uint16)  # 1 m + n mm
            d = rs.software_video_frame()
            d.pixels, d.bpp, d.stride, d.timestamp, d.domain, d.frame_number, d.profile = z, 2, DW * 2, ts, self.domain, n, self.depth
            d.depth_units = self.depth_units
            self.depth_sensor.on_video_frame(d)
            self.sent += 1
            time.sleep(PERIOD)

    def start(self) -> "SoftwareD400":
        self._thread.start()
        return self

    def unplug(self):
        self._stop.set()
        self._thread.join()


def _read(cam, n):
    frames = [cam.read() for _ in range(n)]
    assert [f.frame_number for f in frames] == sorted({f.frame_number for f in frames})
    return frames


@pytest.mark.parametrize("domain, source", [("system_time", "system_time"), ("hardware_clock", "hardware_clock"),
                                            ("global_time", "global_time")])
def test_stamps_within_one_frame_of_capture_with_latency(domain, source):
    """Configured latency L = 50 ms (longer than a frame): every stamp lies within one frame period
    of the injected capture time -- subtracting L twice (or not at all) would miss by L."""
    sw = SoftwareD400(domain)
    logs = []
    cam = make_camera("realsense", device=sw.dev, width=W, height=H, fps=FPS, timeout=0.5, latency=LATENCY)
    cam.log = lambda level, msg: logs.append((level, msg))
    cam.start()
    try:
        sw.start()
        frames = _read(cam, 12)[2:]  # hardware_clock: the offset settles on the fastest of the first frames
    finally:
        sw.unplug()
        cam.stop()
    for f in frames:
        err = f.stamp - sw.captured[f.frame_number]
        assert f.stamp_source == source
        assert abs(err) < PERIOD, (domain, f.frame_number, err)
    if source == "global_time":  # the device's capture time itself: no read or queue delay in it
        assert max(abs(f.stamp - sw.captured[f.frame_number]) for f in frames) < 1e-3
        assert sw.color_sensor.get_option(rs.option.global_time_enabled) == 1.0  # the driver switched it on
    assert any(source in m for _, m in logs)  # the operator is told which time base is used
    assert any("intrinsics factory" in m for _, m in logs)


def test_depth_aligned_to_colour_with_the_colour_stamp():
    sw = SoftwareD400("global_time", depth_units=0.0001)  # D405-like units: converted to millimetres
    cam = make_camera("realsense", device=sw.dev, width=W, height=H, fps=FPS, timeout=0.5, depth=True)
    cam.start()
    try:
        sw.start()
        frames = _read(cam, 5)
    finally:
        sw.unplug()
        cam.stop()
    for f in frames:
        assert f.depth.shape == f.image.shape[:2] == (H, W) and f.depth.dtype == np.uint16
        # the depth frame of the same capture (its value encodes the frame number), in mm
        assert f.depth[H // 2, W // 2] == 1000 + f.frame_number
        assert abs(f.stamp - sw.captured[f.frame_number]) < 1e-3
    sw2 = SoftwareD400("global_time").start()
    cam = make_camera("realsense", device=sw2.dev, width=W, height=H, fps=FPS, timeout=0.5)
    cam.start()
    try:
        assert cam.read().depth is None  # depth is off by default
    finally:
        sw2.unplug()
        cam.stop()


def test_unplug_then_replug_recovers_without_stale_frames():
    """Stop feeding and close the sensors (an unplug: reads time out), the device is missing for a
    while (reopen fails, with backoff), then a new device appears (a replug): streaming resumes.
    Nothing is returned while the camera is away -- never the last frame again."""
    plugged = {"dev": SoftwareD400("global_time", generation=1).start()}

    def current():
        if plugged["dev"] is None:
            raise CameraError("realsense: no RealSense device connected")
        return plugged["dev"].dev

    cam = make_camera("realsense", device=current, width=W, height=H, fps=FPS, timeout=0.1, disconnect_after_s=0.3)
    logs = []
    sup = CameraSupervisor(cam, ReopenPolicy(max_reopen_s=0.0, backoff_s=0.05, backoff_max_s=0.2),
                           log=lambda level, msg: logs.append((level, msg)))
    cam.start()
    try:
        before = [f for f in (sup.next_frame() for _ in range(5)) if f is not None]
        assert before and all(f.image[0, 0, 2] == 1 for f in before)
        old = plugged["dev"]
        old.unplug()
        old.color_sensor.stop()  # the colour sensor goes away under the driver (depth is not streaming)
        old.color_sensor.close()
        plugged["dev"] = None
        t_unplug = time.monotonic()
        away = []
        while sup.state == STREAMING:
            away.append(sup.next_frame())
            assert time.monotonic() - t_unplug < 3.0, "the unplug was never noticed"
        assert sup.state == DISCONNECTED and cam.disconnected
        away = [f for f in away if f is not None]  # frames still queued before the unplug
        assert all(f.frame_number < old.sent for f in away)
        t_absent = time.monotonic()
        while time.monotonic() - t_absent < 0.8:  # device absent: every call returns nothing
            assert sup.next_frame() is None
        assert sup.attempts >= 2
        plugged["dev"] = SoftwareD400("global_time", generation=2).start()
        after = []
        t_replug = time.monotonic()
        while len(after) < 3:
            f = sup.next_frame()
            if f is not None:
                after.append(f)
            assert time.monotonic() - t_replug < 3.0, "no frame after the replug"
        assert sup.state == STREAMING and sup.reopens == 1
        assert all(f.image[0, 0, 2] == 2 for f in after)  # from the new device only
        assert all(abs(f.stamp - plugged["dev"].captured[f.frame_number]) < 1e-3 for f in after)
    finally:
        if plugged["dev"] is not None:
            plugged["dev"].unplug()
        cam.stop()
    retries = [m for lvl, m in logs if "reopen attempt" in m]
    assert retries and len(retries) <= sup.attempts  # each retry logged once, backing off
    assert any(lvl == logging.ERROR and "disconnected" in m for lvl, m in logs)
    assert any("reopened after" in m for _, m in logs)


def test_gives_up_after_max_reopen_s():
    sw = SoftwareD400("global_time").start()
    dev = {"dev": sw.dev}

    def current():
        if dev["dev"] is None:
            raise CameraError("realsense: no RealSense device connected")
        return dev["dev"]

    cam = make_camera("realsense", device=current, width=W, height=H, fps=FPS, timeout=0.1, disconnect_after_s=0.2)
    sup = CameraSupervisor(cam, ReopenPolicy(max_reopen_s=0.5, backoff_s=0.05, backoff_max_s=0.1), log=lambda *a: None)
    cam.start()
    sw.unplug()
    dev["dev"] = None
    t0 = time.monotonic()
    with pytest.raises(CameraGaveUp, match=r"gave up after .* \(max_reopen_s 0.5\).*no RealSense device connected"):
        while True:
            sup.next_frame()
            assert time.monotonic() - t0 < 5.0
    assert sup.state == FAILED and time.monotonic() - t0 >= 0.5
    with pytest.raises(CameraGaveUp):
        sup.next_frame()
    cam.stop()


# ------------------------------------------------------------------------- clock mapping

def test_hardware_clock_mapping_tracks_drift_and_ignores_slow_transfers():
    """The device clock (100 ppm fast, arbitrary zero) mapped over 10 minutes at 30 Hz with random
    transfer delays of L .. L + 30 ms: stamps stay within 2 ms of the true capture times."""
    rng = np.random.default_rng(0)
    m = DeviceClockMapper()
    worst = 0.0
    for k in range(10 * 60 * FPS):
        capture = 100.0 + k * PERIOD
        device = 5000.0 + capture * (1 + 100e-6)
        arrival = capture + LATENCY + rng.exponential(0.01) if k % 10 else capture + LATENCY  # every 10th frame is fast
        est = m.capture_time(device, arrival, LATENCY)
        if k > FPS:
            worst = max(worst, abs(est - capture))
    assert worst < 2e-3, worst


def test_hardware_clock_step_back_restarts_the_mapping():
    m = DeviceClockMapper()
    for k in range(30):
        m.capture_time(4000.0 + k * PERIOD, 10.0 + k * PERIOD + LATENCY, LATENCY)
    # the device counter wrapped: its clock restarts near 0 while the host goes on
    est = m.capture_time(0.5, 11.0 + LATENCY, LATENCY)
    assert est == pytest.approx(11.0)


def test_capture_stamp_per_domain():
    m = DeviceClockMapper()
    off = 1.7e9  # time.time() - time.monotonic()
    assert capture_stamp("global_time", (50.0 + off) * 1000, 50.3, LATENCY, m, off) == (pytest.approx(50.0), "global_time")
    assert capture_stamp("system_time", (50.3 + off) * 1000, 50.4, LATENCY, m, off) == (pytest.approx(50.25), "system_time")
    assert capture_stamp("hardware_clock", 7000.0, 50.3, LATENCY, m, off) == (pytest.approx(50.25), "hardware_clock")
    assert capture_stamp("count", 0.0, 50.3, LATENCY, m, off) == (pytest.approx(50.25), "arrival")


def test_factory_intrinsics_unless_measured():
    from postbc_ros.drivers.camera.base import CameraIntrinsics
    from postbc_ros.drivers.camera.calibration import CameraCalibration

    nominal = CameraIntrinsics.from_pinhole(640, 480, 615.0, 615.0, 320.0, 240.0)
    for measured, fx in ((False, 60.0), (True, 615.0 * W / 640)):
        sw = SoftwareD400()
        cam = make_camera("realsense", calibration=CameraCalibration("scene", nominal, measured=measured),
                          device=sw.dev, width=W, height=H, fps=FPS)
        cam.start()
        try:
            assert cam.intrinsics.fx == pytest.approx(fx)
            assert cam.intrinsics_source == ("measured (calibration file)" if measured else "factory (device)")
        finally:
            cam.stop()
