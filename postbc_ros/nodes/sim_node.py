"""sim_node: the MuJoCo twin as a robot behind ROS 2 topics (a ros2_control stand-in).

Steps the twin (postbc_ros.sim) at its control period, in real time times `real_time_factor`,
and is the clock of the simulated graph (publishes /clock; the other nodes run with
use_sim_time). Like a ros2_control joint_trajectory_controller + joint_state_broadcaster it

* accepts trajectory_msgs/JointTrajectory on `joint_trajectory` (empty = hold; header.stamp 0 =
  start now; points in the past dropped; linear interpolation between points),
* publishes sensor_msgs/JointState on `joint_states` (arm joints + `gripper` 0..1),

and as the twin of the scene it publishes the task observation vector (`observation/state`,
labelled JointState), the success detector (`task/success`, std_msgs/Bool), the scene camera
(`camera/scene/image_raw` + `camera_info`), and serves `reset_scene` (std_srvs/Trigger) which
sends the arm home and randomises the scene (the twin's answer to the human reset). While a node
other than `command_source` (the arm) publishes `joint_trajectory`, the twin holds and refuses
trajectories (docs/fault_policy.md). `postbc_ros.core.twin_loop.TwinLoop` decides (ROS-free).
"""
from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from rclpy.node import Node  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.core.safety import load_safety_limits  # noqa: E402
from postbc_ros.core.twin_loop import TwinLoop  # noqa: E402
from postbc_ros.drivers.camera.sim import twin_camera_intrinsics  # noqa: E402
from postbc_ros.graph.spec import resolve_name  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, get_robot, twin_robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv  # noqa: E402
from postbc_ros.ros import qos  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.ros.publisher_watch import PublisherWatch  # noqa: E402
from postbc_ros.sim import TASK_IDS, make_env  # noqa: E402

SCENE_CAMERA = "scene"  # the twin's camera published on camera/scene/...
SCENE_FRAME = "scene_camera"  # its optical frame id
EXECUTOR_THREADS = 1  # every callback in the thread that created the EGL context
PUBLISHER_CHECK_S = 0.5  # s between looks at who publishes joint_trajectory (not per message)
REFUSAL_LOG_S = 1.0  # s: refused trajectories are logged at most this often


@dataclass
class SimConfig:
    robot: str = param(DEFAULT_ROBOT, "twin arm model", choices=twin_robot_names)
    task: str = param("reach", "twin task (scene objects and success detector)", choices=tuple(TASK_IDS))
    seed: int = param(0, "seed of the scene randomisation (each reset draws the next layout)", range=(0, 2**31 - 1))
    real_time_factor: float = param(1.0, "simulated seconds per wall-clock second", range=(0.05, 20.0))
    camera_size: int = param(96, "scene camera image size (pixels, square)", range=(16, 480), live=True)
    camera_rate: float = param(10.0, "scene camera frame rate in simulated Hz (0 = no images)", range=(0.0, 60.0),
                               live=True)
    frame_id: str = param("base_link", "frame of the joint states / observation", live=True)
    gripper_joint: str = param("gripper", "name of the normalised gripper joint in JointState / trajectories")
    command_source: str = param("arm", "only node that may publish joint_trajectory (in this namespace or absolute)")
    safety_rig: str = param("", "rig whose max_step bounds a trajectory's first jump ('' = the robot's twin rig)")


CONFIG = SimConfig


class SimNode(Node):
    def __init__(self, **node_options):
        super().__init__("sim", **node_options)
        self.cfg = declare_params(self, SimConfig)
        env = make_env(self.cfg.robot, self.cfg.task, obs_mode="state", seed=self.cfg.seed)
        rig = self.cfg.safety_rig or get_robot(self.cfg.robot).twin_rig
        source = resolve_name(self.get_namespace(), self.cfg.command_source)
        self.loop = TwinLoop(env, self.cfg.gripper_joint, self.cfg.seed, self.get_clock().now().nanoseconds * 1e-9,
                             max_step=load_safety_limits(rig).max_step, command_source=source)  # clock: wall time
        self._lock = threading.Lock()
        self.watch = PublisherWatch(self, "joint_trajectory", PUBLISHER_CHECK_S, self._on_publishers, self.cfg.robot)
        self.pub_clock = self.create_publisher(Clock, "/clock", qos.STATE)
        self.pub_js = self.create_publisher(JointState, "joint_states", qos.STATE)
        self.pub_obs = self.create_publisher(JointState, "observation/state", qos.STATE)
        self.pub_success = self.create_publisher(Bool, "task/success", qos.STATE)
        self.pub_img = self.create_publisher(Image, f"camera/{SCENE_CAMERA}/image_raw", qos.IMAGE)
        self.pub_info = self.create_publisher(CameraInfo, f"camera/{SCENE_CAMERA}/camera_info", qos.IMAGE)
        self.create_subscription(JointTrajectory, "joint_trajectory", self._on_traj, qos.COMMAND)
        self.create_service(Trigger, "reset_scene", self._on_reset)
        self.create_timer(self.loop.dt / self.cfg.real_time_factor, self._tick)
        self._publish(success=False)
        self.get_logger().info(
            f"twin {self.cfg.robot}/{self.cfg.task} at {1 / self.loop.dt:.0f} Hz x{self.cfg.real_time_factor}")

    def _on_publishers(self, names: list[str]):
        with self._lock:
            report = self.loop.publishers(names)
        if report:
            self.watch.report(bool(self.loop.controller.intruders), report, self.loop.time)

    def _on_traj(self, msg):
        self.watch.check()
        stamp, names, times, positions = conv.trajectory_arrays(msg)
        with self._lock:
            rejected = self.loop.command(stamp, names, positions, times)
        if rejected:
            self.watch.report(True, rejected, self.loop.time, throttle=REFUSAL_LOG_S)

    def _tick(self):
        with self._lock:
            success = self.loop.tick()
        self._publish(success)

    def _publish(self, success: bool):
        t = self.loop.time
        self.pub_clock.publish(Clock(clock=conv.to_time(t)))
        names, q, dq = self.loop.joint_state()
        self.pub_js.publish(conv.joint_state_msg(names, q, t, velocity=dq))
        # success first: a node deciding on this tick's observation already knows the outcome
        self.pub_success.publish(Bool(data=success))
        obs, labels = self.loop.observation()
        self.pub_obs.publish(conv.vector_msg(obs, t, labels, self.cfg.frame_id))
        if self.loop.frame_due(self.cfg.camera_rate):
            size = int(self.cfg.camera_size)
            self.pub_img.publish(conv.image_to_msg(self.loop.twin.render(SCENE_CAMERA, size), t, SCENE_FRAME))
            intr = twin_camera_intrinsics(self.loop.twin, SCENE_CAMERA, size, size)
            self.pub_info.publish(conv.camera_info_from(intr, t, SCENE_FRAME))

    def _on_reset(self, _req, res):
        with self._lock:
            drawn = self.loop.reset()
        self._publish(success=False)
        res.success, res.message = True, json.dumps(drawn)
        self.get_logger().info(f"scene reset #{drawn['reset']} (seed {drawn['seed']})")
        return res

    def close(self):
        self.loop.env.close()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose a backend
    return run_node(SimNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
