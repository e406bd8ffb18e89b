"""observation_node: what a real cell's policy and recorder observe (`observation/state`), from
the arm's `joint_states` and the scene camera -- nothing privileged.

Every camera frame runs the marker perception (ArUco markers on the task objects, poses in the
arm's base frame from the rig's calibration) and the observation assembler pairs it with the
joint state nearest its capture stamp (`perception.cell_observation.CellObservation`). The result
goes out on `observation/state` (a JointState used as a stamped vector, entries named), the same
layout as the twin's `markers` observation mode. When an input is missing or stale (a camera that
stopped, a marker never seen) nothing is published -- never a stale observation -- and the reason
is counted on /diagnostics: the policy gets no observation and the arm's watchdog holds it.

`layout:=proprio` (a cell without markers, for image policies): joints, gripper and tool point
only -- the state of the twin's `image` observation mode -- with no marker perception; each camera
frame still paces the observation (camera:='' : a timer at `rate` does, from joint_states alone).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from postbc_ros.core.episode_messages import parse_episode_state  # noqa: E402
from postbc_ros.core.observation_assembler import STATE_LAYOUTS  # noqa: E402
from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.perception.cell_observation import CellObservation  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, get_robot, robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv, qos  # noqa: E402
from postbc_ros.ros.diagnostics import guarded, input_guard  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.sim.task_params import CONTROL_DT  # noqa: E402


@dataclass
class ObservationConfig:
    robot: str = param(DEFAULT_ROBOT, "arm model (joint names, forward kinematics, the task's marker map)",
                       choices=robot_names)
    task: str = param("reach", "task whose objects carry the markers (robots' TwinData.markers)")
    rig: str = param("", "calibration/<rig>/camera_<camera>.yaml with intrinsics + extrinsics ('' = the robot's rig)")
    layout: str = param("markers", "observation/state: markers (joints, gripper, tool + marker poses) | proprio "
                        "(joints, gripper, tool: the twin's image mode; no markers needed)", choices=STATE_LAYOUTS)
    camera: str = param("scene", "camera name: subscribes camera/<camera>/image_raw ('' = none: layout proprio only)")
    rate: float = param(1.0 / CONTROL_DT, "observations per second without a camera (Hz; with one each frame is one)",
                        range=(0.1, 1000.0))
    gripper_joint: str = param("gripper", "name of the normalised gripper joint in joint_states (0 open .. 1 closed)")
    slop: float = param(0.05, "largest capture-stamp difference paired into one observation (s)", range=(0.0, 1.0))
    max_age: float = param(0.2, "an input whose newest sample is older than this blocks the observation (s)",
                           range=(0.01, 10.0))
    frame_id: str = param("base_link", "frame_id of observation/state")


CONFIG = ObservationConfig


class ObservationNode(Node):
    def __init__(self, **node_options):
        super().__init__("observation", **node_options)
        self.cfg = c = declare_params(self, ObservationConfig)
        self.cell = CellObservation(c.robot, c.task, c.rig or get_robot(c.robot).rig, c.camera, c.slop, c.max_age,
                                    clock=self.now, layout=c.layout)
        self.joints, self.last_stamp = list(self.cell.spec.joint_names), None
        self.guard = input_guard(self)
        self.pub = self.create_publisher(JointState, "observation/state", qos.STATE)
        self.create_subscription(JointState, "joint_states", guarded(self.guard, self._on_joints, "joint_states"),
                                 qos.STATE)
        if c.camera:
            self.create_subscription(Image, f"camera/{c.camera}/image_raw", guarded(self.guard, self._on_frame, "image"),
                                     qos.IMAGE)
        else:
            self.create_timer(1.0 / c.rate, self._publish)
        self.create_subscription(String, "episode/state", guarded(self.guard, self._on_episode, "episode_state"),
                                 qos.EVENTS)
        self.create_timer(c.max_age, self._check)  # a camera that stopped sends no frame to refuse on
        p = self.cell.perception
        self.get_logger().info(f"observing {len(self.cell.state_names)} entries: joints, gripper, tool" + (
            f", markers {[m.name for m in p.markers]} from camera {c.camera} ({p.geometry.source})" if p else
            f" (layout {c.layout}), paced by " + (f"camera {c.camera}" if c.camera else f"{c.rate:g} Hz")))

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joints(self, msg):
        index = {n: i for i, n in enumerate(msg.name)}
        if any(n not in index for n in self.joints):
            return  # another arm's, or a partial message
        g = msg.position[index[self.cfg.gripper_joint]] if self.cfg.gripper_joint in index else 0.0
        self.cell.joint_state(conv.from_time(msg.header.stamp), conv.joint_positions(msg, self.joints), float(g))

    def _on_frame(self, msg):
        self.cell.frame(conv.from_time(msg.header.stamp), conv.msg_to_image(msg))
        self._publish()

    def _publish(self):
        obs = self._check()
        if obs is not None and obs.stamp != self.last_stamp:  # a timer faster than joint_states: no repeats
            self.last_stamp = obs.stamp
            self.pub.publish(conv.vector_msg(obs.observation["observation.state"], obs.stamp, self.cell.state_names,
                                         self.cfg.frame_id))

    def _check(self):
        """The observation now, or None with the input that blocks it counted ("camera scene", ...)."""
        obs = self.cell.observation()
        if obs is None:
            self.guard.drop(self.cell.reason.split(":")[0], self.cell.reason)
        return obs

    def _on_episode(self, msg):
        if parse_episode_state(msg.data)["state"] == "reset":
            self.cell.reset()


def main(argv: list[str] | None = None) -> int:
    return run_node(ObservationNode, argv)


if __name__ == "__main__":
    sys.exit(main())
