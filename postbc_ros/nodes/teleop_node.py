"""teleop_node: a teleop device drives the arm through the safety filter and is recorded.

Devices: keyboard | spacemouse | gamepad | scripted (the twin's demonstrator). While the episode
manager says `running`, each observation: the device's ee_delta action becomes a joint setpoint
(ActionAdapter) on arm/command (arm_node filters it) and (observation, action, success) goes into a
LeRobot v3 dataset (the `postbc collect` path) with `camera`'s frame paired by stamp; the scripted
operator plans from `scene_topic` (the twin's scene) when observation/state is a cell's (markers).
Device stop / success / failure / abort end the episode (`episode/label`). Once the episode manager
has `finished`, a recording node exits 0, its last demonstration saved (docs/fault_policy.md).
Logic: core.teleop_session; a message it cannot use is dropped and counted on /diagnostics. `deadman`:
the arm moves only while the enable button is held.
"""
from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()

from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from postbc_ros.core.episode_messages import parse_episode_state
from postbc_ros.core.joint_tracker import JointTracker
from postbc_ros.core.params import param
from postbc_ros.core.teleop_session import TeleopOutput, TeleopSession
from postbc_ros.data.camera_frames import CROPS, ImageFormat
from postbc_ros.data.collect import OBSERVATION_LAYOUTS, open_recorder
from postbc_ros.drivers.teleop import BACKENDS, make_teleop_device
from postbc_ros.robots import DEFAULT_ROBOT, get_robot_spec, twin_robot_names
from postbc_ros.ros import conversions as conv
from postbc_ros.ros import qos
from postbc_ros.ros.diagnostics import guarded, input_guard
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params
from postbc_ros.sim import TASK_IDS
from postbc_ros.sim.action_adapter import ActionAdapter

SEED_MAX = 2**31 - 1  # largest seed of the scripted operator (numpy's legacy seed range)
THREADS = 1  # one (default) callback group: more threads only busy-spin rclpy 9's executor (a core at 50 %)


@dataclass
class TeleopConfig:
    device: str = param("keyboard", "teleop device", choices=BACKENDS)
    device_path: str = param("", "device file (/dev/hidrawN, /dev/input/jsN, a tty; '' = auto)")
    robot: str = param(DEFAULT_ROBOT, "arm model", choices=twin_robot_names)
    task: str = param("reach", "task (stored with the demos; the scripted operator's scene)", choices=tuple(TASK_IDS))
    dataset_dir: str = param("runs/postbc/demos", "LeRobot v3 dataset the demonstrations are appended to")
    record: bool = param(True, "record demonstrations (false: drive the arm only)")
    takeover: bool = param(False, "finetuning: the policy drives until the intervene toggle, then the human (flagged)")
    seed: int = param(0, "seed of the scripted operator", range=(0, SEED_MAX))
    gripper_joint: str = param("gripper", "name of the gripper joint in JointTrajectory")
    deadman: bool = param(True, "spacemouse/gamepad: the arm moves only while the enable button is held")
    deadman_button: str = param("", "enable button: spacemouse left|right|bit, gamepad LB|RB|LT|RT|js n ('' = left/LB)")
    observation: str = param("twin", "observation/state: twin (task vector) | markers | proprio", choices=OBSERVATION_LAYOUTS)
    scene_topic: str = param("", "the twin's scene vector the scripted operator plans from ('' = observation/state)")
    camera: str = param("", "camera whose frames each recorded step stores (camera/<camera>/image_raw; '' = none)")
    image_size: int = param(96, "side of the stored square images (pixels)", range=(16, 1024))
    image_crop: str = param("center", "center: the central square, resized (as the twin) | none", choices=CROPS)


CONFIG = TeleopConfig


