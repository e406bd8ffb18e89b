"""teleop_node: a teleop device drives the arm through the safety filter and is recorded.

Devices (postbc_ros.drivers.teleop): keyboard | spacemouse | gamepad, or the `scripted` operator
(the twin's multimodal demonstrator, which sees the scene through the ROS observation). While
the episode manager says `running`, every new observation frame: read the device, convert its
ee_delta action to a joint setpoint (ActionAdapter: the env's own IK code), publish it on
arm/command (the arm_node safety-filters it) and record (observation, action, success) with the
dataset recorder (postbc_ros.data, LeRobot v3 layout) -- the same recording path as
`postbc collect`. Device events stop / success / failure / abort end the episode through
`episode/label`; the episode is saved with the manager's label (abort discards it).
"""
from __future__ import annotations

import json
import sys
import threading

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("device", "keyboard", "teleop device", choices=("keyboard", "spacemouse", "gamepad", "scripted")),
    Param("device_path", "", "device file (/dev/hidrawN, /dev/input/jsN, a tty; '' = auto)"),
    Param("robot", "widowx", "arm model", choices=("widowx", "ur5e")),
    Param("task", "reach", "task (name stored with the demos; scene model for the scripted operator)",
          choices=("reach", "push", "pick_place")),
    Param("dataset_dir", "runs/postbc/demos", "LeRobot v3 dataset the demonstrations are appended to"),
    Param("record", True, "record demonstrations (false: drive the arm only)"),
    Param("takeover", False, "finetuning mode: the policy drives until the operator's intervene toggle; "
          "then the human drives and the steps are flagged as interventions in the replay buffer"),
    Param("seed", 0, "seed of the scripted operator", range=(0, 2**31 - 1)),
    Param("gripper_joint", "gripper", "name of the gripper joint in JointTrajectory"),
]


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float32MultiArray, String
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.data import DatasetError, DatasetWriter
    from postbc_ros.data.collect import EpisodeRecorder, env_fps, features_from_env
    from postbc_ros.drivers.teleop import make_teleop_device
    from postbc_ros.ros import conversions as cv
    from postbc_ros.ros import qos
    from postbc_ros.sim.action_adapter import ActionAdapter
    from postbc_ros.core.joint_tracker import JointTracker
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class TeleopNode(Node):
        def __init__(self):
            super().__init__("teleop")
            self.p = declare_params(self, PARAMS)
            self.adapter = ActionAdapter(self.p["robot"], self.p["task"], "ee_delta")
            self.env = self.adapter.env  # kinematic mirror of the scene (IK; the scripted operator's view)
            self.dt = float(self.adapter.twin.control_dt)
            self.names = list(self.adapter.twin.joint_names) + [self.p["gripper_joint"]]
            if self.p["device"] == "scripted":
                self.device = make_teleop_device("scripted", env=self.env, seed=int(self.p["seed"]))
            else:
                self.device = make_teleop_device(self.p["device"], path=self.p["device_path"] or None)
            self.recorder = None
            if self.p["record"]:
                self.writer = DatasetWriter(self.p["dataset_dir"], features_from_env(self.env),
                                            fps=env_fps(self.env), robot_type=self.p["robot"])
                self.recorder = EpisodeRecorder(self.writer, self.p["task"])
            self.lock = threading.Lock()
            self.joints = JointTracker(self.names[:-1], self.get_logger().warning,
                                       hint="Teleop cannot command the arm without them: check the robot and "
                                            "gripper_joint parameters against the arm driver's joint names.")
            self.success = False
            self.episode = {"episode": -1, "state": "idle"}
            self.active_ep = None
            self.pending_frame = None  # (obs, action): recorded once the outcome of the action is seen
            self.saved = 0
            self.pub_cmd = self.create_publisher(JointTrajectory, "arm/command", qos.COMMAND)
            self.pub_label = self.create_publisher(String, "episode/label", qos.STATE)
            self.pub_status = self.create_publisher(String, "teleop/status", qos.LATCHED)
            self.pub_intervention = self.create_publisher(Bool, "teleop/intervention", qos.STATE)
            self.pub_action = self.create_publisher(Float32MultiArray, "teleop/action", qos.STATE)
            self.intervening = False
            self.create_subscription(JointState, "joint_states", self.joints.update, qos.STATE)
            self.create_subscription(JointState, "observation/state", self._on_obs, qos.STATE)
            self.create_subscription(Bool, "task/success", self._on_success, qos.STATE)
            self.create_subscription(String, "episode/state", self._on_episode, qos.EVENTS)
            self.pub_status.publish(String(data=json.dumps({"ready": True, "device": self.p["device"]})))
            self.get_logger().info(f"{self.p['device']} teleop; recording to {self.p['dataset_dir']}"
                                   if self.recorder else f"{self.p['device']} teleop (not recording)")

        def _on_success(self, msg):
            self.success = bool(msg.data)

        def _sync_mirror(self, state: np.ndarray, new_episode: bool):
            """Put the observed scene into the kinematic mirror (robot joints, object, goal)."""
            names = self.env.state_names
            tw = self.env.twin
            tw.set_joint_positions(state[:6])
            layout = {"goal": state[names.index("goal_x"): names.index("goal_x") + 3].astype(float)}
            tw.set_goal(layout["goal"])
            if "obj_x" in names:
                layout["object"] = state[names.index("obj_x"): names.index("obj_x") + 3].astype(float)
                tw.set_object_position(layout["object"])
            tw.forward()
            if new_episode:
                self.env.layout = layout  # a new layout object: the scripted operator re-plans

        def _on_episode(self, msg):
            e = json.loads(msg.data)
            with self.lock:
                self.episode = e
                if e["state"] != "running" and self.intervening:
                    self.intervening = False
                    self.pub_intervention.publish(Bool(data=False))
                if self.active_ep is not None and (e["state"] in ("done", "labelled", "aborted")
                                                   or e["episode"] != self.active_ep):
                    if e.get("success") is None and e["state"] == "done":
                        return  # wait for the operator's label
                    self._finish(e)

        def _finish(self, e):
            self.active_ep = None
            pending, self.pending_frame = self.pending_frame, None
            if self.recorder is None:
                return
            if pending is not None and e["state"] != "aborted":
                self.recorder.add_step(*pending, success=bool(e.get("success")))
            if self.recorder.num_frames == 0:
                return
            if e["state"] == "aborted":
                self.recorder.discard()
                return
            try:
                self.recorder.save(success=bool(e.get("success")))
            except DatasetError as err:  # disk full ...: the saved demonstrations are intact
                self.recorder.discard()
                self.get_logger().error(f"demonstration not saved, record it again: {err}")
                return
            self.saved += 1
            self.get_logger().info(f"saved demonstration {self.saved} (success={bool(e.get('success'))})")

        def _on_obs(self, msg):
            state = cv.vector_from_msg(msg)
            t_obs = cv.from_time(msg.header.stamp)
            with self.lock:
                e = self.episode
                if e.get("state") != "running" or self.joints.q is None:
                    return
                new = self.active_ep != e["episode"]
                if new:
                    self.active_ep = e["episode"]
                    self.device.reset()
                    self.adapter.reset(self.joints.q)
                    self.pending_frame = None
                    if self.recorder is not None:
                        self.recorder.discard()
                elif self.recorder is not None and self.pending_frame is not None:
                    # the previous action's outcome: this observation's success flag (as env.step reports it)
                    self.recorder.add_step(*self.pending_frame, success=self.success)
                    self.pending_frame = None
                    if self.success:
                        return  # the task is done: like env.step's `terminated`, no further action
                if self.p["device"] == "scripted":
                    self._sync_mirror(state, new)
                obs = {"state": state}
                cmd = self.device.read(obs)
                if self.p["takeover"]:
                    if cmd.intervene:  # toggle: the human takes over / hands back to the policy
                        self.intervening = not self.intervening
                        self.pub_intervention.publish(Bool(data=self.intervening))
                        if self.intervening:
                            self.adapter.reset(self.joints.q)
                        self.get_logger().info("human takeover" if self.intervening else "policy resumes")
                    if not self.intervening:
                        return
                ev = {"stop": cmd.stop, "success": True if cmd.success else (False if cmd.failure else None),
                      "abort": cmd.abort}
                if cmd.stop or cmd.success or cmd.failure or cmd.abort:
                    self.pub_label.publish(String(data=json.dumps(ev)))
                if cmd.action is None:
                    return
                action = np.asarray(cmd.action, dtype=np.float32)
                target = self.adapter.targets(action[None], self.joints.q)
                self.pub_cmd.publish(cv.trajectory_msg(self.names, target, t_obs, self.dt, start_index=1))
                if self.intervening:
                    self.pub_action.publish(Float32MultiArray(data=[float(x) for x in action]))
                if self.recorder is not None:
                    self.pending_frame = (obs, action)

        def close(self):
            with self.lock:
                if self.recorder is not None:
                    self.recorder.discard()
                    self.writer.close()
            self.device.close() if hasattr(self.device, "close") else None

    return run_node(TeleopNode, argv, threads=2)


if __name__ == "__main__":
    sys.exit(main())
