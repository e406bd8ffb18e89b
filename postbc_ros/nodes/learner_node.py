"""learner_node: online finetuning (DSRL / DSRL-NA / Best-of-N, postbc_ros.rl) over ROS 2.

Feeds the chunk transitions the replay buffer has made durable (/replay/stored; on a fresh start
it asks /replay/sync for the history) to the ROS-free `postbc_ros.rl.learner_loop.LearnerLoop`,
which a worker thread runs: demonstration chunks mixed in (`demos`), `utd` gradient steps per
transition, and every `publish_every` finished episodes the acting weights as a new version,
published on /learner/weights (wire "weights" record, latched: a policy that starts later gets
the newest). The full agent is saved to `work_dir/agent` with every version; a restarted learner
resumes from it and publishes its weights at once. Metrics: /learner/metrics (JSON, latched). Unusable
transitions and non-finite weights (never published) are dropped, counted on /diagnostics, logged once.
"""
from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass

from postbc_ros.core.params import param
from postbc_ros.core.transition import Transition
from postbc_ros.rl.dsrl_config import ACTIVATION_NAMES, REWARDS, DSRLConfig
from postbc_ros.rl.learner_loop import LearnerLoop, WeightsRecord
from postbc_ros.rl.registry import FINETUNERS, load_node_policy, make_agent
from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()  # before any rclpy import (PyPI wheels)
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String, UInt8MultiArray
from std_srvs.srv import Trigger

from postbc_ros.ros import conversions as conv
from postbc_ros.ros import qos
from postbc_ros.ros.diagnostics import input_guard
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params

SEED_MAX = 2**31 - 1
TORCH_THREADS = 1  # intra-op threads: updates are small, and the executor's threads need the cores
EXECUTOR_THREADS = 3  # the worker learns while callbacks take in transitions and the sync reply
SYNC_WAIT_S = 30.0  # how long a fresh learner waits for /replay/sync before starting without history
QUEUE_POLL_S = 0.1  # the worker's wait for a transition (how soon it notices shutdown)
CLOSE_WAIT_S = 10.0  # shutdown waits this long for an update in progress
DSRL = DSRLConfig()  # the reference's settings; sizes and warm start here are CPU-sized (a learner beside a robot)


@dataclass
class LearnerConfig:
    checkpoint: str = param("", "PostBC checkpoint directory (the frozen diffusion policy)")
    algorithm: str = param("dsrl", "finetuning algorithm", choices=FINETUNERS)
    demos: str = param("", "demonstration dataset mixed into batches ('' = none)")
    work_dir: str = param("runs/postbc/learner", "agent checkpoints (resume) and the learner's state")
    publish_every: int = param(1, "publish new weights every N finished episodes", range=(1, 10000))
    device: str = param("auto", "torch device: auto (CUDA if present) | cpu | cuda", choices=("auto", "cpu", "cuda"))
    seed: int = param(0, "seed of the agent", range=(0, SEED_MAX))
    utd: int = param(4, f"gradient steps per received transition (DSRL's reference: {DSRL.utd})", range=(0, 100))
    batch_size: int = param(64, f"batch size (DSRL's reference: {DSRL.batch_size})", range=(1, 4096))
    hidden: int = param(128, f"hidden units of the agent's networks (DSRL's: {DSRL.hidden})", range=(8, 4096))
    layers: int = param(2, f"hidden layers of the agent's networks (DSRL's: {DSRL.layers})", range=(1, 8))
    activation: str = param(DSRL.activation, "DSRL / DSRL-NA: hidden activation", choices=ACTIVATION_NAMES)
    warmup_env_steps: int = param(100, "DSRL: env steps with w ~ N(0, I) before learning", range=(0, 10**7))
    backup_entropy: bool = param(DSRL.backup_entropy, "DSRL / DSRL-NA: entropy bonus in the critics' TD target")
    init_alpha: float = param(DSRL.init_alpha, "DSRL / DSRL-NA: SAC temperature at the start", range=(1e-6, 100.0))
    noise_bound: float = param(DSRL.noise_bound, "DSRL / DSRL-NA: bound of the steered noise", range=(0.1, 10.0))
    reward: str = param("zero_one", "chunk reward convention (the policy nodes' recorder: zero_one)", choices=REWARDS)
    learning_starts: int = param(16, "transitions (online + demo) before updates begin", range=(1, 10**6))
    n_samples: int = param(8, "Best-of-N: samples per decision", range=(1, 256))
    gamma: float = param(0.99, "discount (must match the policy nodes)", range=(0.0, 1.0))


