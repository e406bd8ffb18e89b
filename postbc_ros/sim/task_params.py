"""Task names and timing shared by every arm: the twin tasks, episode horizons, the control period.

The per-arm task geometry (workspace, object sizes, tolerances, action scales) is robot data: it
lives in the robot's registry entry (`postbc_ros.robots.get_twin(robot).task`, a `TaskParams`).
Pure data (no mujoco import): the graph reads the horizons to time episodes.
"""
from __future__ import annotations

#: the natural tasks: the scripted operator's two modes both succeed
NATURAL_TASKS: tuple[str, ...] = ("reach", "push", "pick_place")
#: coverage variants (docs/coverage_tasks.md) -> the natural task they extend: same operator, same
#: success detector, plus an obstacle that the operator's common mode clips in part of the layouts
COVERAGE_TASKS: dict[str, str] = {"reach_obstacle": "reach"}
TASKS: tuple[str, ...] = NATURAL_TASKS + tuple(COVERAGE_TASKS)

HORIZONS: dict[str, int] = {"reach": 40, "push": 80, "pick_place": 100, "reach_obstacle": 40}
CONTROL_DT = 0.1  # 10 Hz control, like the real WidowX setups (BridgeData: 5 Hz)

# the scripted operator's reach detour (sim/scripted.py): a via point this far [m, times the arm's
# operator_scale] to one side of the start -> goal midpoint, lifted by REACH_DETOUR_LIFT [m]; the
# obstacle layouts (sim/layout.py) are placed relative to the same corridor
REACH_DETOUR = (0.05, 0.09)
REACH_DETOUR_LIFT = (0.0, 0.04)


def base_task(task: str) -> str:
    """The natural task a task is built on (itself for a natural task)."""
    return COVERAGE_TASKS.get(task, task)

# What a graph's observation/state holds (`observation:=` of `postbc launch`, sim_node's and
# policy_node's `observation`) -> the TwinTaskEnv obs_mode that observes the same. markers (the
# default) is what a real cell observes: joints + the marker poses perceived in the (twin) camera's
# frames; proprio is a cell without markers (joints, gripper, tool; observation_node layout proprio)
# whose policies also see the scene camera's images: the twin's image mode; privileged is the twin's
# object / goal positions read out of MuJoCo, for simulation-only studies.
TWIN_OBSERVATIONS = {"markers": "markers", "proprio": "image", "privileged": "state"}
DEFAULT_TWIN_OBSERVATION = "markers"
