"""`ros2_control` arm backend: talk to a joint_trajectory_controller over ROS 2 topics.

The same interface the UR ROS 2 driver, Gazebo (gz_ros2_control) and our MuJoCo `sim_node`
expose:

* state:    sensor_msgs/JointState on `state_topic` (joint_state_broadcaster, default /joint_states)
* commands: trajectory_msgs/JointTrajectory on `command_topic`
            (default /joint_trajectory_controller/joint_trajectory). Each setpoint is sent as a
            one-point trajectory reached `time_from_start` after receipt (header.stamp = 0 means
            "start now" for the controller); hold = an EMPTY trajectory, which makes a
            joint_trajectory_controller stop and hold its current position.

A gripper, when the controller exposes one, is the joint named `gripper_joint` (normalised
0 = open .. 1 = closed); `gripper_joint = ""` drives the arm joints only.

The backend needs an rclpy node to create its publisher/subscription: arm_node passes itself.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from postbc_ros.ros import conversions as conv
from postbc_ros.ros import qos

CONNECT_TIMEOUT_S = 10.0  # how long connect() waits for the controller's first joint state
STATE_POLL_S = 0.05  # s between checks for that first joint state


@dataclass
class Ros2ControlState:
    q: np.ndarray
    dq: np.ndarray | None
    gripper: float | None
    stamp: float


class Ros2ControlArm:
    """Arm backend over a ros2_control joint_trajectory_controller (see module docstring)."""

    name = "ros2_control"

    def __init__(self, node, joint_names: list[str], state_topic: str = "/joint_states",
                 command_topic: str = "/joint_trajectory_controller/joint_trajectory",
                 gripper_joint: str = "gripper", setpoint_time: float = 0.1,
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        self.node = node
        self.joint_names = list(joint_names)
        self.state_topic = state_topic
        self.command_topic = command_topic
        self.gripper_joint = gripper_joint
        self.setpoint_time = float(setpoint_time)
        self.connect_timeout = float(connect_timeout)
        self._lock = threading.Lock()
        self._state: Ros2ControlState | None = None
        self._got_state = threading.Event()
        self._pub = None
        self._sub = None
        self.sent = 0  # setpoints published (for diagnostics and tests)

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        """Create the topics and wait until the controller's joint states arrive."""
        self._pub = self.node.create_publisher(JointTrajectory, self.command_topic, qos.COMMAND)
        self._sub = self.node.create_subscription(JointState, self.state_topic, self._on_state, qos.STATE)
        t_end = time.monotonic() + self.connect_timeout
        while not self._got_state.wait(STATE_POLL_S):
            if time.monotonic() > t_end:
                self.disconnect()
                raise TimeoutError(
                    f"ros2_control backend: no sensor_msgs/JointState with joints {self.joint_names} on "
                    f"{self.node.resolve_topic_name(self.state_topic)} within {self.connect_timeout:.0f} s; "
                    "is the controller (or sim_node) running in this ROS_DOMAIN_ID and namespace?")

    def disconnect(self) -> None:
        if self._pub is not None:
            self.node.destroy_publisher(self._pub)
        if self._sub is not None:
            self.node.destroy_subscription(self._sub)
        self._pub = self._sub = None
        self._got_state.clear()

    @property
    def connected(self) -> bool:
        return self._pub is not None and self._got_state.is_set()

    def _on_state(self, msg) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if any(n not in index for n in self.joint_names):
            return  # another robot's or a partial state message: not ours
        q = np.array([msg.position[index[n]] for n in self.joint_names], dtype=float)
        dq = None
        if len(msg.velocity) == len(msg.name):
            dq = np.array([msg.velocity[index[n]] for n in self.joint_names], dtype=float)
        g = None
        if self.gripper_joint and self.gripper_joint in index:
            g = float(msg.position[index[self.gripper_joint]])
        with self._lock:
            self._state = Ros2ControlState(q=q, dq=dq, gripper=g, stamp=conv.from_time(msg.header.stamp))
        self._got_state.set()

    # ------------------------------------------------------------------ robot interface
    def read_state(self) -> Ros2ControlState:
        with self._lock:
            if self._state is None:
                raise RuntimeError("ros2_control backend: no joint state received yet (call connect())")
            return self._state

    def send(self, q: np.ndarray, gripper: float | None) -> None:
        """Publish one (already safety-filtered) setpoint."""
        names = list(self.joint_names)
        row = list(np.asarray(q, dtype=float))
        if gripper is not None and self.gripper_joint:
            names.append(self.gripper_joint)
            row.append(float(gripper))
        msg = conv.trajectory_msg(names, np.array([row]), t0=0.0, dt=self.setpoint_time, start_index=1)
        self._pub.publish(msg)
        self.sent += 1

    def hold(self) -> None:
        """Empty trajectory: the controller stops and holds its current position."""
        msg = JointTrajectory()
        msg.joint_names = list(self.joint_names)
        self._pub.publish(msg)
