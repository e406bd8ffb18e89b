#!/usr/bin/env python3
"""Marker perception on twin-rendered frames: pose error against MuJoCo's ground truth and the
perception time per frame, with the render time of the same frame as the baseline.

Frames come from scripted-operator episodes (the arm moves, grasps and occludes as in a demo), so
the visibility rate is that of real task execution, not of an empty scene. Per (robot, task):
mean / p50 / p95 / max position error [mm] of every visible marker, each marker's visibility
rate, and per frame the render time, the perception time (detection + solvePnP + tracking) and
their ratio. Writes bench/results/markers_twin.json (and prints it).

    MUJOCO_GL=egl python bench/bench_markers.py [--frames 200] [--out bench/results/markers_twin.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = (("widowx", "pick_place"), ("widowx", "push"), ("ur5e", "pick_place"), ("ur5e", "push"))


def measure(robot: str, task: str, frames: int, seed: int) -> dict:
    import numpy as np

    from postbc_ros.perception.pipeline import MarkerPerception
    from postbc_ros.sim import make_env, make_scripted_policy

    env = make_env(robot, task, obs_mode="state", seed=seed)  # cheap obs: the frames are rendered here
    perception: MarkerPerception = env.unwrapped._marker_perception()  # the markers mode's own pipeline
    g = perception.geometry
    policy = make_scripted_policy(env, seed=seed)
    obs, _ = env.reset(seed=seed)
    perception.reset()
    env.unwrapped.twin.render("scene", (g.height, g.width))  # warm-up: renderer creation
    errors, render_s, perceive_s = [], [], []
    visible = {m.name: 0 for m in env.unwrapped.marker_specs}
    episode = 0
    for _ in range(frames):
        t0 = time.perf_counter()
        frame = env.unwrapped.twin.render("scene", (g.height, g.width))
        t1 = time.perf_counter()
        observations = perception.process(frame, env.unwrapped.twin.time)
        t2 = time.perf_counter()
        render_s.append(t1 - t0)
        perceive_s.append(t2 - t1)
        truth = env.unwrapped.marker_ground_truth()
        for name, o in observations.items():
            if o.visible:
                visible[name] += 1
                errors.append(1000.0 * float(np.linalg.norm(o.position - truth[name])))
        obs, _, term, trunc, _ = env.step(policy(obs))
        if term or trunc:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
            policy.reset()
            perception.reset()
    env.close()
    e = np.asarray(errors)
    ms = lambda xs: 1000.0 * float(np.mean(xs))  # noqa: E731
    return {
        "robot": robot, "task": task, "frames": frames, "episodes": episode + 1,
        "image": [g.width, g.height], "calibration": g.source.split("calibration/")[-1],
        "detections": int(e.size),
        "visible_rate": {k: round(v / frames, 3) for k, v in visible.items()},
        "pos_error_mm": {"mean": round(float(e.mean()), 2), "p50": round(float(np.percentile(e, 50)), 2),
                         "p95": round(float(np.percentile(e, 95)), 2), "max": round(float(e.max()), 2)},
        "render_ms_per_frame": round(ms(render_s), 2),
        "perception_ms_per_frame": round(ms(perceive_s), 2),
        "perception_over_render": round(float(np.sum(perceive_s) / np.sum(render_s)), 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="frames per (robot, task)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "markers_twin.json"))
    args = ap.parse_args(argv)
    import cv2

    from postbc_ros.benchmarks.output import write_result
    from postbc_ros.perception.markers import DEFAULT_REFINEMENT
    from postbc_ros.robots.twin_data import ARUCO_DICTIONARY

    cases = [measure(r, t, args.frames, args.seed) for r, t in CASES]
    result = {
        "benchmark": "marker perception on twin-rendered scene frames vs MuJoCo ground truth",
        "dictionary": ARUCO_DICTIONARY, "corner_refinement": DEFAULT_REFINEMENT, "opencv": cv2.__version__,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "note": "CPU-only, EGL rendering; the machine was shared with other jobs"},
        "cases": cases,
    }
    write_result(result, args.out)
    import json

    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
