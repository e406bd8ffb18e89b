"""The wire twin's camera feed (sim/wire/camera_feed.py) through librealsense's software device
(drivers/camera/realsense_twin.py) and the unchanged RealSense driver: `serial="twin://PATH"`.

Frames sent with their capture times arrive in order, with the driver's global-time stamps on the
injected capture times and the twin camera's intrinsics as the device's factory intrinsics; a feed
that stops is a camera that disappeared (the supervisor reopens it, with backoff, once the feed is
back); the feed itself refuses a second server on a path, a frame of the wrong size, and drops a
client that stops reading without stalling the others."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from postbc_ros.drivers.camera import CameraError, make_camera
from postbc_ros.drivers.camera.realsense import wall_minus_monotonic
from postbc_ros.drivers.camera.supervisor import DISCONNECTED, STREAMING, CameraSupervisor, ReopenPolicy
from postbc_ros.sim.wire.camera_feed import (SEND_TIMEOUT_S, CameraFeedServer, FeedClient, FeedError,
                                             FeedInfo, feed_address)

rs = pytest.importorskip("pyrealsense2")

W, H, FPS = 64, 48, 30
PERIOD = 1.0 / FPS
RENDER_DELAY_S = 0.02  # the twin hands a frame over this long after its capture time (render + copy)
INFO = FeedInfo("scene", W, H, FPS, fx=51.5, fy=51.5, cx=32.0, cy=24.0)


def _image(n: int, generation: int) -> np.ndarray:
    img = np.full((H, W, 3), (n * 7) % 256, np.uint8)  # channel 0 encodes the frame number
    img[..., 1], img[..., 2] = 11, generation
    return img


class Twin:
    """A wire twin's camera: renders at FPS and sends each frame with its capture time (time.time())."""

    def __init__(self, path, generation: int = 1):
        self.server = CameraFeedServer(path, INFO)
        self.generation = generation
        self.captured: dict[int, float] = {}  # frame number -> capture time, time.monotonic seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._render, daemon=True)
        self._thread.start()

    def _render(self):
        while not self._stop.is_set():
            capture = time.time() - RENDER_DELAY_S
            n = self.server.frames
            self.captured[n] = capture - wall_minus_monotonic()
            self.server.send(_image(n, self.generation), capture)
            time.sleep(PERIOD)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.server.close()


def test_frames_arrive_in_order_stamped_at_their_capture_time(tmp_path):
    twin = Twin(tmp_path / "robot1.camera")
    logs = []
    cam = make_camera("realsense", serial=f"twin://{tmp_path / 'robot1.camera'}", width=W, height=H, fps=FPS, timeout=0.5)
    cam.log = lambda level, msg: logs.append(msg)
    try:
        cam.start()
        frames = [cam.read() for _ in range(10)]
    finally:
        cam.stop()
        twin.stop()
    numbers = [f.frame_number for f in frames]
    assert numbers == sorted(set(numbers)), numbers
    for f in frames:
        assert f.stamp_source == "global_time"  # the driver enabled global time on the software sensor
        assert abs(f.stamp - twin.captured[f.frame_number]) < PERIOD, (f.frame_number, f.stamp - twin.captured[f.frame_number])
        assert f.image.shape == (H, W, 3) and f.image[0, 0, 0] == (f.frame_number * 7) % 256 and f.image[0, 0, 2] == 1
    intr = cam.intrinsics  # the twin camera's, as the software device's factory intrinsics
    assert (intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy) == (W, H, 51.5, 51.5, 32.0, 24.0)
    assert cam.intrinsics_source == "factory (device)"
    assert any("opened Wire twin camera (librealsense software device)" in m and "twin://" in m for m in logs), logs
    assert any("frames stamped (global_time)" in m for m in logs), logs


