"""camera_node: sensor_msgs/Image + CameraInfo from a camera backend (postbc_ros.drivers.camera).

Backends realsense | opencv | sim. A capture thread reads frames as they come; each image is
stamped with its capture time (the driver's stamp minus the rig's measured latency from
calibration/<rig>/camera_<name>.yaml), not the publish time. Images go out with reliable QoS
(best-effort loses large frames on Fast DDS); the launch sets Fast DDS's large-data transport.
"""
from __future__ import annotations

import sys
import threading
import time

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("backend", "sim", "camera backend", choices=("realsense", "opencv", "sim")),
    Param("camera_name", "scene", "camera name: topics camera/<name>/..., calibration camera_<name>.yaml"),
    Param("rig", "", "calibration/<rig>/ with intrinsics and latency ('' = uncalibrated)"),
    Param("width", 640, "image width (pixels)", range=(16, 4096)),
    Param("height", 480, "image height (pixels)", range=(16, 4096)),
    Param("fps", 30, "frame rate requested from the device", range=(1, 120)),
    Param("source", "0", "opencv: device index or video file / URL"),
    Param("serial", "", "realsense: serial number ('' = first device)"),
    Param("robot", "widowx", "sim: twin arm", choices=("widowx", "ur5e")),
    Param("task", "reach", "sim: twin scene", choices=("reach", "push", "pick_place")),
    Param("frame_id", "", "optical frame id ('' = <camera_name>_camera)"),
]


def device_to_ros_offset() -> float:
    """Camera drivers stamp frames with time.monotonic(); ROS stamps are wall (or sim) time."""
    return time.time() - time.monotonic()


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image

    from postbc_ros.drivers.camera import make_camera
    from postbc_ros.ros import conversions as cv
    from postbc_ros.ros import qos
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class CameraNode(Node):
        def __init__(self):
            super().__init__("camera")
            self.p = declare_params(self, PARAMS)
            name = self.p["camera_name"]
            kw = {"realsense": dict(serial=self.p["serial"], width=self.p["width"], height=self.p["height"],
                                    fps=self.p["fps"]),
                  "opencv": dict(source=self.p["source"], width=self.p["width"], height=self.p["height"],
                                 fps=float(self.p["fps"])),
                  "sim": dict(camera=name, width=self.p["width"], height=self.p["height"],
                              robot=self.p["robot"], task=self.p["task"])}[self.p["backend"]]
            calib = (self.p["rig"], name) if self.p["rig"] else None
            self.cam = make_camera(self.p["backend"], calibration=calib, **kw)
            self.frame_id = self.p["frame_id"] or f"{name}_camera"
            self.pub_img = self.create_publisher(Image, f"camera/{name}/image_raw", qos.IMAGE)
            self.pub_info = self.create_publisher(CameraInfo, f"camera/{name}/camera_info", qos.IMAGE)
            self.frames = 0
            self._stop = threading.Event()
            self.cam.start()
            self.thread = threading.Thread(target=self._capture, daemon=True)
            self.thread.start()
            self.get_logger().info(f"{self.p['backend']} camera '{name}' streaming "
                                   f"(latency {self.cam.latency * 1e3:.1f} ms subtracted from stamps)")

        def _capture(self):
            period = 1.0 / float(self.p["fps"])  # devices pace themselves; renderers and files do not
            next_t = time.monotonic()
            while not self._stop.is_set():
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
                next_t = max(next_t, time.monotonic() - period)
                try:
                    f = self.cam.read()
                except Exception as e:  # a timeout or a disconnect: report and keep trying
                    self.get_logger().warning(f"camera read failed: {e}", throttle_duration_sec=5.0)
                    time.sleep(0.1)
                    continue
                # capture time in ROS time: driver stamp (monotonic) -> wall, minus the measured latency
                stamp = f.stamp + device_to_ros_offset() - self.cam.latency
                self.pub_img.publish(cv.image_to_msg(f.image, stamp, self.frame_id))
                intr = f.intrinsics or self.cam.intrinsics
                if intr is not None:
                    info = cv.camera_info_msg(intr.width, intr.height, intr.K.ravel(), intr.D, stamp, self.frame_id,
                                              intr.distortion_model)
                    self.pub_info.publish(info)
                self.frames += 1

        def close(self):
            self._stop.set()
            self.thread.join(timeout=2.0)
            self.cam.stop()

    return run_node(CameraNode, argv, threads=1)


if __name__ == "__main__":
    sys.exit(main())
