"""Camera backends: opencv (video file), realsense (librealsense software device), sim (twin)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from postbc_ros.drivers.camera import CameraError, make_camera
from postbc_ros.drivers.camera.calibration import CameraCalibration, Latency, load_camera_calibration
from postbc_ros.drivers.camera.base import CameraIntrinsics


def write_video(path: Path, n: int, w: int = 64, h: int = 48) -> None:
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    assert vw.isOpened()
    for i in range(n):
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 2] = 200  # red in BGR order
        bgr[: h // 2, :, 1] = (i * 10) % 255
        vw.write(bgr)
    vw.release()


def test_opencv_video_file_rgb_then_clean_end(tmp_path: Path):
    video = tmp_path / "clip.avi"
    write_video(video, 12)
    intr = CameraIntrinsics.from_pinhole(128, 96, 100.0, 100.0, 64.0, 48.0)
    cal = CameraCalibration("scene", intr, latency=Latency(0.05))
    cam = make_camera("opencv", calibration=cal, source=str(video), timeout=1.0)
    frames = []
    with cam:
        with pytest.raises(CameraError, match="stream ended"):
            while True:
                t_before = time.monotonic()
                f = cam.read()
                frames.append(f)
                assert f.stamp <= t_before  # arrival minus the calibrated 50 ms latency
    assert frames
    f0 = frames[0]
    assert f0.image.shape == (48, 64, 3) and f0.image.dtype == np.uint8
    assert f0.image[..., 0].mean() > 150 and f0.image[..., 2].mean() < 60  # RGB, not BGR
    assert f0.intrinsics.width == 64 and f0.intrinsics.fx == pytest.approx(50.0)  # rescaled to the stream
    nums = [f.frame_number for f in frames]
    assert nums == sorted(set(nums))


def test_opencv_stalled_stream_times_out(tmp_path: Path):
    """A camera that stops delivering mid-stream (a FIFO whose writer goes silent but stays
    open, as a wedged USB camera does) raises CameraError after the timeout instead of hanging."""
    import os

    video = tmp_path / "clip.avi"
    write_video(video, 40)
    data = video.read_bytes()
    fifo = tmp_path / "cam.fifo"
    os.mkfifo(fifo)
    release = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, data[: len(data) // 2])  # about half the frames, then silence
        release.wait(10)
        os.close(fd)

    threading.Thread(target=writer, daemon=True).start()
    cam = make_camera("opencv", source=str(fifo), timeout=0.5)
    cam.start()
    try:
        n = 0
        with pytest.raises(CameraError, match=r"no frame within 0\.50 s"):
            while True:
                t0 = time.monotonic()
                cam.read()
                n += 1
        assert time.monotonic() - t0 < 1.5
        assert n >= 1
    finally:
        release.set()
        cam.stop()


def test_opencv_missing_device():
    with pytest.raises(CameraError, match="cannot open"):
        make_camera("opencv", source="/nonexistent/video0.avi").start()
    with pytest.raises(CameraError, match="not started"):
        make_camera("opencv", source=0).read()


class SoftwareRealSense:
    """A librealsense software device with one rgb8 color stream, fed by a thread."""

    def __init__(self, w=64, h=48, fps=30):
        import pyrealsense2 as rs

        self.rs = rs
        self.dev = rs.software_device()
        self.sensor = self.dev.add_sensor("Color")
        intr = rs.intrinsics()
        intr.width, intr.height, intr.ppx, intr.ppy, intr.fx, intr.fy = w, h, 31.5, 23.5, 60.0, 61.0
        intr.model = rs.distortion.brown_conrady
        intr.coeffs = [0.1, -0.05, 0.0, 0.0, 0.01]
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = rs.stream.color, 0, 0, w, h, fps, 3, rs.format.rgb8
        vs.intrinsics = intr
        self.profile = self.sensor.add_video_stream(vs).as_video_stream_profile()
        self.dev.register_info(rs.camera_info.serial_number, "SW0001")
        self.w, self.h = w, h
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._feed, daemon=True)

    def _feed(self):
        rs = self.rs
        while not self._stop.is_set():
            f = rs.software_video_frame()
            img = np.full((self.h, self.w, 3), (self.sent * 7) % 256, np.uint8)
            img[..., 1] = 11
            f.pixels, f.bpp, f.stride = img, 3, self.w * 3
            f.timestamp, f.domain, f.frame_number = self.sent * 33.3, rs.timestamp_domain.hardware_clock, self.sent
            f.profile = self.profile
            self.sensor.on_video_frame(f)
            self.sent += 1
            time.sleep(1 / 60)

    def start(self):
        self._thread.start()

    def unplug(self):
        self._stop.set()
        self._thread.join()


def test_realsense_software_device_stream_and_unplug():
    sw = SoftwareRealSense()
    cam = make_camera("realsense", device=sw.dev, width=64, height=48, fps=30, timeout=0.4)
    cam.start()
    try:
        intr = cam.intrinsics
        assert (intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy) == (64, 48, 60.0, 61.0, 31.5, 23.5)
        np.testing.assert_allclose(intr.D, [0.1, -0.05, 0.0, 0.0, 0.01], atol=1e-6)
        sw.start()
        frames = [cam.read() for _ in range(4)]
        nums = [f.frame_number for f in frames]
        assert nums == sorted(set(nums))
        for f in frames:
            assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
            assert f.image[0, 0, 0] == (f.frame_number * 7) % 256 and f.image[0, 0, 1] == 11
            assert f.device_stamp == pytest.approx(f.frame_number * 0.0333, abs=1e-3)
        sw.unplug()
        while True:  # drain what was queued, then the timeout must fire (no hang)
            t0 = time.monotonic()
            try:
                cam.read()
            except CameraError as e:
                assert "no frame within 0.40 s" in str(e)
                break
        assert time.monotonic() - t0 < 1.5
    finally:
        cam.stop()


def test_realsense_unsupported_mode():
    sw = SoftwareRealSense()
    with pytest.raises(CameraError, match="no rgb8 color stream 1280x720"):
        make_camera("realsense", device=sw.dev, width=1280, height=720).start()


def test_sim_camera_renders_twin_with_model_intrinsics():
    from postbc_ros.drivers.camera.sim import twin_camera_calibration

    cam = make_camera("sim", robot="widowx", camera="scene", width=64, height=48)
    with cam:
        f = cam.read()
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.image.std() > 5
        # fovy 50 deg in the model -> fy = 24 / tan(25 deg)
        assert f.intrinsics.fy == pytest.approx(24 / np.tan(np.radians(25)))
        # the YAML shipped for the twin rig is what the model says (scaled to 640x480)
        shipped = load_camera_calibration("widowx_twin", "scene")
        exact = twin_camera_calibration(cam.twin, "scene", 640, 480)
        np.testing.assert_allclose(shipped.intrinsics.K, exact.intrinsics.K)
        np.testing.assert_allclose(shipped.extrinsics.matrix(), exact.extrinsics.matrix(), atol=1e-9)
        # the optical frame looks at the workspace: the tool point projects inside the image
        T = exact.extrinsics.matrix()
        p_tool = cam.twin.ee_pose()[0]
        pc = np.linalg.inv(T) @ np.append(p_tool, 1.0)
        assert pc[2] > 0
        u = exact.intrinsics.fx * pc[0] / pc[2] + exact.intrinsics.cx
        v = exact.intrinsics.fy * pc[1] / pc[2] + exact.intrinsics.cy
        assert 0 < u < 640 and 0 < v < 480
