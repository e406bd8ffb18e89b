"""MuJoCo twins of the WidowX 250 6-DOF and the UR5e, gymnasium tasks, scripted demonstrators.

Public API (docs/interfaces.md): make_env, make_env_from_id, Twin, make_scripted_policy.
Importing this package registers the gymnasium ids `postbc/<Robot><Task>-v0` (e.g.
`postbc/WidowXPickPlace-v0`, `postbc/UR5ePush-v0`); mujoco is imported only when an env or
a Twin is built.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym

ROBOT_IDS = {"widowx": "WidowX", "ur5e": "UR5e"}
TASK_IDS = {"reach": "Reach", "push": "Push", "pick_place": "PickPlace"}
ENV_IDS: dict[str, tuple[str, str]] = {
    f"postbc/{r_id}{t_id}-v0": (robot, task)
    for robot, r_id in ROBOT_IDS.items()
    for task, t_id in TASK_IDS.items()
}

for _env_id, (_robot, _task) in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(
            id=_env_id,
            entry_point="postbc_ros.sim.envs:make_env",
            kwargs={"robot": _robot, "task": _task},
            disable_env_checker=True,
        )


def env_id(robot: str, task: str) -> str:
    """Registered gymnasium id of (robot, task), e.g. ("widowx", "push") -> postbc/WidowXPush-v0."""
    if robot not in ROBOT_IDS or task not in TASK_IDS:
        raise ValueError(f"no env for robot={robot!r} task={task!r}; robots {list(ROBOT_IDS)}, tasks {list(TASK_IDS)}")
    return f"postbc/{ROBOT_IDS[robot]}{TASK_IDS[task]}-v0"


def make_env(robot: str, task: str, **kwargs: Any) -> gym.Env:
    """See postbc_ros.sim.envs.make_env."""
    from postbc_ros.sim.envs import make_env as _make_env

    return _make_env(robot, task, **kwargs)


def make_env_from_id(env_id: str, **kwargs: Any) -> gym.Env:
    """Env from a registered id: `postbc/WidowXPickPlace-v0` style (our twins) or
    `metaworld/<task>-v3` (delegated to postbc_ros.sim.metaworld_env.make_metaworld_env)."""
    if env_id.startswith("metaworld/"):
        task = env_id[len("metaworld/"):]
        if not task:
            raise ValueError("make_env_from_id: give a Meta-World task, e.g. metaworld/reach-v3")
        from postbc_ros.sim.metaworld_env import make_metaworld_env

        return make_metaworld_env(task, **kwargs)
    if env_id not in ENV_IDS:
        raise ValueError(
            f"make_env_from_id: unknown env id {env_id!r}; known: {sorted(ENV_IDS)} "
            "or metaworld/<task>-v3"
        )
    return gym.make(env_id, **kwargs)  # sets env.spec; env.unwrapped is the TwinTaskEnv


def __getattr__(name: str):
    if name == "Twin":
        from postbc_ros.sim.twin import Twin

        return Twin
    if name in ("make_scripted_policy", "ScriptedPolicy"):
        from postbc_ros.sim import scripted

        return getattr(scripted, name)
    raise AttributeError(f"module 'postbc_ros.sim' has no attribute {name!r}")


__all__ = ["ENV_IDS", "env_id", "make_env", "make_env_from_id", "Twin", "make_scripted_policy", "ScriptedPolicy"]
