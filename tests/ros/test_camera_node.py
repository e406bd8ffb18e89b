"""camera_node as its own process (sim backend: the twin's scene camera rendered headless):
sensor_msgs/Image + CameraInfo from the rig's calibration, both stamped with the capture time --
the rig's latency subtracted once (by the driver), not again by the node."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from postbc_ros.ros.bootstrap import dds_env

from .harness import Probe, stop_node_process, unique_domain

ROOT = Path(__file__).resolve().parents[2]
LATENCY = 0.5  # s, in the test rig's camera file: subtracted twice, a stamp would be >= 1.0 s old on arrival


def test_camera_node_publishes_stamped_images_and_camera_info(tmp_path):
    """sim backend (the twin's scene camera rendered headless), paced at `fps`, with a rig whose
    camera latency is LATENCY: the stamp is the render time minus LATENCY, exactly once."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from sensor_msgs.msg import CameraInfo, Image

    from postbc_ros.ros import conversions as conv
    from postbc_ros.ros import qos

    dom = unique_domain()
    cal = yaml.safe_load((ROOT / "calibration/widowx_twin/camera_scene.yaml").read_text())
    cal["latency"] = {"mean_s": LATENCY, "std_s": 0.0, "method": "test"}
    (tmp_path / "calib" / "testrig").mkdir(parents=True)
    (tmp_path / "calib" / "testrig" / "camera_scene.yaml").write_text(yaml.safe_dump(cal))
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/robot1/camera": {"ros__parameters": {
        "backend": "sim", "robot": "widowx", "task": "reach", "width": 96, "height": 80, "fps": 10, "rig": "testrig"}}}))
    env = dds_env(domain_id=dom, base=dict(os.environ, PYTHONPATH=str(ROOT), MUJOCO_GL="egl",
                                           POSTBC_CALIBRATION_DIR=str(tmp_path / "calib")))
    proc = subprocess.Popen([sys.executable, "-m", "postbc_ros.nodes.camera_node", "--ros-args", "-r",
                             "__node:=camera", "-r", "__ns:=/robot1", "--params-file", str(params)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    probe = Probe(dom)
    try:
        imgs = probe.subscribe(Image, "/robot1/camera/scene/image_raw", qos.IMAGE)
        infos = probe.subscribe(CameraInfo, "/robot1/camera/scene/camera_info", qos.IMAGE)
        diags = probe.subscribe(DiagnosticArray, "/diagnostics", 10)
        probe.wait_for(lambda: len(imgs) >= 5 and len(infos) >= 5, 40, "camera frames")
        arrival = probe.arrivals["/robot1/camera/scene/image_raw"][-1]
        m = imgs[-1]
        img = conv.msg_to_image(m)
        assert img.shape == (80, 96, 3) and m.encoding == "rgb8" and img.std() > 5  # a rendered scene
        # image and info of one capture carry the same stamp (they arrive one after the other, so
        # pair them by stamp rather than taking the last of each list)
        probe.wait_for(lambda: any(i.header.stamp == m.header.stamp for i in list(infos)), 10,
                       "camera_info with the image's stamp")
        info = next(i for i in list(infos) if i.header.stamp == m.header.stamp)
        assert (info.width, info.height) == (96, 80) and info.k[0] > 0 and info.k[2] == 48.0
        assert info.header.frame_id == m.header.frame_id == "scene_camera"
        # capture stamp: render time minus LATENCY (once): arrival - stamp = LATENCY + transport
        age = time.time() - conv.from_time(m.header.stamp) - (time.monotonic() - arrival)
        assert LATENCY - 0.01 <= age < 2 * LATENCY, age
        probe.wait_for(lambda: any(s.name == "/robot1/camera/camera" for d in list(diags) for s in d.status), 10,
                       "the camera's /diagnostics status")
        st = next(s for d in list(diags) for s in d.status if s.name == "/robot1/camera/camera")
        kv = {v.key: v.value for v in st.values}
        assert st.level == DiagnosticStatus.OK and kv["state"] == "streaming" and kv["intrinsics"].startswith("twin model")
        stamps = [conv.from_time(x.header.stamp) for x in imgs[-4:]]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))  # paced, increasing capture times
    finally:
        probe.close()
        out = stop_node_process(proc, signal.SIGINT, 15)
    assert proc.returncode == 0, out


def test_depth_message_is_16uc1_millimetres():
    import numpy as np

    from postbc_ros.nodes.camera_node import depth_to_msg
    from postbc_ros.ros import conversions as conv

    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 700  # up to 7.7 m: both bytes used
    m = depth_to_msg(depth, 12.5, "scene_camera")
    assert (m.height, m.width, m.step, m.encoding, m.is_bigendian) == (3, 4, 8, "16UC1", 0)
    assert conv.from_time(m.header.stamp) == 12.5 and m.header.frame_id == "scene_camera"
    back = np.frombuffer(bytes(m.data), dtype="<u2").reshape(3, 4)
    np.testing.assert_array_equal(back, depth)
