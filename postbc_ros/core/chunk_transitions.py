"""Chunk-level RL transitions from what the policy node actually executed (ROS-free).

One transition per decided chunk: the stacked observation history the chunk was conditioned on,
the steered noise w, the actions actually executed (steps dropped as already past are not),
reward Σ γ^i r_i with r_i = 1 on the step where success was first detected, bootstrap discount
γ^k, terminal on success, and the next decision's observation history: a
`postbc_ros.core.transition.Transition`, with the policy's bookkeeping (episode, robot, stamps,
version) from the `meta` of the chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from postbc_ros.core.transition import Transition


@dataclass
class _Pending:
    obs: dict[str, np.ndarray]
    noise: np.ndarray | None  # None: a human (intervention) chunk
    actions: np.ndarray  # executed actions [k, A]
    times: np.ndarray  # when each executed step's setpoint is reached
    dt: float
    meta: dict[str, Any] = field(default_factory=dict)  # Transition bookkeeping fields


class ChunkRecorder:
    def __init__(self, gamma: float):
        self.gamma = float(gamma)
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
        reward, done = 0.0, False
        if self.success_time is not None and k:
            # the step whose interval (times[i] - dt, times[i]] holds the detection
            i = int(np.searchsorted(p.times, self.success_time - 1e-9))
            if i < k:
                reward, done = self.gamma ** i, True
        if success_label is not None and not done and success_label:
            reward, done = self.gamma ** max(k - 1, 0), True  # operator label: success at the end
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

