"""Roll a checkpoint out in a gymnasium env: success rate, episode lengths."""
from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from postbc_ros.learning.diffusion import DiffusionPolicy
from postbc_ros.learning.runner import PolicyRunner


def env_kwargs_for(policy: DiffusionPolicy) -> dict[str, Any]:
    """obs_mode / image_size the policy needs from a postbc sim env."""
    keys = set(policy.cfg.obs_keys)
    if "wrist" in keys:
        mode = "image_wrist"
    elif keys & {"scene", "image"}:
        mode = "image"
    else:
        return {"obs_mode": "state"}
    shape = policy.cfg.obs_shapes.get("scene") or policy.cfg.obs_shapes.get("wrist")
    return {"obs_mode": mode, "image_size": int(shape[0])}


def evaluate_policy(policy: DiffusionPolicy, env, episodes: int, seed: int = 0, device=None,
                    progress: bool = True, max_steps: int | None = None, noise_scale: float = 1.0) -> dict[str, Any]:
    """Run `episodes` episodes with seeds seed, seed+1, ...; success = info['success'] at the end.
    `noise_scale` scales the initial DDIM noise (0: the deterministic w = 0 chunks)."""
    runner = PolicyRunner(policy, device, seed=seed, noise_scale=noise_scale)
    successes, lengths = [], []
    bar = tqdm(range(episodes), desc="eval", disable=not progress, leave=False)
    for ep in bar:
        obs, info = env.reset(seed=seed + ep)
        runner.reset()
        steps, success = 0, False
        while True:
            obs, _r, terminated, truncated, info = env.step(runner.act(obs))
            steps += 1
            success = success or bool(info.get("success", False))
            if terminated or truncated or success or (max_steps is not None and steps >= max_steps):
                break
        successes.append(success)
        lengths.append(steps)
        bar.set_postfix(success=f"{np.mean(successes):.2f}", refresh=False)
    return {
        "success_rate": float(np.mean(successes)),
        "episodes": int(episodes),
        "successes": int(np.sum(successes)),
        "mean_length": float(np.mean(lengths)),
        "seed": int(seed),
        "noise_scale": float(noise_scale),
        "per_episode": [{"success": bool(s), "length": int(l)} for s, l in zip(successes, lengths)],
    }
