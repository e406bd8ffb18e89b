"""learner_node: online finetuning (DSRL / DSRL-NA / Best-of-N, postbc_ros.rl) over ROS 2.

Consumes the chunk transitions the replay buffer has made durable (/replay/stored; on a fresh
start it asks /replay/sync for the history), mixes in demonstration chunks (`demos` dataset,
as the algorithm's config allows), runs `utd` gradient steps per transition in a worker
thread, and every `publish_every` finished episodes publishes the acting weights as a new
version on /learner/weights (wire "weights" record, latched: a policy that starts later gets
the newest). After each publish the full agent (optimizers, replay, RNG) is saved to
`work_dir/agent`; a restarted learner resumes from it. Metrics: /learner/metrics (JSON).
"""
from __future__ import annotations

import json
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("checkpoint", "", "PostBC checkpoint directory (the frozen diffusion policy)"),
    Param("algorithm", "dsrl", "finetuning algorithm", choices=("dsrl", "dsrl_na", "best_of_n")),
    Param("demos", "", "demonstration dataset mixed into batches ('' = none)"),
    Param("work_dir", "runs/postbc/learner", "agent checkpoints (resume) and the learner's state"),
    Param("publish_every", 1, "publish new weights every N finished episodes", range=(1, 10000)),
    Param("device", "auto", "torch device: auto (CUDA if present) | cpu | cuda", choices=("auto", "cpu", "cuda")),
    Param("seed", 0, "seed of the agent", range=(0, 2**31 - 1)),
    Param("utd", 4, "gradient steps per received transition (update-to-data ratio)", range=(0, 100)),
    Param("batch_size", 64, "batch size", range=(1, 4096)),
    Param("hidden", 128, "hidden units of the agent's networks", range=(8, 4096)),
    Param("layers", 2, "hidden layers of the agent's networks", range=(1, 8)),
    Param("warmup_env_steps", 100, "DSRL: env steps with w ~ N(0, I) before the actor steers", range=(0, 10**7)),
    Param("backup_entropy", False, "DSRL / DSRL-NA: add SAC's entropy bonus to the critics' TD target "
          "(false: they regress onto returns, as in SERL)"),
    Param("learning_starts", 16, "transitions (online + demo) before updates begin", range=(1, 10**6)),
    Param("n_samples", 8, "Best-of-N: samples per decision", range=(1, 256)),
    Param("gamma", 0.99, "discount (must match the policy nodes)", range=(0.0, 1.0)),
]


