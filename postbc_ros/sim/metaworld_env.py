"""Meta-World v3 tasks behind the project's env conventions, with the benchmark pitfalls fixed.

Pitfalls handled:
* `Meta-World/MT1` ignores `reset(seed=...)` and cycles 50 fixed positions per construction
  seed, so demos and evaluation overlap. Here each env is built from the goal-observable task
  class with `seeded_rand_vec=True`: every reset draws a fresh object/goal position from the
  env's own seeded generator (`reset(seed=s)` re-seeds it), and the position is reported in
  `info["task_position"]`. Use different seeds for demonstrations and evaluation and call
  `check_unseen(...)` — the benchmark does — to prove no evaluation position was demonstrated.
* MT1 never sets `terminated`: success is read from `info["success"]`; reward is 0/1 and
  `terminated` is reported on every successful step. Stepping on after success is allowed (a
  recorder keeps recording the arm settling, postbc_ros.data.collect).
* 500-step cap (`max_episode_steps`, shorter allowed) reported as `truncated` (with `terminated`
  too when the last step succeeds); stepping after the cap raises instead of silently continuing —
  reset first.
* Goal-observable observations: obs["state"] is the 39-D vector with the goal in [36:39].
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

MAX_STEPS = 500


def _task_name(task: str) -> str:
    name = task.split("/", 1)[1] if task.startswith("metaworld/") else task
    return name if name.endswith("-v3") else f"{name}-v3"


def available_tasks() -> list[str]:
    import metaworld

    return sorted(k[: -len("-goal-observable")] for k in metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE)


class MetaWorldTaskEnv(gym.Env):
    """Goal-observable Meta-World task: dict obs {"state": float32[39]}, 0/1 reward."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: str, seed: int = 0, max_episode_steps: int = MAX_STEPS, render_mode: str | None = None):
        import metaworld

        self.task = _task_name(task)
        key = f"{self.task}-goal-observable"
        if key not in metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE:
            raise ValueError(f"unknown Meta-World task {task!r}; choose one of {available_tasks()}")
        if not 1 <= int(max_episode_steps) <= MAX_STEPS:
            raise ValueError(f"max_episode_steps must be in [1, {MAX_STEPS}], got {max_episode_steps}")
        self._env = metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[key](seed=int(seed), render_mode=render_mode)
        self._env._partially_observable = False  # goal in obs[36:39]
        self._env._freeze_rand_vec = False
        self._env.seeded_rand_vec = True  # positions from self._env.np_random, not the global numpy RNG
        self._env.seed(int(seed))
        self._env.max_path_length = int(max_episode_steps)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = render_mode
        low = self._env.sawyer_observation_space.low.astype(np.float32)
        high = self._env.sawyer_observation_space.high.astype(np.float32)
        self.observation_space = gym.spaces.Dict({"state": gym.spaces.Box(low, high, dtype=np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self._needs_reset = True
        self._t = 0
        self.last_raw_obs: np.ndarray | None = None

    @property
    def raw(self):
        """The underlying Meta-World env (for experts and rendering)."""
        return self._env

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(int(seed))
        raw, info = self._env.reset()
        self._needs_reset = False
        self._t = 0
        self.last_raw_obs = np.asarray(raw, np.float64)
        info = dict(info)
        info["success"] = False
        info["task_position"] = np.asarray(self._env._last_rand_vec, np.float64).copy()
        return {"state": self.last_raw_obs.astype(np.float32)}, info

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError(f"{self.task}: episode ended ({self.max_episode_steps}-step cap); call reset()")
        a = np.clip(np.asarray(action, np.float32).reshape(4), -1.0, 1.0)
        raw, _r, _term, trunc, info = self._env.step(a)
        self._t += 1
        self.last_raw_obs = np.asarray(raw, np.float64)
        success = bool(info.get("success", 0.0) >= 1.0)
        info = dict(info)
        info["success"] = success
        terminated = success
        truncated = bool(trunc) or self._t >= self.max_episode_steps  # also on a successful last step
        self._needs_reset = truncated
        return {"state": self.last_raw_obs.astype(np.float32)}, float(success), terminated, truncated, info

    def render(self):
        return self._env.render()

    def close(self):
        self._env.close()


def make_metaworld_env(task: str, seed: int = 0, *, max_episode_steps: int = MAX_STEPS,
                       obs_mode: str = "state", render_mode: str | None = None, **_ignored: Any) -> MetaWorldTaskEnv:
    """`metaworld/<task>-v3` (or `<task>`) as a gymnasium env with our conventions.

    `seed` is both the construction seed and the seed of the reset-position generator; give
    demonstrations and evaluation different seeds (and check with `check_unseen`).
    """
    if obs_mode != "state":
        raise ValueError(f"Meta-World envs support obs_mode='state' only, got {obs_mode!r}")
    return MetaWorldTaskEnv(task, seed=seed, max_episode_steps=max_episode_steps, render_mode=render_mode)


class MetaWorldExpert:
    """Meta-World's scripted expert (`metaworld.policies`) as a demonstrator: reset(), __call__(obs)."""

    mode = "expert"

    def __init__(self, task: str):
        from metaworld.policies import ENV_POLICY_MAP

        name = _task_name(task)
        if name not in ENV_POLICY_MAP:
            raise ValueError(f"no scripted Meta-World expert for {name!r}")
        self._policy = ENV_POLICY_MAP[name]()

    def reset(self) -> None:
        pass

    def __call__(self, obs: dict) -> np.ndarray:
        import warnings

        state = np.asarray(obs["state"], np.float64)
        with warnings.catch_warnings():  # "Constant(s) may be too high": we clip to [-1, 1] right here
            warnings.simplefilter("ignore", UserWarning)
            action = self._policy.get_action(state)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def make_metaworld_expert(task: str) -> MetaWorldExpert:
    return MetaWorldExpert(task)


def check_unseen(demo_positions: list[np.ndarray], eval_positions: list[np.ndarray], tol: float = 1e-6) -> None:
    """Raise if any evaluation task position equals a demonstrated one (within `tol`)."""
    if not demo_positions or not eval_positions:
        return
    d = np.stack(demo_positions)
    for i, p in enumerate(eval_positions):
        dist = np.abs(d - np.asarray(p)[None]).max(axis=1)
        if dist.min() <= tol:
            raise ValueError(
                f"evaluation episode {i} reuses demonstrated task position {np.asarray(p).round(4).tolist()}; "
                "use different env seeds for demonstrations and evaluation"
            )
