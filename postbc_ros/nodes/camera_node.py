"""camera_node: sensor_msgs/Image + CameraInfo from a camera backend (postbc_ros.drivers.camera).

Backends realsense | opencv | sim. A capture thread reads frames at `fps` (core.rate_pacer); each
image is stamped with its capture time (the driver's stamp minus the rig's measured latency from
calibration/<rig>/camera_<name>.yaml), not the publish time. Images go out with reliable QoS
(best-effort loses large frames on Fast DDS); the launch sets Fast DDS's large-data transport.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.core.rate_pacer import RatePacer  # noqa: E402
from postbc_ros.drivers.camera import BACKENDS, make_camera  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, twin_robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv, qos  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.sim import TASK_IDS  # noqa: E402

READ_RETRY_S = 0.1  # after a failed read (timeout, disconnect), wait this long before the next
READ_WARN_THROTTLE_S = 5.0  # report failed reads at most this often
CLOSE_JOIN_S = 2.0  # how long close() waits for the capture thread
EXECUTOR_THREADS = 1  # nothing to serve: frames are published from the capture thread


@dataclass
class CameraConfig:
    backend: str = param("realsense", "camera backend", choices=tuple(BACKENDS))
    camera_name: str = param("scene", "camera name: topics camera/<name>/..., calibration camera_<name>.yaml")
    rig: str = param("", "calibration/<rig>/ with intrinsics and latency ('' = uncalibrated)")
    width: int = param(640, "image width (pixels)", range=(16, 4096))
    height: int = param(480, "image height (pixels)", range=(16, 4096))
    fps: int = param(30, "frame rate requested from the device", range=(1, 120))
    source: str = param("0", "opencv: device index or video file / URL")
    serial: str = param("", "realsense: serial number ('' = first device)")
    robot: str = param(DEFAULT_ROBOT, "sim: twin arm", choices=twin_robot_names)
    task: str = param("reach", "sim: twin scene", choices=tuple(TASK_IDS))
    frame_id: str = param("", "optical frame id ('' = <camera_name>_camera)")


CONFIG = CameraConfig


def camera_kwargs(cfg: CameraConfig) -> dict[str, Any]:
    """The parameters of `cfg.backend`'s driver (drivers.camera.make_camera)."""
    return {"realsense": dict(serial=cfg.serial, width=cfg.width, height=cfg.height, fps=cfg.fps),
            "opencv": dict(source=cfg.source, width=cfg.width, height=cfg.height, fps=float(cfg.fps)),
            "sim": dict(camera=cfg.camera_name, width=cfg.width, height=cfg.height, robot=cfg.robot,
                        task=cfg.task)}[cfg.backend]


def device_to_ros_offset() -> float:
    """Camera drivers stamp frames with time.monotonic(); ROS stamps are wall (or sim) time."""
    return time.time() - time.monotonic()


class CameraNode(Node):
    def __init__(self, **node_options):
        super().__init__("camera", **node_options)
        self.cfg = declare_params(self, CameraConfig)
        name = self.cfg.camera_name
        calib = (self.cfg.rig, name) if self.cfg.rig else None
        self.cam = make_camera(self.cfg.backend, calibration=calib, **camera_kwargs(self.cfg))
        self.frame_id = self.cfg.frame_id or f"{name}_camera"
        self.pub_img = self.create_publisher(Image, f"camera/{name}/image_raw", qos.IMAGE)
        self.pub_info = self.create_publisher(CameraInfo, f"camera/{name}/camera_info", qos.IMAGE)
        self.frames = 0
        self._stop = threading.Event()
        self.cam.start()
        self.thread = threading.Thread(target=self._capture, daemon=True)
        self.thread.start()
        self.get_logger().info(f"{self.cfg.backend} camera '{name}' streaming "
                               f"(latency {self.cam.latency * 1e3:.1f} ms subtracted from stamps)")

    def _capture(self):
        pacer = RatePacer(self.cfg.fps)
        while not self._stop.is_set():
            pacer.wait()
            try:
                f = self.cam.read()
            except Exception as e:  # a timeout or a disconnect: report and keep trying
                self.get_logger().warning(f"camera read failed: {e}", throttle_duration_sec=READ_WARN_THROTTLE_S)
                time.sleep(READ_RETRY_S)
                continue
            # capture time in ROS time: driver stamp (monotonic) -> wall, minus the measured latency
            stamp = f.stamp + device_to_ros_offset() - self.cam.latency
            self.pub_img.publish(conv.image_to_msg(f.image, stamp, self.frame_id))
            intr = f.intrinsics or self.cam.intrinsics
            if intr is not None:
                self.pub_info.publish(conv.camera_info_from(intr, stamp, self.frame_id))
            self.frames += 1

    def close(self):
        self._stop.set()
        self.thread.join(timeout=CLOSE_JOIN_S)
        self.cam.stop()


def main(argv: list[str] | None = None) -> int:
    return run_node(CameraNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
