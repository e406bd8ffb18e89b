"""Hardware-in-the-loop: a real Intel RealSense. Skipped unless POSTBC_HIL_REALSENSE names its
serial number (`rs-enumerate-devices -s` lists it)."""
from __future__ import annotations

import os

import numpy as np
import pytest

VAR = "POSTBC_HIL_REALSENSE"
SERIAL = os.environ.get(VAR, "")
pytestmark = pytest.mark.skipif(not SERIAL, reason=f"set {VAR}=<serial number> to run on a real RealSense")

N_FRAMES = 30
WIDTH, HEIGHT, FPS = 640, 480, 30


def test_doctor_sees_the_camera_on_usb3():
    from postbc_ros.doctor.realsense import check_realsense

    c = {x.name: x for x in check_realsense()}
    assert f"realsense {SERIAL}" in c, f"{SERIAL} not connected: {c['realsense'].line()}"
    assert c[f"realsense {SERIAL}"].ok, c[f"realsense {SERIAL}"].line()


def test_streams_30_frames_with_increasing_stamps():
    from postbc_ros.drivers.camera.realsense import RealSenseCamera

    cam = RealSenseCamera(serial=SERIAL, width=WIDTH, height=HEIGHT, fps=FPS, timeout=2.0)
    cam.start()
    try:
        frames = [cam.read() for _ in range(N_FRAMES)]
    finally:
        cam.stop()
    assert cam.intrinsics is not None and cam.intrinsics.width == WIDTH
    for f in frames:
        assert f.image.shape == (HEIGHT, WIDTH, 3) and f.image.dtype == np.uint8
    assert np.all(np.diff([f.stamp for f in frames]) > 0)
    assert np.all(np.diff([f.frame_number for f in frames]) > 0)
    assert np.all(np.diff([f.device_stamp for f in frames]) > 0)
    assert np.ptp(frames[-1].image) > 0, "a constant image: is the lens covered?"
