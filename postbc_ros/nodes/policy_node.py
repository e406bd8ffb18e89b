"""policy_node: action chunks from the PostBC diffusion policy, steered online (DSRL / Best-of-N).

A worker thread (not the executor) runs inference, so ROS callbacks and the command stream keep
going while the next chunk is computed. Per chunk: take the latest observation (stamp t_obs),
pick the noise / chunk with the agent, convert the first k = n_action_steps actions to joint
setpoints (the env's own action -> setpoint code, ActionAdapter) and publish a JointTrajectory
with header.stamp = t_obs and point i at t_obs + i·dt + latency (postbc_ros.core.chunk_scheduler;
points already past are dropped). The next chunk is computed from the observation at
t_obs + k·dt, while the current chunk's last step (due at t_obs + (k-1)·dt + latency) executes. The remaining points are
re-published every dt (the arm's watchdog sees a live stream; kill this node and the arm holds).

Weights from the learner (`policy/weights`, wire "weights" records) are swapped in only between
chunks. Every executed chunk becomes a transition on `replay/transitions` (wire "transition":
observation history, steered noise, executed actions, reward, timing, versions).
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("checkpoint", "", "PostBC checkpoint directory (postbc pretrain --out)"),
    Param("mode", "dsrl", "pretrained: sample w ~ N(0, I); dsrl / dsrl_na / best_of_n: steer with the learner's agent",
          choices=("pretrained", "dsrl", "dsrl_na", "best_of_n")),
    Param("explore", True, "exploration noise while finetuning (false: deterministic evaluation)"),
    Param("robot", "widowx", "arm model (for the action -> joint setpoint conversion)", choices=("widowx", "ur5e")),
    Param("task", "reach", "task of the kinematic model used for IK", choices=("reach", "push", "pick_place")),
    Param("control", "ee_delta", "action space the policy was trained on", choices=("ee_delta", "joint_delta")),
    Param("robot_id", "robot1", "name of this robot in transitions (several robots feed one learner)"),
    Param("dt", 0.0, "control period in s (0 = 1 / dataset fps from the checkpoint)", range=(0.0, 1.0)),
    Param("latency", -1.0, "s added to every step time: t_i = t_obs + i*dt + latency (-1 = one dt: step 0 is "
          "reached one control period after the observation, as in the env)", range=(-1.0, 2.0)),
    Param("device", "auto", "torch device: auto (CUDA if present) | cpu | cuda", choices=("auto", "cpu", "cuda")),
    Param("seed", 0, "seed of the agent's sampling", range=(0, 2**31 - 1)),
    Param("gamma", 0.99, "discount used for chunk rewards (must match the learner)", range=(0.0, 1.0)),
    Param("gripper_joint", "gripper", "name of the gripper joint in JointTrajectory"),
]


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    import torch
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Bool, Float32MultiArray, String, UInt8MultiArray
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.core.chunk_scheduler import ChunkScheduler
    from postbc_ros.core.frame_buffer import FrameBuffer
    from postbc_ros.core.takeover_actions import TakeoverActions
    from postbc_ros.ros import conversions as cv
    from postbc_ros.core import wire
    from postbc_ros.ros import qos
    from postbc_ros.sim.action_adapter import ActionAdapter
    from postbc_ros.rl.registry import load_node_policy, make_agent
    from postbc_ros.core.chunk_transitions import ChunkRecorder, transition_arrays
    from postbc_ros.core.joint_tracker import JointTracker
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params
    from postbc_ros.rl.acting_weights import apply_weights_record

    torch.set_num_threads(1)

    class PolicyNode(Node):
        def __init__(self):
            super().__init__("policy")
            self.p = declare_params(self, PARAMS)
            self.policy, device = load_node_policy(self.p["checkpoint"], self.p["device"])
            cfg = self.policy.cfg
            fps = float(self.policy.checkpoint_config.get("dataset", {}).get("fps") or 10.0)
            self.dt = float(self.p["dt"]) or 1.0 / fps
            self.k = int(cfg.n_action_steps)
            algo = "dsrl" if self.p["mode"] == "pretrained" else self.p["mode"]
            self.agent = make_agent(algo, self.policy, device=device, seed=int(self.p["seed"]))
            self.act_mode = "base" if self.p["mode"] == "pretrained" else ("explore" if self.p["explore"] else "eval")
            self.adapter = ActionAdapter(self.p["robot"], self.p["task"], self.p["control"])
            self.names = list(self.adapter.twin.joint_names) + [self.p["gripper_joint"]]
            self.recorder = ChunkRecorder(float(self.p["gamma"]))
            latency = self.dt if self.p["latency"] < 0 else float(self.p["latency"])
            self.scheduler = ChunkScheduler(self.dt, latency=latency, execute_steps=self.k, clock=self.now)
            self.hist = self.agent.new_history()
            self.frames = FrameBuffer(64)  # observation frames not yet pushed into the history
            self.latest_image = None
            self.joints = JointTracker(self.names[:-1], self.get_logger().warning,
                                       hint="The policy cannot act without them: check the robot and "
                                            "gripper_joint parameters against the arm driver's joint names.")
            self.episode = {"episode": -1, "state": "idle"}
            self.pending_weights: bytes | None = None
            self.version = 0
            self.schedule = None  # (t_obs, times, targets) currently streamed
            self.pub_cmd = self.create_publisher(JointTrajectory, "arm/command", qos.COMMAND)
            self.pub_tr = self.create_publisher(UInt8MultiArray, "replay/transitions", qos.STREAM)
            self.pub_status = self.create_publisher(String, "policy/status", qos.LATCHED)
            self.create_subscription(JointState, "observation/state", self._on_obs, qos.STATE)
            self.create_subscription(JointState, "joint_states", self.joints.update, qos.STATE)
            self.create_subscription(Image, "camera/scene/image_raw", self._on_image, qos.IMAGE)
            self.create_subscription(Bool, "task/success", self._on_success, qos.STATE)
            self.create_subscription(String, "episode/state", self._on_episode, qos.EVENTS)
            self.create_subscription(UInt8MultiArray, "policy/weights", self._on_weights, qos.LATCHED)
            # human takeover (teleop_node): the policy yields, the human's actions are recorded as
            # intervention transitions
            self.success_clock = None  # time of the last task/success message (twin's detector)
            self.intervening = False
            self.human = TakeoverActions(cfg.action_dim, self.k)
            self.human_refused: str | None = None  # last reason logged (once per distinct reason)
            self.create_subscription(Bool, "teleop/intervention", self._on_intervention, qos.STATE)
            self.create_subscription(Float32MultiArray, "teleop/action", self._on_human_action, qos.STATE)
            self.create_timer(self.dt, self._stream)
            self._stop = threading.Event()
            self.worker = threading.Thread(target=self._work, daemon=True)
            self.worker.start()
            self._status(ready=True)
            self.get_logger().info(f"{self.policy.method} policy, mode {self.p['mode']}, H={cfg.horizon} k={self.k} "
                                   f"dt={self.dt:.3f}s on {self.agent.device}")

        def now(self) -> float:
            return self.get_clock().now().nanoseconds * 1e-9

        def _status(self, **kw):
            self.pub_status.publish(String(data=json.dumps({"ready": True, "mode": self.p["mode"],
                                                            "weights_version": self.version, **kw})))

        # ------------------------------------------------------------ inputs
        def _on_obs(self, msg):
            frame = {"state": cv.vector_from_msg(msg)}
            image = self.latest_image
            if image is not None:
                frame["scene"] = image
            self.frames.add(cv.from_time(msg.header.stamp), frame)

        def _on_image(self, msg):
            self.latest_image = cv.msg_to_image(msg)

        def _on_success(self, msg):
            t = self.now()
            if msg.data and self.episode.get("state") == "running":
                self.recorder.success_at(t)
            self.success_clock = t

        def _on_episode(self, msg):
            self.episode = json.loads(msg.data)

        def _on_intervention(self, msg):
            if msg.data and not self.intervening:
                self.human.start()
            self.intervening = bool(msg.data)

        def _on_human_action(self, msg):
            if not self.intervening:
                return
            why = self.human.add(msg.data)
            if why is not None and why != self.human_refused:
                self.get_logger().warning(why)
            self.human_refused = why

        def _on_weights(self, msg):
            self.pending_weights = cv.msg_bytes(msg)

        # ------------------------------------------------------------ acting
        def _wait_frame(self, t_min: float, ep: int) -> float | None:
            """Push the frames up to the first one stamped at (about) `t_min` into the history;
            its stamp, or None if the episode ended first."""
            frames = self.frames.take_when_fresh(
                t_min - 0.25 * self.dt,
                lambda: not self._stop.is_set() and self.episode.get("episode") == ep
                and self.episode.get("state") == "running")
            if frames is None:
                return None
            for _t, f in frames:
                self.obs_now = self.hist.push(f)
            return frames[-1][0]

        def _swap_weights(self):
            data, self.pending_weights = self.pending_weights, None
            try:
                # unpacked only for as long as loading takes: the loaded tensors live in the agent
                with tempfile.TemporaryDirectory(prefix="postbc_policy_weights_") as weights_dir:
                    self.agent, head = apply_weights_record(
                        self.agent, data, weights_dir, self.obs_now,
                        lambda algo, cfg: make_agent(algo or self.p["mode"], self.policy, cfg,
                                                     device=self.agent.device, seed=int(self.p["seed"])))
                self.version = int(head["version"])
                self._status(loaded_at=self.now())
                self.get_logger().info(f"loaded weights version {self.version} (env steps {head['env_steps']})")
            except Exception as e:
                self.get_logger().error(f"weights rejected: {e}")

        def _work(self):
            """Inference loop; an error in one iteration is logged and the loop goes on (a dead
            worker would leave the arm holding forever while the node looks alive)."""
            while not self._stop.is_set():
                try:
                    self._loop()
                except Exception as e:  # noqa: BLE001
                    import traceback

                    self.get_logger().error(f"policy loop error (episode restarts cleanly): {e}\n"
                                            f"{traceback.format_exc()}")
                    self.schedule = None
                    self.recorder.start_episode()
                    time.sleep(0.1)

        def _loop(self):
            ep, t_next = None, None
            while not self._stop.is_set():
                e = self.episode
                if e.get("state") != "running":
                    if ep is not None and self.schedule is not None:
                        self.schedule = None
                        self.scheduler.clear()
                        self.pub_cmd.publish(JointTrajectory(joint_names=self.names))  # explicit hold
                    if ep is not None and (e.get("episode") != ep or e.get("success") is not None
                                           or e.get("state") == "aborted"):
                        success = None if e.get("success") is None else bool(e["success"])
                        if self.recorder.pending is not None:  # (an episode may end before any chunk)
                            self._publish_transition(self.recorder.end_episode(self.hist.stacked(), success))
                        ep = None
                    time.sleep(0.01)
                    continue
                if e["episode"] != ep:  # a new episode: fresh history, commanded pose = measured pose
                    ep, t_next = e["episode"], None
                    self.scheduler.clear()
                    self.frames.keep_last(1)
                    self.hist = self.agent.new_history()
                    self.recorder.start_episode()
                    self.human.start()  # a takeover's actions stay with its episode
                    if self.joints.q is not None:
                        self.adapter.reset(self.joints.q)
                if self.intervening or len(self.human):  # (after a takeover: record its last steps)
                    t_next = self._human_step(ep, t_next)
                    continue
                t_min = -1.0 if t_next is None else t_next
                t_obs = self._wait_frame(t_min, ep)
                if t_obs is None or self.joints.q is None:
                    continue
                # the success flag of the same tick may arrive just after the observation: wait
                # for it briefly, so a success is credited to the chunk it happened in
                t_wait = time.monotonic() + 0.05
                while self.success_clock is not None and self.success_clock < t_obs - 1e-6 \
                        and time.monotonic() < t_wait:
                    time.sleep(0.002)
                if self.pending_weights is not None:  # only here: between two chunks
                    self._swap_weights()
                t0 = time.perf_counter()
                chunk, noise = self.agent.act(self.obs_now, mode=self.act_mode)
                infer = time.perf_counter() - t0
                acts = np.asarray(chunk[: self.k], dtype=float)
                targets = self.adapter.targets(acts, self.joints.q)
                rep = self.scheduler.submit(targets, t_obs, now=self.now())
                times = self.scheduler.step_times(t_obs, self.k)
                keep = np.arange(self.k) >= rep.dropped_past  # past steps are the leading ones
                self.schedule = (t_obs, times[keep], targets[keep])
                self._send(self.schedule)
                t_next = t_obs + self.k * self.dt  # decide again on the observation after k steps
                meta = {"robot": self.p["robot_id"], "episode": int(ep), "policy_version": self.version,
                        "t_obs": t_obs, "t_first": float(times[0]), "inference_s": infer,
                        "dropped": int(rep.dropped_past), "mode": self.p["mode"], "intervention": False}
                self._publish_transition(self.recorder.decided(self.obs_now, noise, acts[keep], times[keep],
                                                               self.dt, meta))

        def _human_step(self, ep, t_next):
            """During a takeover: stop commanding; every k human actions become one transition
            flagged `intervention` (no steered noise)."""
            if self.schedule is not None:
                self.schedule = None
                self.scheduler.clear()
            t_obs = self._wait_frame(-1.0 if t_next is None else t_next, ep)
            if t_obs is None:
                return t_next
            acts = self.human.take(final=not self.intervening)
            if acts is None and self.intervening:
                return t_obs + 0.5 * self.dt
            if acts is not None:
                times = t_obs + self.dt * np.arange(1, len(acts) + 1)
                meta = {"robot": self.p["robot_id"], "episode": int(ep), "policy_version": self.version,
                        "t_obs": t_obs, "t_first": float(times[0]), "inference_s": 0.0, "dropped": 0,
                        "mode": "teleop", "intervention": True}
                self._publish_transition(self.recorder.decided(self.obs_now, None, acts, times,
                                                               self.dt, meta))
            if self.joints.q is not None:
                self.adapter.reset(self.joints.q)  # the human moved the arm: re-anchor the commanded pose
            return None if not self.intervening else t_obs + 0.5 * self.dt

        def _send(self, schedule):
            t_obs, times, targets = schedule
            fut = times > self.now()
            if fut.any():
                msg = cv.trajectory_msg(self.names, targets[fut], t_obs, self.dt)
                for pt, t in zip(msg.points, times[fut]):
                    pt.time_from_start = cv.to_duration(t - t_obs)
                self.pub_cmd.publish(msg)

        def _stream(self):
            s = self.schedule
            if s is not None and self.episode.get("state") == "running":
                self._send(s)

        def _publish_transition(self, tr):
            if tr is None:
                return
            header, arrays = transition_arrays(tr)
            self.pub_tr.publish(cv.bytes_msg(wire.pack_transition(header, arrays)))

        def close(self):
            self._stop.set()
            self.worker.join(timeout=5.0)

    return run_node(PolicyNode, argv, threads=3)


if __name__ == "__main__":
    sys.exit(main())
