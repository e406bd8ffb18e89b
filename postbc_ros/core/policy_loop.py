"""The policy's chunk-execution protocol (ROS-free): everything policy_node does between messages.

A worker thread (`start`) runs `step` until `close`. Per decision it takes the observation frames
up to the one for the next step (stamp t_obs), waits briefly for the success flag of that same
tick (so a success is credited to the chunk it happened in), swaps in pending weights (only
here: between two chunks), asks the agent for a chunk, keeps its first k actions, converts them
to joint setpoints (the action adapter) and schedules them at t_i = t_obs + i·dt + latency
(core.chunk_scheduler: steps already past are dropped). The next decision is taken on the
observation at t_obs + k·dt. Every executed chunk becomes a transition (core.chunk_transitions),
handed to `publish_transition` when the next decision (or the episode's end) closes it.

Episodes come from the episode state dicts of the episode manager (`set_episode`): a new
episode starts a fresh observation history and re-anchors the commanded pose at the measured
one; when it stops the loop publishes an explicit hold and, once the outcome is known, the last
transition (terminal on success). During a human takeover the policy yields: it stops
commanding and records every k human actions as an intervention transition.

Nothing non-finite is ever published: a chunk (or its noise, or the joint setpoints it converts
to) holding a NaN or an infinity -- the agent's act() raises NonFiniteChunkError for one, and the
loop checks again whatever agent it runs -- is not executed: the loop publishes an explicit hold,
counts it (reason `non_finite_chunk`) and decides again on the next observation; no transition
is recorded for it. A weights record that fails to load (rl.acting_weights checks every tensor
finite and of the agent's shape first) leaves the agent as it was and is counted under its
reason; so is a refused human action (`teleop_action`). Counts: `guard` (core.message_guard).

Everything outside is injected: the agent (`new_history`, `act`), the action adapter (`reset`,
`targets`), the clock, the measured joint positions, the publishing callbacks and the weights
loader, so the loop is tested without ROS, a simulator or a network.
"""
from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from postbc_ros.core.chunk_scheduler import ChunkScheduler, ScheduledChunk
from postbc_ros.core.chunk_transitions import ChunkRecorder
from postbc_ros.core.frame_buffer import FrameBuffer
from postbc_ros.core.message_guard import MessageGuard
from postbc_ros.core.takeover_actions import TakeoverActions

FRAME_BUFFER_LEN = 64  # observation frames kept between two decisions (a stalled loop drops the oldest)
FRESH_TOLERANCE_DT = 0.25  # a frame stamped up to this many dt before the step's time is its frame (jitter)
SUCCESS_WAIT_S = 0.05  # longest wait for the success flag of the observation's tick
SUCCESS_POLL_S = 0.002  # s between looks at the success flag while waiting for it
SAME_TICK_S = 1e-6  # stamps closer than this belong to the same tick
IDLE_POLL_S = 0.01  # s between looks at the episode state while no episode runs
ERROR_BACKOFF_S = 0.1  # pause after a failed iteration (a persistent error does not spin the CPU)
TAKEOVER_FRAME_DT = 0.5  # during a takeover, the next frame is one at least half a dt newer
CLOSE_TIMEOUT_S = 5.0  # longest wait for the worker thread to finish its iteration on close

NON_FINITE_CHUNK = "non_finite_chunk"  # drop reason of a chunk that is held instead of executed
WEIGHTS_REJECTED = "weights_rejected"  # drop reason of a weights record without a reason of its own
TELEOP_ACTION = "teleop_action"  # drop reason of a refused human action (wrong length, not finite)


class NonFiniteChunkError(ValueError):
    """An agent's act() produced a chunk or noise with NaN / infinite entries (rl.agent_base
    raises it; the policy loop holds instead of executing the chunk)."""

    reason = NON_FINITE_CHUNK


Loader = Callable[[Any, bytes, dict], tuple[Any, dict]]  # (agent, record, obs) -> (agent, wire header)


@dataclass(frozen=True)
class PolicyLoopConfig:
    k: int  # actions executed per chunk (the policy's n_action_steps)
    action_dim: int  # length of one action (a human's actions are checked against it)
    dt: float  # control period [s]
    latency: float  # s added to every step time [s]
    gamma: float  # discount of the chunk rewards (must match the learner)
    robot_id: str  # name of this robot in transitions
    mode: str  # pretrained | a finetuner (recorded in transitions)
    explore: bool  # exploration noise while finetuning (false: deterministic evaluation)

    @property
    def act_mode(self) -> str:
        """The agent's sampling mode: the pretrained policy's own noise, exploring, or deterministic."""
        return "base" if self.mode == "pretrained" else ("explore" if self.explore else "eval")