def test_a_feed_that_stops_is_a_camera_that_disappeared_and_comes_back(tmp_path):
    path = tmp_path / "robot1.camera"
    twin = Twin(path, generation=1)
    cam = make_camera("realsense", serial=f"twin://{path}", width=W, height=H, fps=FPS, timeout=0.1, disconnect_after_s=0.3)
    logs = []
    sup = CameraSupervisor(cam, ReopenPolicy(max_reopen_s=0.0, backoff_s=0.05, backoff_max_s=0.2),
                           log=lambda level, msg: logs.append(msg))
    cam.start()
    try:
        before = [f for f in (sup.next_frame() for _ in range(5)) if f is not None]
        assert before and all(f.image[0, 0, 2] == 1 for f in before)
        twin.stop()  # the wire twin exits: its feed closes
        t_stop = time.monotonic()
        while sup.state == STREAMING:
            sup.next_frame()
            assert time.monotonic() - t_stop < 3.0, "the stopped feed was never noticed"
        assert sup.state == DISCONNECTED and cam.disconnected
        t_absent = time.monotonic()
        while time.monotonic() - t_absent < 0.6:  # no feed: reopen attempts fail, nothing is returned
            assert sup.next_frame() is None
        assert sup.attempts >= 2
        assert any("reopen attempt" in m and "no wire twin serving it" in m for m in logs), logs
        twin = Twin(path, generation=2)  # the twin is back
        after, t_back = [], time.monotonic()
        while len(after) < 3:
            f = sup.next_frame()
            if f is not None:
                after.append(f)
            assert time.monotonic() - t_back < 3.0, "no frame after the feed came back"
        assert sup.state == STREAMING and sup.reopens == 1
        assert all(f.image[0, 0, 2] == 2 for f in after)  # from the new feed only
        assert all(abs(f.stamp - twin.captured[f.frame_number]) < PERIOD for f in after)
    finally:
        cam.stop()
        twin.stop()


def test_the_first_open_waits_for_the_twin_to_start(tmp_path):
    """The graph starts camera_node and the twin together: the first open waits for the feed."""
    path = tmp_path / "robot1.camera"
    cam = make_camera("realsense", serial=f"twin://{path}", width=W, height=H, fps=FPS, timeout=0.5)
    logs = []
    cam.log = lambda level, msg: logs.append(msg)
    twins = []
    starter = threading.Timer(0.5, lambda: twins.append(Twin(path)))
    starter.start()
    try:
        cam.start()  # before the twin serves
        assert twins and cam.read().image[0, 0, 2] == 1
    finally:
        starter.join()
        cam.stop()
        for t in twins:
            t.stop()
    assert any(f"waiting up to 30 s for the wire twin's camera feed at {path}" in m for m in logs), logs


def test_no_feed_is_a_clear_camera_error(tmp_path):
    cam = make_camera("realsense", serial=f"twin://{tmp_path / 'nothing'}", width=W, height=H, fps=FPS)
    cam.twin_feed.first_open_wait_s = 0.3
    with pytest.raises(CameraError, match=r"no wire twin serving it .*camera_feed.* \(waited 0.3 s\)"):
        cam.start()
    with pytest.raises(CameraError, match="names no feed path"):
        make_camera("realsense", serial="twin://")
    twin = Twin(tmp_path / "feed")
    cam = make_camera("realsense", serial=f"twin://{tmp_path / 'feed'}", width=2 * W, height=H, fps=FPS)
    try:
        with pytest.raises(CameraError, match=rf"no rgb8 color stream {2 * W}x{H} @ {FPS} fps"):
            cam.start()  # camera_node asks for a size the twin does not render: the driver's own refusal
    finally:
        cam.stop()
        twin.stop()


def test_feed_refuses_a_second_server_and_a_wrong_frame(tmp_path):
    with CameraFeedServer(tmp_path / "f", INFO) as server:
        with pytest.raises(FeedError, match="cannot listen .*another wire twin"):
            CameraFeedServer(tmp_path / "f", INFO)
        with pytest.raises(ValueError, match=r"\(48, 64, 3\) uint8"):
            server.send(np.zeros((H, W + 1, 3), np.uint8), time.time())
    with CameraFeedServer(tmp_path / "f", INFO):  # the path is free again once the first closed
        pass


def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_streaming(tmp_path):
    big = FeedInfo("scene", 640, 480, FPS, 500.0, 500.0, 320.0, 240.0)  # a frame larger than the socket's buffer
    with CameraFeedServer(tmp_path / "f", big) as server:
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.connect(feed_address(tmp_path / "f"))  # takes the hello, then never reads
        reader = FeedClient(tmp_path / "f")
        assert reader.info == big
        while server.clients < 2:
            time.sleep(0.01)
        got: list[int] = []
        t = threading.Thread(target=lambda: got.extend(reader.recv()[0] for _ in range(3)), daemon=True)
        t.start()
        n = 0
        while t.is_alive():
            server.send(np.full((480, 640, 3), n % 256, np.uint8), time.time())  # never blocks on the stuck one
            n += 1
            time.sleep(PERIOD)
            assert n < 10 * FPS * SEND_TIMEOUT_S, "the reader got no frames while a client was stuck"
        assert got == sorted(got) and len(got) == 3
        assert server.clients == 1  # the stuck client timed out (SEND_TIMEOUT_S) and was dropped
        reader.close()
        stuck.close()
