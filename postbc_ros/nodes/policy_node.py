"""policy_node: action chunks from the PostBC diffusion policy, steered online (DSRL / Best-of-N).

The chunk-execution protocol (episodes, takeover, weight swaps between chunks, timing) is
`postbc_ros.core.policy_loop.PolicyLoop`, whose worker thread runs inference while the executor
keeps serving callbacks; this node converts messages for it. A chunk goes out on `arm/command`
as a JointTrajectory stamped t_obs, point i at t_obs + i·dt + latency, re-published every dt
(the arm's watchdog sees a live stream; kill this node and the arm holds). Weights arrive on
`policy/weights` (wire "weights" records); every executed chunk becomes a transition on
`replay/transitions` (wire "transition"). Rejected weights, held non-finite chunks and unusable messages
are counted on /diagnostics (ros.diagnostics), logged once per reason.
"""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Bool, Float32MultiArray, String, UInt8MultiArray  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from postbc_ros.core.episode_messages import parse_episode_state  # noqa: E402
from postbc_ros.core.joint_tracker import JointTracker  # noqa: E402
from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.core.policy_loop import PolicyLoop, PolicyLoopConfig  # noqa: E402
from postbc_ros.rl.acting_weights import apply_weights_record  # noqa: E402
from postbc_ros.rl.registry import ALGORITHMS, load_node_policy, make_agent  # noqa: E402
from postbc_ros.sim.twin_contract import check_checkpoint_for  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, twin_robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv, qos  # noqa: E402
from postbc_ros.ros.diagnostics import guarded, input_guard  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.sim.action_adapter import ActionAdapter  # noqa: E402
from postbc_ros.sim.task_params import TASKS, TWIN_OBSERVATIONS  # noqa: E402

DEFAULT_FPS = 10.0  # control rate when neither `dt` nor the checkpoint's dataset gives one
WEIGHTS_DIR_PREFIX = "postbc_policy_weights_"  # temporary directory a weights record is unpacked into


@dataclass
class PolicyConfig:
    checkpoint: str = param("", "PostBC checkpoint directory (postbc pretrain --out)")
    mode: str = param("dsrl", "pretrained: sample w ~ N(0, I); dsrl / dsrl_na / best_of_n: steer with the "
                      "learner's agent", choices=ALGORITHMS)
    explore: bool = param(True, "exploration noise while finetuning (false: deterministic evaluation)")
    robot: str = param(DEFAULT_ROBOT, "arm model (for the action -> joint setpoint conversion)", choices=twin_robot_names)
    task: str = param("reach", "task of the kinematic model used for IK", choices=TASKS)
    control: str = param("ee_delta", "action space the policy was trained on", choices=("ee_delta", "joint_delta"))
    observation: str = param("", "what observation/state holds (checked against the checkpoint): markers | proprio "
                             "(+ scene images: the twin's image mode) | privileged (twin only) | '' = the checkpoint's", choices=("", *TWIN_OBSERVATIONS))
    robot_id: str = param("robot1", "name of this robot in transitions (several robots feed one learner)")
    dt: float = param(0.0, "control period in s (0 = 1 / dataset fps from the checkpoint)", range=(0.0, 1.0))
    latency: float = param(-1.0, "s added to every step time: t_i = t_obs + i*dt + latency (-1 = one dt: step 0 "
                           "is reached one control period after the observation, as in the env)", range=(-1.0, 2.0))
    device: str = param("auto", "torch device: auto (CUDA if present) | cpu | cuda", choices=("auto", "cpu", "cuda"))
    seed: int = param(0, "seed of the agent's sampling", range=(0, 2**31 - 1))
    gamma: float = param(0.99, "discount used for chunk rewards (must match the learner)", range=(0.0, 1.0))
    gripper_joint: str = param("gripper", "name of the gripper joint in JointTrajectory")


CONFIG = PolicyConfig


