"""teleop_node: a teleop device drives the arm through the safety filter and is recorded.

Devices (postbc_ros.drivers.teleop): keyboard | spacemouse | gamepad, or the `scripted` operator
(the twin's multimodal demonstrator, which sees the scene through the ROS observation). While
the episode manager says `running`, every new observation frame: read the device, convert its
ee_delta action to a joint setpoint (ActionAdapter: the env's own IK code), publish it on
arm/command (the arm_node safety-filters it) and record (observation, action, success) with the
dataset recorder (postbc_ros.data, LeRobot v3 layout) -- the same recording path as
`postbc collect`. Device events stop / success / failure / abort end the episode through
`episode/label`; the episode is saved with the manager's label (abort discards it). What happens
between messages is postbc_ros.core.teleop_session; this node converts messages. A device action
or a message it cannot use (NaN, wrong shape, malformed episode/state) is dropped and counted on
/diagnostics (ros.diagnostics); the node stays up and the operator keeps the arm. `deadman`: the arm
moves only while the enable button is held, else each observation sends a hold (empty arm/command).
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
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from postbc_ros.core.episode_messages import parse_episode_state
from postbc_ros.core.joint_tracker import JointTracker
from postbc_ros.core.params import param
from postbc_ros.core.teleop_session import TeleopOutput, TeleopSession
from postbc_ros.data import DatasetWriter
from postbc_ros.data.collect import EpisodeRecorder, env_fps, features_from_env
from postbc_ros.drivers.teleop import BACKENDS, make_teleop_device
from postbc_ros.robots import DEFAULT_ROBOT, get_robot_spec, twin_robot_names
from postbc_ros.ros import conversions as conv
from postbc_ros.ros import qos
from postbc_ros.ros.diagnostics import input_guard
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params
from postbc_ros.sim import TASK_IDS
from postbc_ros.sim.action_adapter import ActionAdapter

SEED_MAX = 2**31 - 1  # largest seed of the scripted operator (numpy's legacy seed range)
THREADS = 1  # one (default) callback group: more threads only busy-spin rclpy 9's executor (a core at 50 %)
JOINTS_HINT = ("Teleop cannot command the arm without them: check the robot and gripper_joint parameters "
               "against the arm driver's joint names.")


@dataclass
class TeleopConfig:
    device: str = param("keyboard", "teleop device", choices=BACKENDS)
    device_path: str = param("", "device file (/dev/hidrawN, /dev/input/jsN, a tty; '' = auto)")
    robot: str = param(DEFAULT_ROBOT, "arm model", choices=twin_robot_names)
    task: str = param("reach", "task (name stored with the demos; scene model for the scripted operator)",
                      choices=tuple(TASK_IDS))
    dataset_dir: str = param("runs/postbc/demos", "LeRobot v3 dataset the demonstrations are appended to")
    record: bool = param(True, "record demonstrations (false: drive the arm only)")
    takeover: bool = param(False, "finetuning mode: the policy drives until the operator's intervene toggle; "
                           "then the human drives and the steps are flagged as interventions in the replay buffer")
    seed: int = param(0, "seed of the scripted operator", range=(0, SEED_MAX))
    gripper_joint: str = param("gripper", "name of the gripper joint in JointTrajectory")
    deadman: bool = param(True, "spacemouse/gamepad: the arm moves only while the enable button is held")
    deadman_button: str = param("", "enable button: spacemouse left|right|bit, gamepad LB|RB|LT|RT|js button "
                                "('' = left / LB)")


CONFIG = TeleopConfig


class TeleopNode(Node):
    def __init__(self):
        super().__init__("teleop")
        self.cfg = c = declare_params(self, TeleopConfig)
        adapter = ActionAdapter(c.robot, c.task, "ee_delta")
        env = adapter.env  # kinematic mirror of the scene (IK; the scripted operator's view)
        self.dt = float(adapter.twin.control_dt)
        self.names = list(adapter.twin.joint_names) + [c.gripper_joint]
        scripted = c.device == "scripted"
        if scripted:
            device = make_teleop_device("scripted", env=env, seed=int(c.seed))
        else:
            device = make_teleop_device(c.device, path=c.device_path or None, deadman=c.deadman,
                                        deadman_button=c.deadman_button)
        self.writer = recorder = None
        if c.record:
            self.writer = DatasetWriter(c.dataset_dir, features_from_env(env), fps=env_fps(env), robot_type=c.robot)
            recorder = EpisodeRecorder(self.writer, c.task)
        self.guard = input_guard(self)
        self.session = TeleopSession(device, adapter, len(get_robot_spec(c.robot).joint_names), recorder=recorder,
                                     takeover=c.takeover, mirror=env if scripted else None, log=self.get_logger(),
                                     guard=self.guard)
        self.lock = threading.Lock()
        self.joints = JointTracker(self.names[:-1], self.get_logger().warning, hint=JOINTS_HINT)
        self.pub_cmd = self.create_publisher(JointTrajectory, "arm/command", qos.COMMAND)
        self.pub_label = self.create_publisher(String, "episode/label", qos.STATE)
        self.pub_status = self.create_publisher(String, "teleop/status", qos.LATCHED)
        self.pub_intervention = self.create_publisher(Bool, "teleop/intervention", qos.STATE)
        self.pub_action = self.create_publisher(Float32MultiArray, "teleop/action", qos.STATE)
        self.create_subscription(JointState, "joint_states", self.joints.update, qos.STATE)
        self.create_subscription(JointState, "observation/state", self._on_obs, qos.STATE)
        self.create_subscription(Bool, "task/success", lambda m: self.session.on_success(m.data), qos.STATE)
        self.create_subscription(String, "episode/state", self._on_episode, qos.EVENTS)
        self.pub_status.publish(String(data=json.dumps({"ready": True, "device": c.device})))
        self.get_logger().info(f"{c.device} teleop; recording to {c.dataset_dir}" if recorder
                               else f"{c.device} teleop (not recording)")

    def _on_episode(self, msg):
        event = self.guard.check(parse_episode_state, msg.data)
        if event is not None:
            with self.lock:
                self._send(self.session.on_episode(event), t_obs=None)

    def _on_obs(self, msg):
        with self.lock:  # an observation the session cannot use is dropped and counted, never raised
            out = self.guard.check(lambda m: self.session.observe(conv.vector_from_msg(m), self.joints.q), msg,
                                   "observation")
            if out is not None:
                self._send(out, conv.from_time(msg.header.stamp))

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
            if self.writer is not None:
                self.writer.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(TeleopNode, argv, threads=THREADS)


if __name__ == "__main__":
    sys.exit(main())
