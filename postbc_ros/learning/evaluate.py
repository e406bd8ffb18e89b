"""Roll a checkpoint out in a gymnasium env: success rate, episode lengths.

A loaded checkpoint (`load_policy`) carries its observation contract; `evaluate_policy` first
checks it against the env's (`check_policy_env`) and refuses a checkpoint made for another robot,
action space or observation (ContractMismatch), so no evaluation runs on the wrong cell.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from postbc_ros.core.observation_contract import SOURCE_MARKERS_PREFIX, TWIN_CONTROLS, Mismatch
from postbc_ros.learning.diffusion import DiffusionPolicy
from postbc_ros.learning.runner import PolicyRunner

log = logging.getLogger(__name__)


def env_kwargs_for(policy: DiffusionPolicy) -> dict[str, Any]:
    """obs_mode / image_size the policy needs from a postbc sim env."""
    keys = set(policy.cfg.obs_keys)
    if "wrist" in keys:
        mode = "image_wrist"
    elif keys & {"scene", "image"}:
        mode = "image"
    else:
        # joints + marker poses (the cell's observation, the twin's markers mode) or the twin's privileged state
        contract = getattr(policy, "contract", None)
        state = contract.feature_map.get("observation.state") if contract is not None else None
        markers = state is not None and str(state.source or "").startswith(SOURCE_MARKERS_PREFIX)
        return {"obs_mode": "markers" if markers else "state"}
    shape = policy.cfg.obs_shapes.get("scene") or policy.cfg.obs_shapes.get("wrist")
    return {"obs_mode": mode, "image_size": int(shape[0])}


def control_for(policy: DiffusionPolicy) -> str | None:
    """The twin env `control` a loaded checkpoint's contract names (None: not recorded)."""
    contract = getattr(policy, "contract", None)
    return None if contract is None else TWIN_CONTROLS.get((contract.action.kind, contract.action.mode))


def check_policy_env(policy: DiffusionPolicy, env) -> list[Mismatch]:
    """Check a loaded checkpoint's observation contract against what `env` gives and takes.
    Raises ContractMismatch (naming each field, both values and the fix) when they do not fit;
    returns the warnings (fields not checked, a control rate within tolerance). A policy built in
    memory (no `contract`) is not checked."""
    from postbc_ros.data.collect import contract_for_env

    contract = getattr(policy, "contract", None)
    if contract is None:
        return []
    return contract.require(contract_for_env(env), "checkpoint", getattr(policy, "checkpoint_dir", ""))


def evaluate_policy(policy: DiffusionPolicy, env, episodes: int, seed: int = 0, device=None,
                    progress: bool = True, max_steps: int | None = None, noise_scale: float = 1.0,
                    check_contract: bool = True) -> dict[str, Any]:
    """Run `episodes` episodes with seeds seed, seed+1, ...; success = info['success'] at the end.
    `noise_scale` scales the initial DDIM noise (0: the deterministic w = 0 chunks). The policy's
    observation contract is checked against the env first (check_policy_env; warnings are logged)
    unless the caller did so (check_contract=False)."""
    if check_contract:
        for w in check_policy_env(policy, env):
            log.warning("observation contract: %s", w)
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
