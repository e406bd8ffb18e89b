"""Demonstrations → chunk transitions (what the learner and the benchmarks add to a replay buffer).

One chunk = one RL step: the first `n_action_steps` actions run (fewer if the episode ends),
reward = `core.chunk_transitions.chunk_reward` (default Σ_i γ^i r_i), bootstrap
discount = γ^k. Running agents in envs is the benchmarks'
(`postbc_ros.benchmarks.rollout`).
"""
from __future__ import annotations

import numpy as np

from postbc_ros.core.chunk_transitions import chunk_reward
from postbc_ros.core.transition import Transition


def episode_to_transitions(
    episode: dict[str, np.ndarray], obs_keys: list[str], obs_history: int, n_action_steps: int, gamma: float,
    success: bool | None = None, reward: str = "zero_one",
) -> list[Transition]:
    """Demonstration episode (DemoDataset.episode(i) layout) → chunk transitions (no noise).

    Reward is 0/1 on the success frame (`next.success` if recorded, else 1 on the last frame of
    a successful episode), turned into the chunk reward of convention `reward`; the last chunk of
    a successful episode is terminal.
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
        r = chunk_reward(rew[t : t + k], gamma, reward)
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
