"""sim_node: the MuJoCo twin as a robot behind ROS 2 topics (a ros2_control stand-in).

Steps the twin (postbc_ros.sim) at its control period, in real time times `real_time_factor`, and is
the clock of the simulated graph (/clock; the others use_sim_time). Like a ros2_control
joint_trajectory_controller + joint_state_broadcaster it accepts trajectory_msgs/JointTrajectory on
`joint_trajectory` (empty = hold; stamp 0 = now; past points dropped; linear interpolation) and
publishes `joint_states` (arm joints + `gripper` 0..1). As the scene's twin it publishes the
observation (`observation/state`, labelled JointState: `observation` markers = joints + marker poses
perceived in the twin camera's frames, as a real cell; privileged = the twin's task vector, which with
markers goes to `operator/scene` for the scripted operator only), `task/success`, the scene camera
(`camera/scene/image_raw` + `camera_info`), and serves `reset_scene` (Trigger: arm home, scene
randomised, the human reset's twin). While a node other than `command_source` (the arm) publishes
`joint_trajectory`, the twin holds and refuses trajectories. TwinLoop (core.twin_loop) decides.
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
from postbc_ros.sim.task_params import DEFAULT_TWIN_OBSERVATION, TWIN_OBSERVATIONS  # noqa: E402

SCENE_CAMERA = "scene"  # the twin's camera published on camera/scene/...
SCENE_FRAME = "scene_camera"  # its optical frame id
EXECUTOR_THREADS = 1  # every callback in the thread that created the EGL context
PUBLISHER_CHECK_S = 0.5  # s between looks at who publishes joint_trajectory (not per message)
REFUSAL_LOG_S = 1.0  # s: refused trajectories are logged at most this often


@dataclass
class SimConfig:
    robot: str = param(DEFAULT_ROBOT, "twin arm model", choices=twin_robot_names)
    task: str = param("reach", "twin task (scene objects and success detector)", choices=tuple(TASK_IDS))
    observation: str = param(DEFAULT_TWIN_OBSERVATION, "observation/state: markers (joints + perceived marker poses, "
                             "a real cell's) | proprio (joints, gripper, tool: image mode) | privileged (sim only)", choices=tuple(TWIN_OBSERVATIONS))
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
        self.cfg = c = declare_params(self, SimConfig)
        env = make_env(c.robot, c.task, obs_mode=TWIN_OBSERVATIONS[c.observation], seed=c.seed)
        rig = self.cfg.safety_rig or get_robot(self.cfg.robot).twin_rig
        source = resolve_name(self.get_namespace(), self.cfg.command_source)
        self.loop = TwinLoop(env, self.cfg.gripper_joint, self.cfg.seed, self.get_clock().now().nanoseconds * 1e-9,
                             max_step=load_safety_limits(rig).max_step, command_source=source)  # clock: wall time
        self._lock = threading.Lock()
        self.watch = PublisherWatch(self, "joint_trajectory", PUBLISHER_CHECK_S, self._on_publishers, self.cfg.robot)
        self.pub_clock = self.create_publisher(Clock, "/clock", qos.STATE)
        self.pub_js = self.create_publisher(JointState, "joint_states", qos.STATE)
        self.pub_vec = {t: self.create_publisher(JointState, t, qos.STATE) for t in self.loop.vector_topics}
        self.pub_success = self.create_publisher(Bool, "task/success", qos.STATE)
        self.pub_img = self.create_publisher(Image, f"camera/{SCENE_CAMERA}/image_raw", qos.IMAGE)
        self.pub_info = self.create_publisher(CameraInfo, f"camera/{SCENE_CAMERA}/camera_info", qos.IMAGE)
        self.create_subscription(JointTrajectory, "joint_trajectory", self._on_traj, qos.COMMAND)
        self.create_service(Trigger, "reset_scene", self._on_reset)
        self.create_timer(self.loop.dt / self.cfg.real_time_factor, self._tick)
        self._publish(success=False)
        self.get_logger().info(f"twin {self.cfg.robot}/{self.cfg.task} at {1 / self.loop.dt:.0f} Hz "
                               f"x{self.cfg.real_time_factor}, observation: {self.cfg.observation}")

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
        for topic, vec, labels in self.loop.vectors():  # observation/state (+ operator/scene)
            self.pub_vec[topic].publish(conv.vector_msg(vec, t, labels, self.cfg.frame_id))
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
