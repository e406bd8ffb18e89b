"""Seeded random task layouts (object / goal / bowl positions). Pure numpy.

Kept apart from the Twin so the sampling is testable on its own and identical for every
consumer (envs, sim_node, scripted demonstrators).
"""
from __future__ import annotations

import numpy as np

from postbc_ros.robots.twin_data import TaskParams


def _uniform_xy(rng: np.random.Generator, low, high, margin: float = 0.0) -> np.ndarray:
    lo = np.asarray(low, dtype=float) + margin
    hi = np.asarray(high, dtype=float) - margin
    return rng.uniform(lo, hi)


def sample_layout(p: TaskParams, task: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{"goal": xyz, "object": xyz (push/pick_place)} drawn from the task box `p` of one arm."""
    if task == "reach":
        xy = _uniform_xy(rng, p.object_low, p.object_high)
        return {"goal": np.array([xy[0], xy[1], rng.uniform(*p.reach_z)])}
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
    raise ValueError(f"unknown task {task!r}; choose reach, push or pick_place")
