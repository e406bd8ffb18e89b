"""The online learner's loop, without ROS: what learner_node runs. The node only feeds it the
transitions the replay buffer has made durable and publishes what `step` returns.

- Resume: `work_dir/learner.json` (counts, weight version) and `work_dir/agent` (the full agent:
  networks, optimizers, replay contents, RNG), both written at every weight export.
- Demonstrations (a DemoDataset directory) become chunk transitions in the agent's demo buffer
  on a fresh start (a resumed agent has them in its saved replay). A dataset with a NaN /
  infinite value or an action outside the arm's action space is refused (DatasetError naming the
  episode and frame, data.reader.check_values): NaN demonstrations made the agent's weights NaN.
- Each online transition with steered noise is observed and followed by `utd` gradient steps.
  Human (intervention) chunks carry no noise: the replay store keeps them, the noise-space
  critics cannot train on them.
- Every `publish_every` finished episodes (replayed history not counted), once the agent has
  taken a gradient step, the acting weights are exported as a new version (a wire "weights"
  record, postbc_ros.rl.acting_weights) and the agent is saved; metrics at every finished episode.
  Weights that are not finite are never exported: the version is skipped, counted on `guard`
  (reason weights_non_finite) and logged, the agent is not saved over its last good copy, and
  learning goes on.
"""
from __future__ import annotations

import dataclasses
import json
import queue
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postbc_ros.core import wire
from postbc_ros.core.message_guard import MessageGuard
from postbc_ros.core.transition import Transition
from postbc_ros.rl.acting_weights import WeightsError, export_acting_state

STATE_FILE = "learner.json"  # counts and weight version, in work_dir
AGENT_DIR = "agent"  # the full agent, in work_dir
RECENT_EPISODES = 50  # the success rate in the metrics is over this many last episodes


@dataclass
class LearnerState:
    """What the learner has done; saved beside the agent so that a restart continues the counts."""
    version: int = 0  # last published weights version
    transitions: int = 0  # online transitions trained on
    episodes: int = 0  # finished episodes seen live
    successes: list[bool] = field(default_factory=list)  # of the last RECENT_EPISODES episodes
    robots: dict[str, int] = field(default_factory=dict)  # transitions trained on, by robot


@dataclass
class WeightsRecord:
    version: int
    data: bytes  # wire "weights" record


@dataclass
class LearnerOutput:
    """What one learned transition produced for the node to publish."""
    weights: WeightsRecord | None = None
    metrics: dict[str, Any] | None = None


class LearnerLoop:
    def __init__(self, agent, algorithm: str, work_dir: str | Path, publish_every: int = 1, utd: int = 4,
                 demos: str = "", guard: MessageGuard | None = None):
        self.agent = agent
        self.guard = guard or MessageGuard()  # transitions not learned from, weights not exported
        self.algorithm = algorithm
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.publish_every = int(publish_every)
        self.utd = int(utd)
        self.state = LearnerState()
        self.resumed = self._resume()
        self.demo_chunks = self._load_demos(demos) if demos and not self.resumed else 0
        self.episodes_since_publish = 0
        self.queue: queue.Queue[Transition] = queue.Queue()

    def _resume(self) -> bool:
        f = self.work_dir / STATE_FILE
        if not f.exists():
            return False
        self.state = LearnerState(**json.loads(f.read_text()))
        self.agent.load(self.work_dir / AGENT_DIR)
        return True

    def _load_demos(self, root: str) -> int:
        from postbc_ros.data import DemoDataset
        from postbc_ros.data.reader import check_values
        from postbc_ros.rl.rollout import episode_to_transitions

        ds = DemoDataset(root)
        check_values(ds)
        fp = self.agent.fp
        trs: list[Transition] = []
        for i in range(ds.num_episodes):
            trs += episode_to_transitions(ds.episode(i), fp.obs_keys, fp.obs_history, fp.n_action_steps,
                                          self.agent.discount, success=ds.episode_success(i),
                                          reward=self.agent.reward_convention)
        return self.agent.add_demos(trs)

    # ------------------------------------------------------------ feeding and polling
    def feed(self, tr: Transition) -> None:
        """Queue a stored transition (any thread)."""
        self.queue.put(tr)

    def step(self, timeout: float) -> LearnerOutput | None:
        """Learn from the next queued transition, waiting up to `timeout` s; None if none came."""
        try:
            tr = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return self.learn(tr)

    def learn(self, tr: Transition) -> LearnerOutput:
        fp = self.agent.fp
        losses: dict[str, float] = {}
        if tr.noise is not None and sorted(tr.obs) == sorted(fp.obs_keys):
            self.agent.observe(dataclasses.replace(tr, noise=tr.noise.reshape(fp.noise_shape)))
            self.state.transitions += 1
            self.state.robots[tr.robot] = self.state.robots.get(tr.robot, 0) + 1
            losses = self.agent.update(self.utd) if self.utd > 0 else {}
        out = LearnerOutput()
        if tr.episode_end and not tr.replayed:
            self.state.episodes += 1
            self.state.successes = (self.state.successes + [bool(tr.success)])[-RECENT_EPISODES:]
            self.episodes_since_publish += 1
            if self.episodes_since_publish >= self.publish_every and self.agent.grad_steps > 0:
                self.episodes_since_publish = 0
                try:
                    out.weights = self.publish()
                except WeightsError as e:  # nothing exported or saved; learning goes on
                    self.guard.drop(e.reason, f"weights not published: {e}")
            out.metrics = self.metrics(losses)
        return out

    # ------------------------------------------------------------ outputs
    def publish(self) -> WeightsRecord:
        """Export the acting weights as the next version; save the agent and the state for resume."""
        v = self.state.version + 1
        with tempfile.TemporaryDirectory() as d:
            export_acting_state(self.agent, d, v)  # WeightsError when not finite: the version is not used
            data = wire.pack_bundle(d, {"version": v, "algorithm": self.algorithm,
                                        "grad_steps": self.agent.grad_steps, "env_steps": self.agent.env_steps})
        self.state.version = v
        self.agent.save(self.work_dir / AGENT_DIR)
        tmp = self.work_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self.state)))
        tmp.replace(self.work_dir / STATE_FILE)
        return WeightsRecord(v, data)

    def metrics(self, losses: dict[str, float]) -> dict[str, Any]:
        s = self.state.successes
        return {"version": self.state.version, "transitions": self.state.transitions,
                "episodes": self.state.episodes, "grad_steps": self.agent.grad_steps,
                "transitions_by_robot": dict(self.state.robots), "env_steps": self.agent.env_steps,
                "success_rate_recent": sum(s) / len(s) if s else None,
                "losses": {k: float(v) for k, v in losses.items()}, "stamp": time.time()}
