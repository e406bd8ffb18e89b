"""Seeded random task layouts (object / goal / bowl / obstacle positions). Pure numpy.

Kept apart from the Twin so the sampling is testable on its own and identical for every
consumer (envs, sim_node, scripted demonstrators). The reach detour geometry (`detour_via`) lives
here too: the scripted operator steers through it and the coverage task's obstacle rule
(`obstacle_blocks`, docs/coverage_tasks.md) is written in its terms.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.robots.twin_data import ObstacleParams, TaskParams
from postbc_ros.sim.task_params import REACH_DETOUR

#: the scripted operator's modes and their side of the start -> goal line (+1: left normal)
MODE_SIDES = {"left": 1.0, "right": -1.0}
COMMON_MODE, RARE_MODE = "left", "right"
# detour offsets at which the obstacle rule checks a mode's paths (fractions of REACH_DETOUR)
_RULE_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
_PATH_SAMPLES = 12  # points per path segment for the arm's shadow
MAX_LAYOUT_TRIES = 1000


def detour_via(p: TaskParams, start, goal, side: float, lateral: float, lift: float = 0.0) -> np.ndarray:
    """Via point of a reach detour: `lateral` metres to the `side` (+1 left, -1 right, seen from
    start towards goal) of the start -> goal midpoint, `lift` metres up, clipped into the ee box."""
    s, g = np.asarray(start, dtype=float), np.asarray(goal, dtype=float)
    d = g[:2] - s[:2]
    u = d / max(float(np.linalg.norm(d)), 1e-9)
    n = np.array([-u[1], u[0], 0.0])
    via = 0.5 * (s + g) + side * lateral * n + np.array([0.0, 0.0, lift])
    return np.clip(via, p.ee_low, p.ee_high)


def _detour_laterals(scale: float) -> list[float]:
    lo, hi = REACH_DETOUR
    return [scale * (lo + f * (hi - lo)) for f in _RULE_FRACTIONS]


def _seg_dist(pt: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """xy distance of the point `pt` from the segments a -> b (a, b: [..., 2], broadcast)."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    ab = b - a
    t = np.clip(np.sum((pt - a) * ab, axis=-1) / np.maximum(np.sum(ab * ab, axis=-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(pt - (a + t[..., None] * ab), axis=-1)


def _path_xy(p: TaskParams, start, goal, side: float, lateral: float) -> np.ndarray:
    return np.array([np.asarray(start, float)[:2], detour_via(p, start, goal, side, lateral)[:2],
                     np.asarray(goal, float)[:2]])


def _path_clearance(o: np.ndarray, path: np.ndarray, wrist_offset=(0.0, 0.0)) -> tuple[float, float]:
    """(xy distance of the post axis `o` from the tool path, from the arm's shadow: for every tool
    point q along the path the segments base -> q, base -> wrist and wrist -> q, the wrist at
    `wrist_offset` (along, left of base -> q) from q)."""
    tool = float(np.min(_seg_dist(o, path[:-1], path[1:])))
    f = np.linspace(0.0, 1.0, _PATH_SAMPLES)[:, None, None]
    q = (path[:-1] + f * (path[1:] - path[:-1])).reshape(-1, 2)
    r = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-9)
    w = q + wrist_offset[0] * r + wrist_offset[1] * np.stack([-r[:, 1], r[:, 0]], axis=-1)
    base = np.zeros(2)
    shadow = min(np.min(_seg_dist(o, base, q)), np.min(_seg_dist(o, base, w)), np.min(_seg_dist(o, w, q)))
    return tool, float(shadow)


def mode_is_clear(p: TaskParams, start, goal, obstacle, mode: str, scale: float) -> bool:
    """True when no detour of `mode` in the operator's range comes near the post: the tool path
    keeps radius + tool_clearance + margin from its axis and the arm (base -> wrist -> tool, seen
    from above) radius + link_clearance + margin."""
    ob = _obstacle(p)
    o = np.asarray(obstacle, float)[:2]
    for lat in _detour_laterals(scale):
        tool, shadow = _path_clearance(o, _path_xy(p, start, goal, MODE_SIDES[mode], lat), ob.wrist_offset)
        if tool < ob.radius + ob.tool_clearance + ob.margin or shadow < ob.radius + ob.link_clearance + ob.margin:
            return False
    return True


def obstacle_blocks(p: TaskParams, start, goal, obstacle, scale: float, mode: str = COMMON_MODE) -> bool:
    """THE blocking rule: the post blocks `mode` when the gripper cannot reach the via point of any
    detour of that mode in the operator's range, nor the start -> goal midpoint (the straight path:
    lateral 0) -- each lies within radius + tool_clearance of the post's axis (xy), so the tool,
    pressed against the post, cannot get there."""
    ob = _obstacle(p)
    o = np.asarray(obstacle, float)[:2]
    side = MODE_SIDES[mode]
    reach = ob.radius + ob.tool_clearance
    return all(float(np.linalg.norm(detour_via(p, start, goal, side, lat)[:2] - o)) < reach
               for lat in [0.0] + _detour_laterals(scale))


def _obstacle(p: TaskParams) -> ObstacleParams:
    if p.obstacle is None:
        raise ValueError("this arm's TaskParams has no obstacle (TaskParams.obstacle); no reach_obstacle task")
    return p.obstacle


def _reach_goal(p: TaskParams, rng: np.random.Generator) -> np.ndarray:
    xy = _uniform_xy(rng, p.object_low, p.object_high)
    return np.array([xy[0], xy[1], rng.uniform(*p.reach_z)])


def sample_obstacle_layout(p: TaskParams, rng: np.random.Generator, start, scale: float) -> dict[str, np.ndarray]:
    """reach_obstacle: a reach goal and a post. With probability block_prob the post stands across
    the common mode's detour and the straight line (`block_lateral` to the common side of the
    midpoint: obstacle_blocks) and clear of the rare one (mode_is_clear); otherwise it is drawn from
    the obstacle box, clear of both. "blocked" (1.0 / 0.0) records which."""
    ob = _obstacle(p)
    blocked = bool(rng.uniform() < ob.block_prob)
    lo, hi = REACH_DETOUR
    jitter = 0.25 * (hi - lo) * scale  # the post's offset from its place beside the midpoint
    start = np.asarray(start, dtype=float)
    for _ in range(MAX_LAYOUT_TRIES):
        goal = _reach_goal(p, rng)
        if blocked:
            via = detour_via(p, start, goal, MODE_SIDES[COMMON_MODE], ob.block_lateral * scale)
            o = via[:2] + rng.uniform(-jitter, jitter, 2)
            ok = obstacle_blocks(p, start, goal, o, scale) and mode_is_clear(p, start, goal, o, RARE_MODE, scale)
        else:
            o = _uniform_xy(rng, ob.low, ob.high)
            ok = all(mode_is_clear(p, start, goal, o, m, scale) for m in MODE_SIDES)
        if ok:
            return {"goal": goal, "obstacle": np.array([o[0], o[1], 0.0]), "blocked": np.array(float(blocked))}
    raise RuntimeError("reach_obstacle layout: no valid goal/post pair found (check the arm's ObstacleParams)")


def _uniform_xy(rng: np.random.Generator, low, high, margin: float = 0.0) -> np.ndarray:
    lo = np.asarray(low, dtype=float) + margin
    hi = np.asarray(high, dtype=float) - margin
    return rng.uniform(lo, hi)


def sample_layout(p: TaskParams, task: str, rng: np.random.Generator, *, start=None,
                  scale: float = 1.0) -> dict[str, np.ndarray]:
    """{"goal": xyz, "object": xyz (push/pick_place), "obstacle": xyz + "blocked" (reach_obstacle)}
    drawn from the task box `p` of one arm. reach_obstacle needs the tool's start position `start`
    and the operator's scale (TwinData.operator_scale)."""
    if task == "reach":
        return {"goal": _reach_goal(p, rng)}
    if task == "reach_obstacle":
        if start is None:
            raise ValueError("sample_layout: reach_obstacle needs the tool's start position (start=)")
        return sample_obstacle_layout(p, rng, start, scale)
    if task == "push":
        for _ in range(1000):
            obj = _uniform_xy(rng, p.object_low, p.object_high, margin=0.02)
            ang = rng.uniform(-np.pi, np.pi)
            dist = rng.uniform(*p.push_dist)
            goal = obj + dist * np.array([np.cos(ang), np.sin(ang)])
            behind = obj - (p.puck_radius + 0.05) * np.array([np.cos(ang), np.sin(ang)])
            inside = lambda v, m=0.0: bool(  # noqa: E731
                np.all(v >= np.asarray(p.object_low) + m) and np.all(v <= np.asarray(p.object_high) - m)
            )
            if inside(goal) and inside(behind, -0.03):
                return {
                    "object": np.array([obj[0], obj[1], p.puck_half_height]),
                    "goal": np.array([goal[0], goal[1], 0.0005]),
                }
        raise RuntimeError("push layout: no valid object/goal pair found (check the robot's TaskParams)")
    if task == "pick_place":
        for _ in range(1000):
            obj = _uniform_xy(rng, p.object_low, p.object_high, margin=0.01)
            bowl = _uniform_xy(rng, p.object_low, p.object_high, margin=0.01)
            if np.linalg.norm(obj - bowl) >= p.min_separation:
                return {
                    "object": np.array([obj[0], obj[1], p.obj_half_height]),
                    "goal": np.array([bowl[0], bowl[1], 0.0]),
                }
        raise RuntimeError("pick_place layout: no valid object/bowl pair (check the robot's TaskParams)")
    raise ValueError(f"unknown task {task!r}; choose reach, push, pick_place or reach_obstacle")