def agent_overrides(p: dict) -> dict:
    """The learner's parameters as overrides of the algorithm's config dataclass."""
    common = {"batch_size": int(p["batch_size"]), "utd": int(max(p["utd"], 1)),
              "learning_starts": int(p["learning_starts"])}
    if p["algorithm"] == "best_of_n":
        return {**common, "n_samples": int(p["n_samples"]),
                "iql": {"hidden": int(p["hidden"]), "layers": int(p["layers"]), "discount": float(p["gamma"])}}
    return {**common, "hidden": int(p["hidden"]), "layers": int(p["layers"]),
            "warmup_env_steps": int(p["warmup_env_steps"]), "discount": float(p["gamma"]),
            "backup_entropy": bool(p["backup_entropy"])}


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    import torch
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.node import Node
    from std_msgs.msg import String, UInt8MultiArray
    from std_srvs.srv import Trigger

    from postbc_ros.ros import conversions as cv
    from postbc_ros.core import wire
    from postbc_ros.ros import qos
    from postbc_ros.rl.registry import load_node_policy, make_agent
    from postbc_ros.core.chunk_transitions import transition_from_arrays
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params
    from postbc_ros.rl.acting_weights import export_acting_state

    torch.set_num_threads(1)

    class LearnerNode(Node):
        def __init__(self):
            super().__init__("learner")
            self.p = declare_params(self, PARAMS)
            self.policy, device = load_node_policy(self.p["checkpoint"], self.p["device"])
            self.agent = make_agent(self.p["algorithm"], self.policy, agent_overrides(self.p), device=device,
                                    seed=int(self.p["seed"]))
            self.work = Path(self.p["work_dir"])
            self.work.mkdir(parents=True, exist_ok=True)
            self.state = {"version": 0, "transitions": 0, "episodes": 0, "successes": [], "robots": {}}
            resumed = self._resume()
            self.queue: queue.Queue = queue.Queue()
            self.episodes_since_publish = 0
            self.recent: list[dict] = []
            self.pub_w = self.create_publisher(UInt8MultiArray, "/learner/weights", qos.LATCHED)
            self.pub_m = self.create_publisher(String, "/learner/metrics", qos.LATCHED)
            g = ReentrantCallbackGroup()
            self.create_subscription(UInt8MultiArray, "/replay/stored", self._on_stored, qos.STREAM, callback_group=g)
            self.sync_cli = self.create_client(Trigger, "/replay/sync", callback_group=g)
            n_demo = self._load_demos() if self.p["demos"] and not resumed else 0
            self._stop = threading.Event()
            self.worker = threading.Thread(target=self._work, daemon=True)
            self.worker.start()
            if resumed:
                self._publish_weights()
            else:
                threading.Thread(target=self._sync, daemon=True).start()
            self.get_logger().info(f"{self.p['algorithm']} learner on {self.agent.device}; "
                                   f"{'resumed v' + str(self.state['version']) if resumed else 'fresh'}, {n_demo} demo chunks")

        # ------------------------------------------------------------ data
        def _resume(self) -> bool:
            f = self.work / "learner.json"
            if not f.exists():
                return False
            self.state.update(json.loads(f.read_text()))
            self.agent.load(self.work / "agent")
            return True

        def _load_demos(self) -> int:
            from postbc_ros.data import DemoDataset
            from postbc_ros.rl.rollout import episode_to_transitions

            ds = DemoDataset(self.p["demos"])
            fp = self.agent.fp
            trs = []
            for i in range(ds.num_episodes):
                trs += episode_to_transitions(ds.episode(i), fp.obs_keys, fp.obs_history, fp.n_action_steps,
                                              self.agent.discount, success=ds.episode_success(i))
            return self.agent.add_demos(trs)

        def _sync(self):
            if not self.sync_cli.wait_for_service(timeout_sec=30.0):
                self.get_logger().warn("/replay/sync not available: starting without stored history")
                return
            self.sync_cli.call_async(Trigger.Request())

        def _on_stored(self, msg):
            try:
                header, arrays = wire.unpack_transition(cv.msg_bytes(msg))
            except wire.WireError as e:
                self.get_logger().error(f"stored transition rejected: {e}")
                return
            self.queue.put(transition_from_arrays(header, arrays))

        # ------------------------------------------------------------ learning
        def _work(self):
            while not self._stop.is_set():
                try:
                    tr = self.queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    self._learn(tr)
                except Exception as e:  # noqa: BLE001 - one bad transition must not stop learning
                    self.get_logger().error(f"transition skipped: {type(e).__name__}: {e}")

        def _learn(self, tr):
            fp = self.agent.fp
            metrics: dict = {}
            # human (intervention) chunks carry no steered noise: kept in the replay store, not
            # trainable by the noise-space critics
            if tr.get("noise") is not None and sorted(tr["obs"]) == sorted(fp.obs_keys):
                tr["noise"] = np.asarray(tr["noise"]).reshape(fp.noise_shape)
                self.agent.observe(tr)
                self.state["transitions"] += 1
                robot = str(tr.get("robot", "?"))
                self.state["robots"][robot] = self.state["robots"].get(robot, 0) + 1
                metrics = self.agent.update(int(self.p["utd"])) if self.p["utd"] > 0 else {}
            if tr.get("episode_end") and not tr.get("replayed"):
                self.state["episodes"] += 1
                self.state["successes"] = (self.state["successes"] + [bool(tr.get("success"))])[-50:]
                self.episodes_since_publish += 1
                if self.episodes_since_publish >= int(self.p["publish_every"]) and self.agent.grad_steps > 0:
                    self.episodes_since_publish = 0
                    self._publish_weights()
                self._metrics(metrics)

        def _publish_weights(self):
            self.state["version"] += 1
            v = self.state["version"]
            with tempfile.TemporaryDirectory() as d:
                export_acting_state(self.agent, d, v)
                data = wire.pack_bundle(d, {"version": v, "algorithm": self.p["algorithm"],
                                            "grad_steps": self.agent.grad_steps, "env_steps": self.agent.env_steps})
            self.pub_w.publish(cv.bytes_msg(data))
            self.agent.save(self.work / "agent")
            tmp = self.work / "learner.json.tmp"
            tmp.write_text(json.dumps(self.state))
            tmp.replace(self.work / "learner.json")
            self.get_logger().info(f"published weights version {v} ({len(data)} bytes, {self.agent.grad_steps} grad steps)")

        def _metrics(self, losses: dict):
            s = self.state["successes"]
            self.pub_m.publish(String(data=json.dumps({
                "version": self.state["version"], "transitions": self.state["transitions"],
                "episodes": self.state["episodes"], "grad_steps": self.agent.grad_steps,
                "transitions_by_robot": self.state["robots"],
                "env_steps": self.agent.env_steps, "success_rate_recent": sum(s) / len(s) if s else None,
                "losses": {k: float(v) for k, v in losses.items()}, "stamp": time.time()})))

        def close(self):
            self._stop.set()
            self.worker.join(timeout=10.0)  # never leave torch mid-update at interpreter exit

    return run_node(LearnerNode, argv, threads=3)


if __name__ == "__main__":
    sys.exit(main())
