"""Running chunk agents in gymnasium envs and turning demonstrations into chunk transitions.

Env conventions (docs/interfaces.md): dict obs with "state" (+ images), 0/1 reward, terminated
on success, `info["success"]`. One chunk = one RL step: the first `n_action_steps` actions run
(fewer if the episode ends), reward = Σ_i γ^i r_i, bootstrap discount = γ^k.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

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


def execute_chunk(env, chunk: np.ndarray, n_action_steps: int, gamma: float) -> ChunkResult:
    """Step `env` through the first n_action_steps actions of `chunk` (clipped to the action space)."""
    low, high = env.action_space.low, env.action_space.high
    total, k, success = 0.0, 0, False
    terminated = truncated = False
    obs = None
    executed, seen = [], []
    for a in np.asarray(chunk)[:n_action_steps]:
        a = np.clip(a, low, high).astype(np.float32)
        obs, r, terminated, truncated, info = env.step(a)
        executed.append(a)
        seen.append(obs)
        total += (gamma ** k) * float(r)
        k += 1
        success = success or bool(info.get("success", False))
        if terminated or truncated:
            break
    return ChunkResult(obs, total, gamma ** k, k, bool(terminated), bool(truncated), success, np.stack(executed), seen)


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
        res = execute_chunk(env, chunk, n_exec, gamma)
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


def episode_to_transitions(
    episode: dict[str, np.ndarray], obs_keys: list[str], obs_history: int, n_action_steps: int, gamma: float,
    success: bool | None = None,
) -> list[Transition]:
    """Demonstration episode (DemoDataset.episode(i) layout) → chunk transitions (no noise).

    Reward is 0/1 on the success frame (`next.success` if recorded, else 1 on the last frame of
    a successful episode); the last chunk of a successful episode is terminal.
    """
    from .policy_adapter import ObsHistory, env_key_for

    if "action" not in episode:
        raise KeyError(f"demonstration episode has no 'action' field (fields: {sorted(episode)})")
    actions = np.asarray(episode["action"], np.float32)
    T = len(actions)
    if "next.success" in episode:
        rew = np.asarray(episode["next.success"], np.float32).reshape(T)
    else:
        rew = np.zeros(T, np.float32)
        if success:
            rew[-1] = 1.0
    first_success = int(np.argmax(rew > 0)) if rew.max() > 0 else None
    end = first_success + 1 if first_success is not None else T

    def frame(t: int) -> dict:
        out = {}
        for k in obs_keys:
            src = k if k in episode else f"observation.{env_key_for(k)}"
            if src not in episode:
                src = f"observation.images.{env_key_for(k)}"
            if src not in episode:
                raise KeyError(f"demonstration episode has no '{k}' (fields: {sorted(episode)})")
            out[k] = episode[src][min(t, T - 1)]
        return out

    hist = ObsHistory(obs_keys, obs_history)
    s = hist.reset(frame(0))
    trs = []
    t = 0
    while t < end:
        k = min(n_action_steps, end - t)
        r = float(sum((gamma ** i) * rew[t + i] for i in range(k)))
        # advance the history through the executed frames
        for i in range(1, k + 1):
            s_next = hist.push(frame(t + i))
        done = first_success is not None and t + k >= end
        act = actions[t : t + k]
        if k < n_action_steps:
            act = np.concatenate([act, np.repeat(act[-1:], n_action_steps - k, 0)], 0)
        trs.append(Transition(obs=s, action=act, reward=r, discount=gamma ** k, done=done, next_obs=s_next, steps=k))
        s = s_next
        t += k
    return trs