class TeleopNode(Node):
    def __init__(self):
        super().__init__("teleop")
        self.cfg = c = declare_params(self, TeleopConfig)
        adapter = ActionAdapter(c.robot, c.task, "ee_delta")
        env = adapter.env  # kinematic mirror of the scene (IK; the scripted operator's view)
        self.dt, self.names = float(adapter.twin.control_dt), list(adapter.twin.joint_names) + [c.gripper_joint]
        scripted = c.device == "scripted"
        device = make_teleop_device("scripted", env=env, seed=int(c.seed)) if scripted else make_teleop_device(
            c.device, path=c.device_path or None, deadman=c.deadman, deadman_button=c.deadman_button)
        image = ImageFormat(c.image_size, c.image_crop)
        _, recorder, frames = open_recorder(env, c.dataset_dir, c.task, c.robot, c.observation, camera=c.camera,
                                            image=image) if c.record else [None] * 3
        self.guard = input_guard(self)
        self.session = TeleopSession(device, adapter, len(get_robot_spec(c.robot).joint_names), recorder=recorder,
                                     takeover=c.takeover, mirror=env if scripted else None, log=self.get_logger(),
                                     guard=self.guard, frames=frames, scene_view=bool(c.scene_topic))
        self.work_done = False  # True: run_node's loop ends and the process exits 0 (the collect is complete)
        self.lock = threading.Lock()
        self.joints = JointTracker(self.names[:-1], self.get_logger().warning,
                                   hint="Check the robot and gripper_joint parameters.")
        self.pub_cmd = self.create_publisher(JointTrajectory, "arm/command", qos.COMMAND)
        self.pub_label = self.create_publisher(String, "episode/label", qos.STATE)
        self.pub_status = self.create_publisher(String, "teleop/status", qos.LATCHED)
        self.pub_intervention = self.create_publisher(Bool, "teleop/intervention", qos.STATE)
        self.pub_action = self.create_publisher(Float32MultiArray, "teleop/action", qos.STATE)
        self.create_subscription(JointState, "joint_states", self.joints.update, qos.STATE)
        self.create_subscription(JointState, "observation/state", self._on_obs, qos.STATE)
        self.create_subscription(Bool, "task/success", lambda m: self.session.on_success(m.data), qos.STATE)
        self.create_subscription(String, "episode/state", self._on_episode, qos.EVENTS)
        if frames is not None:
            self.create_subscription(Image, f"camera/{c.camera}/image_raw", guarded(self.guard, lambda m: self.session.frame(
                c.camera, conv.from_time(m.header.stamp), conv.msg_to_image(m)), "image"), qos.IMAGE)
        if c.scene_topic:
            self.create_subscription(JointState, c.scene_topic, guarded(
                self.guard, lambda m: self.session.on_scene(conv.vector_from_msg(m)), "scene"), qos.STATE)
        self.pub_status.publish(String(data=json.dumps({"ready": True, "device": c.device})))
        self.get_logger().info(f"{c.device} teleop, " + (f"recording to {c.dataset_dir}" if c.record else "driving only"))

    def _on_episode(self, msg):
        event = self.guard.check(parse_episode_state, msg.data)
        if event is not None:
            with self.lock:
                self._send(self.session.on_episode(event), t_obs=None)
            self.work_done = self.session.finished

    def _on_obs(self, msg):
        with self.lock:  # an observation the session cannot use is dropped and counted, never raised
            t = conv.from_time(msg.header.stamp)
            out = self.guard.check(lambda m: self.session.observe(conv.vector_from_msg(m), self.joints.q, t), msg,
                                   "observation")
            if out is not None:
                self._send(out, t)

    def _send(self, out: TeleopOutput, t_obs: float | None):
        if out.intervention is not None:
            self.pub_intervention.publish(Bool(data=out.intervention))
        if out.label is not None:
            self.pub_label.publish(String(data=json.dumps(out.label)))
        if out.target is not None or out.hold:  # a hold: no points
            target = out.target if out.target is not None else np.empty((0, len(self.names)))
            self.pub_cmd.publish(conv.trajectory_msg(self.names, target, t_obs, self.dt, start_index=1))
        if out.action is not None:
            self.pub_action.publish(Float32MultiArray(data=[float(x) for x in out.action]))

    def close(self):
        with self.lock:
            self.session.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(TeleopNode, argv, threads=THREADS)


if __name__ == "__main__":
    sys.exit(main())