class PolicyLoop:
    """Public state: `episode` (the episode acted in, None between episodes), `version` (weights
    loaded), `schedule` (the chunk being streamed, None while holding or yielding), `agent`."""

    def __init__(self, agent: Any, adapter: Any, cfg: PolicyLoopConfig, *, clock: Callable[[], float],
                 joint_positions: Callable[[], np.ndarray | None],
                 publish_command: Callable[[float, np.ndarray, np.ndarray], None],
                 publish_hold: Callable[[], None], publish_transition: Callable[[dict], None],
                 load_weights: Loader, log: Any, weights_loaded: Callable[[dict], None] = lambda head: None,
                 guard: MessageGuard | None = None):
        self.agent, self.adapter, self.cfg = agent, adapter, cfg
        self.clock, self.joint_positions, self.log = clock, joint_positions, log
        self.publish_command, self.publish_hold = publish_command, publish_hold
        self.publish_transition, self.load_weights = publish_transition, load_weights
        self.weights_loaded = weights_loaded
        self.guard = guard or MessageGuard(log)  # what was dropped or held, by reason
        self.scheduler = ChunkScheduler(cfg.dt, cfg.latency)
        self.recorder = ChunkRecorder(cfg.gamma)
        self.frames = FrameBuffer(FRAME_BUFFER_LEN)  # observation frames not yet pushed into the history
        self.takeover = TakeoverActions(cfg.action_dim, cfg.k)
        self.history: Any = None  # the episode's observation history (agent.new_history() when it begins)
        self.obs_now: dict | None = None  # the history's stacked observation after its newest frame
        self.latest_image = None
        self.episode_state: dict = {"episode": -1, "state": "idle"}
        self.episode: int | None = None
        self.version = 0
        self.schedule: ScheduledChunk | None = None
        self.intervening = False
        self.success_clock: float | None = None  # time of the last success message (the twin's detector)
        self.pending_weights: bytes | None = None
        self._t_next: float | None = None  # stamp the next decision's observation must have (about)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------ inputs (any thread)
    def add_observation(self, t: float, state: np.ndarray) -> None:
        frame = {"state": state}
        image = self.latest_image
        if image is not None:
            frame["scene"] = image
        self.frames.add(t, frame)

    def set_image(self, image) -> None:
        self.latest_image = image

    def set_episode(self, state: dict) -> None:
        self.episode_state = state

    def success(self, flag: bool) -> None:
        t = self.clock()
        if flag and self.episode_state.get("state") == "running":
            self.recorder.success_at(t)
        self.success_clock = t

    def intervention(self, active: bool) -> None:
        if active and not self.intervening:
            self.takeover.start()
        self.intervening = bool(active)

    def human_action(self, action) -> None:
        if not self.intervening:
            return
        why = self.takeover.add(action)
        if why is not None:
            self.guard.drop(TELEOP_ACTION, why)

    def offer_weights(self, record: bytes) -> None:
        """A weights record from the learner; loaded before the next decision."""
        self.pending_weights = record

    def stream(self) -> None:
        """Re-send the current chunk's remaining points (every dt: the arm's watchdog sees a live stream)."""
        s = self.schedule
        if s is not None and self.episode_state.get("state") == "running":
            self._send(s)

    # ------------------------------------------------------------ worker
    def start(self) -> None:
        self._worker = threading.Thread(target=self.run, daemon=True)
        self._worker.start()

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=CLOSE_TIMEOUT_S)

    def run(self) -> None:
        """Step until closed; an error in one iteration is logged and the episode restarts cleanly
        (forgetting `episode` makes the next step begin it afresh). A dead worker would leave the
        arm holding forever while the node looks alive."""
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as e:  # noqa: BLE001
                self.log.error(f"policy loop error (episode restarts cleanly): {e}\n{traceback.format_exc()}")
                self.schedule, self.episode = None, None
                time.sleep(ERROR_BACKOFF_S)

    def step(self) -> None:
        """One iteration: wait between episodes, one human chunk, or one policy decision."""
        e = self.episode_state
        if e.get("state") != "running":
            self._between_episodes(e)
            time.sleep(IDLE_POLL_S)
            return
        if e["episode"] != self.episode:
            self._begin(e["episode"])
        if self.intervening or len(self.takeover):  # (after a takeover: record its last steps)
            self._human_step()
            return
        t_obs = self._wait_frame(self._t_next)
        if t_obs is None or self.joint_positions() is None:
            return
        self._wait_success_flag(t_obs)
        if self.pending_weights is not None:  # only here: between two chunks
            self._swap_weights()
        self._decide(t_obs)

    # ------------------------------------------------------------ protocol
    def _between_episodes(self, e: dict) -> None:
        if self.episode is not None and self.schedule is not None:
            self.schedule = None
            self.publish_hold()  # explicit hold
        if self.episode is not None and (e.get("episode") != self.episode or e.get("success") is not None
                                         or e.get("state") == "aborted"):
            success = None if e.get("success") is None else bool(e["success"])
            if self.recorder.pending is not None:  # (an episode may end before any chunk)
                self._emit(self.recorder.end_episode(self.history.stacked(), success))
            self.episode = None

    def _begin(self, episode: int) -> None:
        """A new episode: fresh history, no stale frames, commanded pose = measured pose."""
        self.episode, self._t_next = episode, None
        self.frames.keep_last(1)
        self.history = self.agent.new_history()
        self.recorder.start_episode()
        self.takeover.start()  # a takeover's actions stay with its episode
        q = self.joint_positions()
        if q is not None:
            self.adapter.reset(q)

    def _running(self, episode: int | None) -> bool:
        e = self.episode_state
        return not self._stop.is_set() and e.get("episode") == episode and e.get("state") == "running"

    def _wait_frame(self, t_min: float | None) -> float | None:
        """Push the frames up to the first one stamped at (about) `t_min` (None: any) into the
        history; its stamp, or None if the episode ended first."""
        episode = self.episode
        fresh = -math.inf if t_min is None else t_min - FRESH_TOLERANCE_DT * self.cfg.dt
        frames = self.frames.take_when_fresh(fresh, lambda: self._running(episode))
        if frames is None:
            return None
        for _t, f in frames:
            self.obs_now = self.history.push(f)
        return frames[-1][0]

    def _wait_success_flag(self, t_obs: float) -> None:
        # the success flag of the same tick may arrive just after the observation
        t_end = time.monotonic() + SUCCESS_WAIT_S
        while self.success_clock is not None and self.success_clock < t_obs - SAME_TICK_S \
                and time.monotonic() < t_end:
            time.sleep(SUCCESS_POLL_S)

    def _swap_weights(self) -> None:
        record, self.pending_weights = self.pending_weights, None
        try:
            agent, head = self.load_weights(self.agent, record, self.obs_now)
            version = int(head["version"])
        except Exception as e:  # noqa: BLE001 (a bad record must not stop the policy; the agent is unchanged)
            self.guard.drop(getattr(e, "reason", None) or WEIGHTS_REJECTED, f"weights rejected: {e}")
            return
        self.agent, self.version = agent, version
        self.log.info(f"loaded weights version {version} (env steps {head.get('env_steps')})")
        self.weights_loaded(head)

    def _decide(self, t_obs: float) -> None:
        t0 = time.perf_counter()
        k = self.cfg.k
        try:
            chunk, noise = self.agent.act(self.obs_now, mode=self.cfg.act_mode)
            acts = np.asarray(chunk[:k], dtype=float)
            _finite("chunk", acts)
            _finite("noise", noise)
            targets = _finite("joint setpoints of the chunk", self.adapter.targets(acts, self.joint_positions()))
        except NonFiniteChunkError as e:
            self._hold_instead(t_obs, e)
            return
        inference_s = time.perf_counter() - t0
        self.schedule = self.scheduler.schedule(targets, t_obs, now=self.clock())
        self._send(self.schedule)
        self._t_next = t_obs + k * self.cfg.dt  # decide again on the observation after k steps
        s = self.schedule
        meta = self._meta(t_obs, s.t_first, inference_s, s.dropped_past, self.cfg.mode, intervention=False)
        self._emit(self.recorder.decided(self.obs_now, noise, acts[s.dropped_past:], s.times, self.cfg.dt, meta))

    def _hold_instead(self, t_obs: float, e: NonFiniteChunkError) -> None:
        """A chunk that must not be executed: hold, count, decide again on the next observation."""
        self.guard.drop(NON_FINITE_CHUNK, f"episode {self.episode}: chunk not executed, arm holds: {e}")
        self.schedule = None
        self.publish_hold()
        self._t_next = t_obs + self.cfg.dt

    def _human_step(self) -> None:
        """During a takeover: stop commanding; every k human actions become one transition
        flagged `intervention` (no steered noise)."""
        self.schedule = None
        t_obs = self._wait_frame(self._t_next)
        if t_obs is None:
            return
        acts = self.takeover.take(final=not self.intervening)
        if acts is None and self.intervening:
            self._t_next = t_obs + TAKEOVER_FRAME_DT * self.cfg.dt
            return
        if acts is not None:
            times = t_obs + self.cfg.dt * np.arange(1, len(acts) + 1)
            meta = self._meta(t_obs, float(times[0]), 0.0, 0, "teleop", intervention=True)
            self._emit(self.recorder.decided(self.obs_now, None, acts, times, self.cfg.dt, meta))
        q = self.joint_positions()
        if q is not None:
            self.adapter.reset(q)  # the human moved the arm: re-anchor the commanded pose
        self._t_next = t_obs + TAKEOVER_FRAME_DT * self.cfg.dt if self.intervening else None

    def _meta(self, t_obs: float, t_first: float, inference_s: float, dropped: int, mode: str,
              intervention: bool) -> dict:
        return {"robot": self.cfg.robot_id, "episode": int(self.episode), "policy_version": self.version,
                "t_obs": t_obs, "t_first": t_first, "inference_s": inference_s, "dropped": int(dropped),
                "mode": mode, "intervention": intervention}

    def _send(self, s: ScheduledChunk) -> None:
        future = s.times > self.clock()
        if future.any():
            self.publish_command(s.t_obs, s.times[future], s.actions[future])

    def _emit(self, tr: dict | None) -> None:
        if tr is not None:
            self.publish_transition(tr)


def _finite(what: str, x) -> Any:
    """`x` unchanged when it is None or all finite; NonFiniteChunkError otherwise."""
    if x is not None and not np.isfinite(np.asarray(x, dtype=float)).all():
        raise NonFiniteChunkError(f"{what} holds NaN or infinite values")
    return x