CONFIG = LearnerConfig
SAC_PARAMS = ("hidden", "layers", "activation", "warmup_env_steps", "backup_entropy", "init_alpha", "noise_bound",
              "reward")  # DSRL / DSRL-NA config fields of the same name


def agent_overrides(cfg: LearnerConfig) -> dict:
    """The learner's parameters as overrides of the algorithm's config dataclass."""
    common = {"batch_size": cfg.batch_size, "utd": max(cfg.utd, 1), "learning_starts": cfg.learning_starts}
    if cfg.algorithm == "best_of_n":
        return {**common, "n_samples": cfg.n_samples,
                "iql": {"hidden": cfg.hidden, "layers": cfg.layers, "discount": cfg.gamma}}
    return {**common, **{k: getattr(cfg, k) for k in SAC_PARAMS}, "discount": cfg.gamma}


class LearnerNode(Node):
    def __init__(self):
        import torch

        super().__init__("learner")
        torch.set_num_threads(TORCH_THREADS)
        self.cfg = declare_params(self, LearnerConfig)
        policy, device = load_node_policy(self.cfg.checkpoint, self.cfg.device)
        agent = make_agent(self.cfg.algorithm, policy, agent_overrides(self.cfg), device=device, seed=self.cfg.seed)
        self.guard = input_guard(self)
        self.loop = LearnerLoop(agent, self.cfg.algorithm, self.cfg.work_dir, self.cfg.publish_every, self.cfg.utd,
                                self.cfg.demos, guard=self.guard)
        self.pub_w = self.create_publisher(UInt8MultiArray, "/learner/weights", qos.LATCHED)
        self.pub_m = self.create_publisher(String, "/learner/metrics", qos.LATCHED)
        g = ReentrantCallbackGroup()
        self.create_subscription(UInt8MultiArray, "/replay/stored", self._on_stored, qos.STREAM, callback_group=g)
        self.sync_cli = self.create_client(Trigger, "/replay/sync", callback_group=g)
        if self.loop.resumed:
            self._publish(self.loop.publish())
        else:
            threading.Thread(target=self._sync, daemon=True).start()
        self._stop = threading.Event()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()
        start = f"resumed v{self.loop.state.version}" if self.loop.resumed else "fresh"
        self.get_logger().info(f"{self.cfg.algorithm} learner on {agent.device}; {start}, {self.loop.demo_chunks} demos")

    def _sync(self):
        if not self.sync_cli.wait_for_service(timeout_sec=SYNC_WAIT_S):
            self.get_logger().warn("/replay/sync not available: starting without stored history")
            return
        self.sync_cli.call_async(Trigger.Request())

    def _on_stored(self, msg):
        tr = self.guard.check(lambda m: Transition.from_wire(conv.msg_bytes(m)), msg, "not_a_record")
        if tr is not None:
            self.loop.feed(tr)

    def _work(self):
        while not self._stop.is_set():
            try:
                out = self.loop.step(QUEUE_POLL_S)
            except Exception as e:  # noqa: BLE001 - one bad transition must not stop learning
                self.guard.drop("transition_unusable", f"transition skipped: {type(e).__name__}: {e}")
                continue
            if out is not None and out.weights is not None:
                self._publish(out.weights)
            if out is not None and out.metrics is not None:
                self.pub_m.publish(String(data=json.dumps(out.metrics)))

    def _publish(self, w: WeightsRecord):
        self.pub_w.publish(conv.bytes_msg(w.data))
        self.get_logger().info(f"published weights version {w.version} ({len(w.data)} bytes, "
                               f"{self.loop.agent.grad_steps} grad steps)")

    def close(self):
        self._stop.set()
        self.worker.join(timeout=CLOSE_WAIT_S)  # never leave torch mid-update at interpreter exit


def main(argv: list[str] | None = None) -> int:
    return run_node(LearnerNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
