"""wire_twin_node: the WidowX (Dynamixel bus on a pty, sim.wire.WireTwinLoop) or UR5e (RTDE controller + physics in a
process of their own, sim.wire.rtde_twin) cell as hardware for `wire_twin:=true`, its joints the twin's, linked from
`port_link` (arm_node's `port` / `host` twin://), on wall time. Activates the arm node once the hardware answers;
publishes `task/success`, the scene camera (or serves it to camera_node's RealSense: sim.wire.camera_feed) and
`observation/state` (privileged: the scripted operator's view); serves `reset_scene` for the reset operator."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration  # noqa: E402
from postbc_ros.drivers.camera.sim import twin_camera_intrinsics  # noqa: E402
from postbc_ros.perception.camera_geometry import load_camera_geometry  # noqa: E402
from postbc_ros.robots import get_robot, get_robot_spec  # noqa: E402
from postbc_ros.ros import conversions as conv, qos  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.sim import TASK_IDS, make_env  # noqa: E402
from postbc_ros.sim.wire.camera_feed import serve_scene_camera  # noqa: E402
from postbc_ros.sim.wire.rtde_controller import STEP_TIMES  # noqa: E402
from postbc_ros.sim.wire.rtde_twin import URWireTwinLoop, link_hardware, unlink_hardware  # noqa: E402
from postbc_ros.sim.wire.servo_bridge import servo_map  # noqa: E402
from postbc_ros.sim.wire.wire_twin_loop import BRIDGE_PERIOD_S, WireTwinLoop  # noqa: E402

WIRE_ROBOTS = ("widowx", "ur5e")  # arms with a wire-level twin: Dynamixel bus / RTDE controller
SCENE_CAMERA, SCENE_FRAME = "scene", "scene_camera"  # the twin's camera and its optical frame id
ACTIVATE_POLL_S = 0.5  # s between looks for the arm node's lifecycle service
EXECUTOR_THREADS = 1  # every callback in the thread that created the EGL context


@dataclass
class WireTwinConfig:
    robot: str = param("widowx", "arm of the cell (an arm with a wire-level twin)", choices=WIRE_ROBOTS)
    task: str = param("reach", "twin task (scene objects and success detector)", choices=tuple(TASK_IDS))
    seed: int = param(0, "seed of the scene randomisation (each reset draws the next layout)", range=(0, 2**31 - 1))
    port_link: str = param("wire_twin/widowx.port", "path linked to the pty (arm_node's port) / RTDE socket (its host)")
    ur_controller: str = param("e-series", "ur5e: controller step 2 ms (e-series) or 8 ms (cb3)", choices=tuple(STEP_TIMES))
    calibration: str = param("", "motors.yaml of the servo chain ('' = calibration/<rig>/motors.yaml, as the driver)")
    arm_node: str = param("arm", "lifecycle node configured + activated once the bus answers ('' = leave it)")
    camera_size: int = param(0, "scene image height (pixels) at the calibration's aspect; 0 = its resolution", range=(0, 1080))
    camera_rate: float = param(10.0, "scene camera frame rate in Hz (0 = no images)", range=(0.0, 60.0))
    camera_feed: str = param("", "serve the scene camera here to camera_node's RealSense ('' = publish it here)")
    frame_id: str = param("base_link", "frame of the observation")
    gripper_joint: str = param("gripper", "name of the normalised gripper joint in joint_states")


CONFIG = WireTwinConfig


class WireTwinNode(Node):
    def __init__(self, **node_options):
        super().__init__("wire_twin", **node_options)
        self.cfg = c = declare_params(self, WireTwinConfig)
        env = make_env(c.robot, c.task, obs_mode="state", seed=c.seed)
        if c.robot == "ur5e":
            self.loop = URWireTwinLoop(env, c.seed, self.now(), c.gripper_joint, STEP_TIMES[c.ur_controller])
        else:
            joints, gripper = servo_map(load_widowx_calibration(  # the driver's motors.yaml, the driver's loader
                c.calibration or None, get_robot_spec(c.robot).joint_names, get_robot(c.robot).rig))
            self.loop = WireTwinLoop(env, joints, gripper, c.seed, self.now(), c.gripper_joint)
        geo = load_camera_geometry(get_robot(c.robot).twin_rig, SCENE_CAMERA)  # the camera its rig file describes
        self.frame_hw = (c.camera_size or geo.height, round((c.camera_size or geo.height) * geo.width / geo.height))
        self.intr = twin_camera_intrinsics(self.loop.twin, SCENE_CAMERA, self.frame_hw[1], self.frame_hw[0])
        self.loop.warm_up(SCENE_CAMERA if c.camera_rate > 0 else None, self.frame_hw)  # GL context before the driver
        self.loop.start()
        self.link = link_hardware(Path(c.port_link), self.loop.port)
        self.feed = serve_scene_camera(c.camera_feed, SCENE_CAMERA, self.intr, c.camera_rate)  # None: topics here
        self.measured: tuple[dict[str, float], float] | None = None
        self.pub_obs = self.create_publisher(JointState, "observation/state", qos.STATE)
        self.pub_success = self.create_publisher(Bool, "task/success", qos.STATE)
        self.pub_img = self.create_publisher(Image, f"camera/{SCENE_CAMERA}/image_raw", qos.IMAGE)
        self.pub_info = self.create_publisher(CameraInfo, f"camera/{SCENE_CAMERA}/camera_info", qos.IMAGE)
        self.create_subscription(JointState, "joint_states", self._on_joints, qos.STATE)
        self.create_service(Trigger, "reset_scene", self._on_reset)
        self.create_timer(BRIDGE_PERIOD_S, self._tick)
        if c.arm_node:  # the operator's `ros2 lifecycle set`, once the hardware answers
            self.lifecycle = self.create_client(ChangeState, f"{c.arm_node}/change_state")
            self._activation = self.create_timer(ACTIVATE_POLL_S, self._activate_arm)
        self.get_logger().info(f"wire twin {c.robot}/{c.task}: {self.loop.hardware} on {self.loop.port} (linked from {self.link})")

    def now(self) -> float:  # wall time: no /clock on a real cell
        return self.get_clock().now().nanoseconds * 1e-9

    def _activate_arm(self):
        if self.lifecycle.service_is_ready():
            self._activation.cancel()
            self._transition(Transition.TRANSITION_CONFIGURE, "configure",
                             lambda: self._transition(Transition.TRANSITION_ACTIVATE, "activate", None))

    def _transition(self, tid: int, label: str, then):
        def done(f):
            ok = f.result() is not None and f.result().success
            (self.get_logger().info if ok else self.get_logger().error)(
                f"{self.cfg.arm_node}: {label} {'done' if ok else 'refused (see the arm node log)'}")
            if ok and then is not None:
                then()
        self.lifecycle.call_async(ChangeState.Request(transition=Transition(id=tid))).add_done_callback(done)

    def _on_joints(self, msg):
        self.measured = (dict(zip(msg.name, msg.position)), conv.from_time(msg.header.stamp))

    def _tick(self):
        now = self.now()
        if not self.loop.advance(now):
            return
        self.pub_success.publish(Bool(data=self.loop.success()))  # first: a decision on this observation knows it
        obs = self.loop.observation(*(self.measured or (None, None)), now)  # measured joints and their stamp
        if obs is not None:
            self.pub_obs.publish(conv.vector_msg(obs[0], now, obs[1], self.cfg.frame_id))
        if self.loop.frame_due(self.cfg.camera_rate):
            image = self.loop.twin.render(SCENE_CAMERA, self.frame_hw)
            if self.feed is not None:  # camera_backend:=realsense: camera_node publishes it through the driver
                return self.feed.send(image, now)
            self.pub_img.publish(conv.image_to_msg(image, now, SCENE_FRAME))
            self.pub_info.publish(conv.camera_info_from(self.intr, now, SCENE_FRAME))

    def _on_reset(self, _req, res):
        drawn = self.loop.reset_scene()
        res.success, res.message = True, json.dumps(drawn)
        self.get_logger().info(f"scene reset #{drawn['reset']} (seed {drawn['seed']})")
        return res

    def close(self):
        self.get_logger().info(f"{self.loop.hardware} received: {self.loop.traffic()}")
        self.loop.close()
        self.feed is not None and self.feed.close()
        unlink_hardware(self.link, self.loop.port)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose a backend
    return run_node(WireTwinNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
