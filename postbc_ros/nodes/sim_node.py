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
sends the arm home and randomises the scene (the twin's answer to the human reset).
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("robot", "widowx", "twin arm model", choices=("widowx", "ur5e")),
    Param("task", "reach", "twin task (scene objects and success detector)", choices=("reach", "push", "pick_place")),
    Param("seed", 0, "seed of the scene randomisation (each reset draws the next layout)", range=(0, 2**31 - 1)),
    Param("real_time_factor", 1.0, "simulated seconds per wall-clock second", range=(0.05, 20.0)),
    Param("camera_size", 96, "scene camera image size (pixels, square)", range=(16, 480)),
    Param("camera_rate", 10.0, "scene camera frame rate in simulated Hz (0 = no images)", range=(0.0, 60.0)),
    Param("frame_id", "base_link", "frame of the joint states / observation"),
    Param("gripper_joint", "gripper", "name of the normalised gripper joint in JointState / trajectories"),
]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose a backend
    ensure_rclpy()
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import Bool
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.ros import conversions as cv
    from postbc_ros.ros import qos
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params
    from postbc_ros.core.trajectory_follower import TrajectoryFollower
    from postbc_ros.sim import make_env

    class SimNode(Node):
        def __init__(self):
            super().__init__("sim")
            self.p = declare_params(self, PARAMS)
            self.env = make_env(self.p["robot"], self.p["task"], obs_mode="state", seed=int(self.p["seed"]))
            self.task_env = self.env.unwrapped
            self.twin = self.task_env.twin
            self.names = list(self.twin.joint_names)
            self.dt = float(self.twin.control_dt)
            self._lock = threading.Lock()
            self.follower = TrajectoryFollower(len(self.names) + 1)
            self.env.reset(seed=int(self.p["seed"]))
            self._target = np.concatenate([self.twin.joint_positions(), [0.0]])
            self.sim_time = self.get_clock().now().nanoseconds * 1e-9  # sim clock starts at wall time
            self.resets = 0
            self._next_frame = self.sim_time
            self.pub_clock = self.create_publisher(Clock, "/clock", 10)
            self.pub_js = self.create_publisher(JointState, "joint_states", qos.STATE)
            self.pub_obs = self.create_publisher(JointState, "observation/state", qos.STATE)
            self.pub_success = self.create_publisher(Bool, "task/success", qos.STATE)
            self.pub_img = self.create_publisher(Image, "camera/scene/image_raw", qos.IMAGE)
            self.pub_info = self.create_publisher(CameraInfo, "camera/scene/camera_info", qos.IMAGE)
            self.create_subscription(JointTrajectory, "joint_trajectory", self._on_traj, qos.COMMAND)
            self.create_service(Trigger, "reset_scene", self._on_reset)
            self.create_timer(self.dt / float(self.p["real_time_factor"]), self._tick)
            self._publish(success=False)
            self.get_logger().info(
                f"twin {self.p['robot']}/{self.p['task']} at {1 / self.dt:.0f} Hz x{self.p['real_time_factor']}")

        # ------------------------------------------------------------ commands
        def _on_traj(self, msg):
            _t0, names, times, pos = cv.trajectory_arrays(msg)
            full = self.names + [self.p["gripper_joint"]]
            with self._lock:
                current = self._target.copy()
                if not msg.points:  # empty trajectory: hold where the arm is
                    self.follower.clear()
                    self._target = np.concatenate([self.twin.joint_positions(), [current[-1]]])
                    return
                unknown = [n for n in names if n not in full]
                if unknown or any(n not in names for n in self.names):
                    self.get_logger().error(
                        f"trajectory rejected: joints {names} must include {self.names} (unknown: {unknown})")
                    return
                rows = np.tile(current, (len(times), 1))
                for j, n in enumerate(names):
                    rows[:, full.index(n)] = pos[:, j]
                if not np.all(np.isfinite(rows)):
                    self.get_logger().error("trajectory rejected: non-finite positions")
                    return
                start = self.sim_time if _t0 == 0.0 else _t0
                abs_times = times - _t0 + start
                self.follower.replace(abs_times, rows, self.sim_time, current)

        # ------------------------------------------------------------ physics
        def _tick(self):
            with self._lock:
                sp = self.follower.sample(self.sim_time + self.dt)
                if sp is not None:
                    self._target = sp
                self.twin.set_joint_targets(self._target[:-1], float(np.clip(self._target[-1], 0.0, 1.0)))
                self.twin.step()
                self.sim_time += self.dt
                success = bool(self.task_env.is_success())
            self._publish(success)

        def _publish(self, success: bool):
            t = self.sim_time
            clock = Clock()
            clock.clock = cv.to_time(t)
            self.pub_clock.publish(clock)
            tw = self.twin
            q = tw.joint_positions()
            self.pub_js.publish(cv.joint_state_msg(self.names + [self.p["gripper_joint"]],
                                                   np.concatenate([q, [tw.gripper_position()]]), t,
                                                   velocity=np.concatenate([tw.joint_velocities(), [0.0]])))
            # success first: a node deciding on this tick's observation already knows the outcome
            self.pub_success.publish(Bool(data=success))
            obs = self.task_env.observation()["state"]
            self.pub_obs.publish(cv.vector_msg(obs, t, self.task_env.state_names, self.p["frame_id"]))
            if self.p["camera_rate"] > 0 and t + 1e-9 >= self._next_frame:
                self._next_frame = t + 1.0 / self.p["camera_rate"]
                size = int(self.p["camera_size"])
                img = tw.render("scene", size)
                self.pub_img.publish(cv.image_to_msg(img, t, "scene_camera"))
                cam = tw.model.camera("scene").id
                f = 0.5 * size / math.tan(math.radians(float(tw.model.cam_fovy[cam])) / 2)
                self.pub_info.publish(cv.camera_info_msg(size, size, [f, 0, size / 2, 0, f, size / 2, 0, 0, 1],
                                                         [0.0] * 5, t, "scene_camera"))

        # ------------------------------------------------------------ reset
        def _on_reset(self, _req, res):
            with self._lock:
                self.resets += 1
                seed = int(self.p["seed"]) * 100003 + self.resets
                _obs, _info = self.env.reset(seed=seed)
                self.follower.clear()
                self._target = np.concatenate([self.twin.joint_positions(), [0.0]])
                layout = {k: np.asarray(v).round(4).tolist() for k, v in self.task_env.layout.items()}
            self._publish(success=False)
            res.success = True
            res.message = json.dumps({"reset": self.resets, "seed": seed, "layout": layout})
            self.get_logger().info(f"scene reset #{self.resets} (seed {seed})")
            return res

        def close(self):
            self.env.close()

    return run_node(SimNode, argv, threads=1)  # the EGL context is bound to this thread


if __name__ == "__main__":
    sys.exit(main())
