"""Chunk-level RL transitions from what the policy node actually executed (ROS-free).

One transition per decided chunk: the stacked observation history the chunk was conditioned on,
the steered noise w, the actions actually executed (steps dropped as already past are not),
the chunk reward (`chunk_reward`: by default Σ γ^i r_i with r_i = 1 on the step where success was
first detected), bootstrap discount γ^k, terminal on success, and the next decision's observation
history: a `postbc_ros.core.transition.Transition`, with the policy's bookkeeping (episode, robot,
stamps, version) from the `meta` of the chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from postbc_ros.core.transition import Transition

#: chunk reward conventions over the env's per-step 0/1 success reward r_i:
#: zero_one — Σ_i γ^i r_i (1 on the success step, discounted within the chunk);
#: minus_one — Σ_i (r_i − 1): −1 per step, 0 on success, summed undiscounted within the chunk, as
#: DSRL's reference (robomimic reward − 1, summed by its ActionChunkWrapper)
REWARDS = ("zero_one", "minus_one")


def chunk_reward(step_rewards: Sequence[float], gamma: float, reward: str = "zero_one") -> float:
    """The reward of one executed chunk from its env steps' 0/1 rewards (see REWARDS)."""
    r = np.asarray(step_rewards, dtype=float).reshape(-1)
    if reward == "zero_one":
        return float(np.sum(gamma ** np.arange(len(r)) * r))
    if reward == "minus_one":
        return float(np.sum(r - 1.0))
    raise ValueError(f"reward must be one of {list(REWARDS)}, got {reward!r}")


@dataclass
class _Pending:
    obs: dict[str, np.ndarray]
    noise: np.ndarray | None  # None: a human (intervention) chunk
    actions: np.ndarray  # executed actions [k, A]
    times: np.ndarray  # when each executed step's setpoint is reached
    dt: float
    meta: dict[str, Any] = field(default_factory=dict)  # Transition bookkeeping fields


class ChunkRecorder:
    def __init__(self, gamma: float, reward: str = "zero_one"):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {list(REWARDS)}, got {reward!r}")
        self.gamma = float(gamma)
        self.reward = reward
        self.pending: _Pending | None = None
        self.success_time: float | None = None

    def start_episode(self) -> None:
        self.pending = None
        self.success_time = None

    def success_at(self, t: float) -> None:
        if self.success_time is None:
            self.success_time = float(t)

    def _finish(self, next_obs: dict[str, np.ndarray], success_label: bool | None) -> Transition:
        p = self.pending
        k = len(p.actions)
        steps, done = np.zeros(k), False  # the executed steps' 0/1 rewards, up to the success
        if self.success_time is not None and k:
            # the step whose interval (times[i] - dt, times[i]] holds the detection
            i = int(np.searchsorted(p.times, self.success_time - 1e-9))
            if i < k:
                steps, done = np.zeros(i + 1), True
                steps[i] = 1.0
        if success_label is not None and not done and success_label:
            steps, done = np.zeros(max(k, 1)), True  # operator label: success at the end
            steps[-1] = 1.0
        reward = chunk_reward(steps, self.gamma, self.reward)
        tr = Transition(obs=p.obs, noise=p.noise, action=p.actions, reward=float(reward),
                        discount=float(self.gamma ** k), done=bool(done), next_obs=next_obs, steps=k, **p.meta)
        self.pending = None
        return tr

    def decided(self, obs, noise, actions, times, dt: float, meta: dict[str, Any]) -> Transition | None:
        """Record a new chunk; returns the previous chunk's transition (next_obs = this obs).

        A chunk none of whose steps is executed (all already past when it was published, e.g. a
        slow first inference) is not a decision the robot acted on: it is ignored, and the previous
        chunk stays pending until the next executed one."""
        if len(actions) == 0:
            return None
        out = self._finish(obs, None) if self.pending is not None else None
        if out is not None and out.done:
            self.success_time = None  # a terminal transition consumed the success
        self.pending = _Pending(obs=obs, noise=None if noise is None else np.asarray(noise, np.float32),
                                actions=np.asarray(actions, np.float32), times=np.asarray(times, float),
                                dt=float(dt), meta=dict(meta))
        return out

    def end_episode(self, next_obs, success: bool | None) -> Transition | None:
        """The episode ended: the last chunk's transition (terminal if it succeeded)."""
        if self.pending is None:
            return None
        tr = self._finish(next_obs, success)
        tr.episode_end = True
        tr.success = None if success is None else bool(success) or tr.done
        return tr

