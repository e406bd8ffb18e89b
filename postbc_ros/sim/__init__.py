"""MuJoCo twins of the registered arms (postbc_ros.robots), gymnasium tasks, scripted demonstrators.

Public API (docs/interfaces.md): make_env, make_env_from_id, env_ids, env_id, Twin,
make_scripted_policy. Importing this package registers the gymnasium ids
`postbc/<Title><Task>-v0` of every registered arm with a twin (e.g. `postbc/WidowXPickPlace-v0`,
`postbc/UR5ePush-v0`; <Title> is the registry entry's `title`; the coverage variant
`postbc/<Title>ReachObstacle-v0` of docs/coverage_tasks.md where the arm's twin has an obstacle); an arm registered later gets its
ids at the next `env_ids()` / `make_env_from_id`. mujoco is imported only when an env or a Twin
is built.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym

from postbc_ros.robots import get_robot, robot_names
from postbc_ros.sim.task_params import COVERAGE_TASKS

#: twin task -> its part of the env id: the natural tasks, then the coverage variants
#: (docs/coverage_tasks.md: postbc/<Title>ReachObstacle-v0 for every arm whose twin has an obstacle)
TASK_IDS = {"reach": "Reach", "push": "Push", "pick_place": "PickPlace", "reach_obstacle": "ReachObstacle"}


def env_ids() -> dict[str, tuple[str, str]]:
    """gymnasium id -> (robot, task) of every registered arm with a twin, each id registered with
    gymnasium (those of an arm registered since the last call are added now)."""
    ids = {}
    for robot in robot_names(with_twin=True):
        entry = get_robot(robot)
        for task, t_id in TASK_IDS.items():
            if task in COVERAGE_TASKS and entry.twin.task.obstacle is None:
                continue  # an arm whose twin data has no obstacle has no reach_obstacle
            ids[f"postbc/{entry.title}{t_id}-v0"] = (robot, task)
    for i, (robot, task) in ids.items():
        if i not in gym.registry:
            gym.register(id=i, entry_point="postbc_ros.sim.envs:make_env", kwargs={"robot": robot, "task": task},
                         disable_env_checker=True)
    return ids


env_ids()


def env_id(robot: str, task: str) -> str:
    """Registered gymnasium id of (robot, task), e.g. (DEFAULT_ROBOT, "push") -> postbc/WidowXPush-v0."""
    wanted = (get_robot(robot).name, task)
    for i, key in env_ids().items():
        if key == wanted:
            return i
    raise ValueError(f"no env for robot={robot!r} task={task!r}; robots with a twin "
                     f"{list(robot_names(with_twin=True))}, tasks {list(TASK_IDS)}")


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
    known = env_ids()
    if env_id not in known:
        raise ValueError(
            f"make_env_from_id: unknown env id {env_id!r}; known: {sorted(known)} "
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


__all__ = ["env_ids", "env_id", "make_env", "make_env_from_id", "Twin", "make_scripted_policy", "ScriptedPolicy"]
