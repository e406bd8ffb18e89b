"""Running chunk agents in gymnasium envs: chunk execution, episodes, evaluation (the benchmarks' loop).

Env conventions (docs/interfaces.md): dict obs with "state" (+ images), 0/1 reward, terminated
on success, `info["success"]`. One chunk = one RL step: the first `n_action_steps` actions run
(fewer if the episode ends), reward = `core.chunk_transitions.chunk_reward` of the executed steps'
rewards in the agent's convention (default Σ_i γ^i r_i), bootstrap discount = γ^k.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from postbc_ros.core.chunk_transitions import chunk_reward
from postbc_ros.core.transition import Transition


@dataclass
class ChunkResult:
    next_obs: dict
    reward: float
    discount: float
    steps: int
    terminated: bool
    truncated: bool
    success: bool
    executed: np.ndarray
    observations: list = field(default_factory=list)  # every obs seen while executing (for histories)


def execute_chunk(env, chunk: np.ndarray, n_action_steps: int, gamma: float, reward: str = "zero_one") -> ChunkResult:
    """Step `env` through the first n_action_steps actions of `chunk` (clipped to the action space)."""
    low, high = env.action_space.low, env.action_space.high
    rewards, k, success = [], 0, False
    terminated = truncated = False
    obs = None
    executed, seen = [], []
    for a in np.asarray(chunk)[:n_action_steps]:
        a = np.clip(a, low, high).astype(np.float32)
        obs, r, terminated, truncated, info = env.step(a)
        executed.append(a)
        seen.append(obs)
        rewards.append(float(r))
        k += 1
        success = success or bool(info.get("success", False))
        if terminated or truncated:
            break
    return ChunkResult(obs, chunk_reward(rewards, gamma, reward), gamma ** k, k, bool(terminated), bool(truncated),
                       success, np.stack(executed), seen)


@dataclass
class EpisodeStats:
    success: bool
    env_steps: int
    rl_steps: int


def run_episode(env, agent, mode: str, seed: int | None = None, learn: bool = False,
                on_step: Callable[[dict], None] | None = None) -> EpisodeStats:
    """One episode with `agent.act(obs, mode)`. learn=True: observe + update after each chunk."""
    obs, _ = env.reset(seed=seed)
    hist = agent.new_history()
    s = hist.reset(obs)
    n_exec, gamma = agent.fp.n_action_steps, agent.discount
    success, steps, rl = False, 0, 0
    while True:
        chunk, w = agent.act(s, mode=mode)
        res = execute_chunk(env, chunk, n_exec, gamma, agent.reward_convention)
        for o in res.observations:  # the history advances through every executed frame
            s_next = hist.push(o)
        steps += res.steps
        rl += 1
        success = success or res.success
        if learn:
            agent.observe(Transition(obs=s, noise=w, action=res.executed, reward=res.reward, discount=res.discount,
                                     done=res.terminated, next_obs=s_next, steps=res.steps))
            m = agent.update()
            if on_step is not None:
                on_step(m)
        s = s_next
        if res.terminated or res.truncated:
            break
    return EpisodeStats(success, steps, rl)


def evaluate(env, agent, episodes: int, mode: str = "eval", seed0: int = 0) -> float:
    """Mean success over `episodes` episodes (seeds seed0, seed0+1, ...)."""
    wins = [run_episode(env, agent, mode, seed=seed0 + i).success for i in range(episodes)]
    return float(np.mean(wins)) if wins else 0.0