class PolicyNode(Node):
    """Messages in and out of a PolicyLoop over the checkpoint's agent and the env's action adapter."""

    def __init__(self, **node_options):
        import torch
        torch.set_num_threads(1)
        super().__init__("policy", **node_options)
        self.p = p = declare_params(self, PolicyConfig)
        for w in check_checkpoint_for(p.robot, p.task, p.checkpoint, control=p.control,
                                     obs_mode=TWIN_OBSERVATIONS.get(p.observation)):  # ContractMismatch: refused
            self.get_logger().warning(f"observation contract: {w}")
        self.policy, device = load_node_policy(p.checkpoint, p.device)
        cfg = self.policy.cfg
        self.dt = float(p.dt) or 1.0 / float(self.policy.checkpoint_config.get("dataset", {}).get("fps") or DEFAULT_FPS)
        algorithm = "dsrl" if p.mode == "pretrained" else p.mode
        agent = make_agent(algorithm, self.policy, device=device, seed=int(p.seed))
        adapter = ActionAdapter(p.robot, p.task, p.control)
        self.names = list(adapter.twin.joint_names) + [p.gripper_joint]
        self.joints = JointTracker(self.names[:-1], self.get_logger().warning, hint="The policy cannot act without "
                                   "them: check the robot and gripper_joint parameters against the arm driver's joint names.")
        loop_cfg = PolicyLoopConfig(k=int(cfg.n_action_steps), action_dim=int(cfg.action_dim), dt=self.dt,
                                    latency=self.dt if p.latency < 0 else float(p.latency), gamma=float(p.gamma),
                                    robot_id=p.robot_id, mode=p.mode, explore=bool(p.explore))
        self.loop = loop = PolicyLoop(
            agent, adapter, loop_cfg, clock=self.now, joint_positions=lambda: self.joints.q,
            publish_command=self._publish_command, publish_hold=lambda: self.pub_cmd.publish(JointTrajectory(
                joint_names=self.names)), publish_transition=lambda tr: self.pub_tr.publish(conv.bytes_msg(tr.to_wire())),
            load_weights=self._load_weights, log=self.get_logger(),
            weights_loaded=lambda head: self._status(loaded_at=self.now()), guard=input_guard(self))
        self.pub_cmd = self.create_publisher(JointTrajectory, "arm/command", qos.COMMAND)
        self.pub_tr = self.create_publisher(UInt8MultiArray, "replay/transitions", qos.STREAM)
        self.pub_status = self.create_publisher(String, "policy/status", qos.LATCHED)
        g = lambda reason, fn: guarded(loop.guard, fn, reason)  # noqa: E731 - an unusable message is dropped
        self.create_subscription(JointState, "observation/state", g("observation", lambda m: loop.add_observation(
            conv.from_time(m.header.stamp), conv.vector_from_msg(m))), qos.STATE)
        self.create_subscription(JointState, "joint_states", g("joint_states", self.joints.update), qos.STATE)
        self.create_subscription(Image, "camera/scene/image_raw", g("image", lambda m: loop.set_image(
            conv.msg_to_image(m))), qos.IMAGE)
        self.create_subscription(Bool, "task/success", lambda m: loop.success(m.data), qos.STATE)
        self.create_subscription(String, "episode/state", g("episode_state", lambda m: loop.set_episode(
            parse_episode_state(m.data))), qos.EVENTS)
        self.create_subscription(UInt8MultiArray, "policy/weights", lambda m: loop.offer_weights(conv.msg_bytes(m)),
                                 qos.LATCHED)
        # human takeover (teleop_node): the policy yields and records the human's actions as interventions
        self.create_subscription(Bool, "teleop/intervention", lambda m: loop.intervention(m.data), qos.STATE)
        self.create_subscription(Float32MultiArray, "teleop/action", lambda m: loop.human_action(m.data), qos.STATE)
        self.create_timer(self.dt, loop.stream)
        loop.start()
        self._status(ready=True)
        self.get_logger().info(f"{self.policy.method} policy, mode {p.mode}, H={cfg.horizon} k={loop_cfg.k} dt={self.dt:.3f}s")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _status(self, **kw):
        self.pub_status.publish(String(data=json.dumps({"ready": True, "mode": self.p.mode,
                                                        "weights_version": self.loop.version, **kw})))

    def _load_weights(self, agent, record: bytes, obs: dict):
        """A learner's weights record into `agent` (a new agent when its config differs)."""
        # unpacked only for as long as loading takes: the loaded tensors live in the agent
        with tempfile.TemporaryDirectory(prefix=WEIGHTS_DIR_PREFIX) as weights_dir:
            return apply_weights_record(agent, record, weights_dir, obs, lambda algorithm, cfg: make_agent(
                algorithm or self.p.mode, self.policy, cfg, device=agent.device, seed=int(self.p.seed)))

    def _publish_command(self, t_obs, times, targets):
        msg = conv.trajectory_msg(self.names, targets, t_obs, self.dt)
        for pt, t in zip(msg.points, times):
            pt.time_from_start = conv.to_duration(t - t_obs)
        self.pub_cmd.publish(msg)

    def close(self):
        self.loop.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(PolicyNode, argv, threads=3)


if __name__ == "__main__":
    sys.exit(main())
