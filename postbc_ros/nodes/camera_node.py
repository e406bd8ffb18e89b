"""camera_node: sensor_msgs/Image + CameraInfo (+ aligned depth) from a camera backend (postbc_ros.drivers.camera).

Backends realsense | opencv | sim. A capture thread reads frames at `fps` (core.rate_pacer); each
image is stamped with the capture time the driver computed (device global time, or arrival minus
the latency of calibration/<rig>/camera_<name>.yaml -- subtracted there only); this node only
converts time.monotonic to ROS time. With
`depth` (realsense) camera/<name>/depth/image_raw carries 16UC1 millimetres aligned to the colour
image, same stamp. An unplugged camera is reopened with backoff (drivers.camera.supervisor):
meanwhile nothing is published (never the last frame again) and /diagnostics says WARN; after
`max_reopen_s` it gives up with ERROR. Images go out with reliable QoS (best-effort loses large
frames on Fast DDS); the launch sets Fast DDS's large-data transport.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from rclpy.node import Node  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.core.rate_pacer import RatePacer  # noqa: E402
from postbc_ros.drivers.camera import BACKENDS, make_camera  # noqa: E402
from postbc_ros.drivers.camera.supervisor import FAILED, STREAMING, CameraGaveUp, CameraSupervisor, ReopenPolicy  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, twin_robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv, diagnostics, qos  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.sim import TASK_IDS  # noqa: E402

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
    depth: bool = param(False, "realsense: also publish depth aligned to colour (camera/<name>/depth/image_raw, 16UC1 mm)")
    max_reopen_s: float = param(0.0, "give up reopening an unplugged camera after (s; 0 = never)", range=(0.0, 86400.0))


CONFIG = CameraConfig


def camera_kwargs(cfg: CameraConfig) -> dict[str, Any]:
    """The parameters of `cfg.backend`'s driver (drivers.camera.make_camera)."""
    return {"realsense": dict(serial=cfg.serial, width=cfg.width, height=cfg.height, fps=cfg.fps, depth=cfg.depth),
            "opencv": dict(source=cfg.source, width=cfg.width, height=cfg.height, fps=float(cfg.fps)),
            "sim": dict(camera=cfg.camera_name, width=cfg.width, height=cfg.height, robot=cfg.robot, task=cfg.task)}[cfg.backend]


def device_to_ros_offset() -> float:
    """Camera drivers stamp frames with time.monotonic(); ROS stamps are wall (or sim) time."""
    return time.time() - time.monotonic()


def depth_to_msg(depth, stamp: float, frame_id: str) -> Image:
    """uint16 H x W millimetres -> sensor_msgs/Image 16UC1 (little-endian)."""
    msg = conv.image_to_msg(depth.view("<u1").reshape(depth.shape[0], -1), stamp, frame_id)
    msg.width, msg.encoding = depth.shape[1], "16UC1"  # step stays 2 * width
    return msg


class CameraNode(Node):
    def __init__(self, **node_options):
        super().__init__("camera", **node_options)
        self.cfg = declare_params(self, CameraConfig)
        name = self.cfg.camera_name
        calib = (self.cfg.rig, name) if self.cfg.rig else None
        self.cam = make_camera(self.cfg.backend, calibration=calib, **camera_kwargs(self.cfg))
        self.cam.log = self._log
        self.sup = CameraSupervisor(self.cam, ReopenPolicy(self.cfg.max_reopen_s), on_state=lambda s, m: self._diagnose())
        self.frame_id = self.cfg.frame_id or f"{name}_camera"
        self.pub_img = self.create_publisher(Image, f"camera/{name}/image_raw", qos.IMAGE)
        self.pub_info = self.create_publisher(CameraInfo, f"camera/{name}/camera_info", qos.IMAGE)
        self.pub_depth = self.create_publisher(Image, f"camera/{name}/depth/image_raw", qos.IMAGE) if self.cfg.depth else None
        self.pub_diag = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, diagnostics.QUEUE)
        self.frames, self.stamp_source, self._stop = 0, "", threading.Event()
        self.cam.start()
        self.create_timer(diagnostics.PERIOD_S, self._diagnose)
        self.thread = threading.Thread(target=self._capture, daemon=True)
        self.thread.start()
        self.get_logger().info(f"{self.cfg.backend} camera '{name}' streaming; intrinsics: {self.cam.intrinsics_source}; "
                               f"latency {self.cam.latency * 1e3:.1f} ms (the driver applies it once)")

    def _log(self, level: int, msg: str) -> None:
        lg = self.get_logger()
        {logging.ERROR: lg.error, logging.WARNING: lg.warning}.get(level, lg.info)(msg)

    def _diagnose(self) -> None:
        s = self.sup
        values = {"state": s.state, "frames": self.frames, "stamp_source": self.stamp_source,
                  "intrinsics": self.cam.intrinsics_source, "reopen_attempts": s.attempts, "reopens": s.reopens}
        msg = DiagnosticArray(status=[DiagnosticStatus(
            level={STREAMING: DiagnosticStatus.OK, FAILED: DiagnosticStatus.ERROR}.get(s.state, DiagnosticStatus.WARN),
            name=self.get_fully_qualified_name() + "/camera", message=s.message or s.state, hardware_id=self.cfg.backend,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def _capture(self):
        pacer = RatePacer(self.cfg.fps)
        while not self._stop.is_set():
            pacer.wait()
            try:
                f = self.sup.next_frame()
            except CameraGaveUp:
                return  # logged and on /diagnostics (ERROR) by the supervisor
            if f is None:
                continue  # camera away or a missed frame: publish nothing rather than a stale image
            stamp = f.stamp + device_to_ros_offset()  # capture time, monotonic -> ROS time; latency already applied
            self.pub_img.publish(conv.image_to_msg(f.image, stamp, self.frame_id))
            intr = f.intrinsics or self.cam.intrinsics
            if intr is not None:
                self.pub_info.publish(conv.camera_info_from(intr, stamp, self.frame_id))
            if self.pub_depth is not None and f.depth is not None:
                self.pub_depth.publish(depth_to_msg(f.depth, stamp, self.frame_id))
            self.frames, self.stamp_source = self.frames + 1, f.stamp_source

    def close(self):
        self._stop.set()
        self.thread.join(timeout=CLOSE_JOIN_S)
        self.cam.stop()


def main(argv: list[str] | None = None) -> int:
    return run_node(CameraNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
