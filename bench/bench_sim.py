#!/usr/bin/env python3
"""Env stepping speed of the MuJoCo twin tasks: state vs image observations.

Prints one JSON object: env steps/s per observation mode (random actions, resets included)
and the ratio of each image mode to the state-mode baseline measured in the same run.

    MUJOCO_GL=egl python bench/bench_sim.py [--robot widowx] [--task pick_place] [--steps 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def steps_per_s(robot: str, task: str, obs_mode: str, steps: int, image_size: int, control: str) -> float:
    import numpy as np

    from postbc_ros.sim import make_env

    env = make_env(robot, task, obs_mode=obs_mode, image_size=image_size, control=control, seed=0)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_act = env.action_space.shape[0]
    for _ in range(20):  # warm-up (renderer creation, caches)
        env.step(rng.uniform(-1, 1, n_act).astype(np.float32))
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, n_act).astype(np.float32))
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="widowx", choices=["widowx", "ur5e"])
    ap.add_argument("--task", default="pick_place", choices=["reach", "push", "pick_place"])
    ap.add_argument("--control", default="ee_delta", choices=["ee_delta", "joint_delta"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--image-size", type=int, default=96)
    args = ap.parse_args(argv)
    res: dict[str, object] = {
        "bench": "sim_env_steps",
        "robot": args.robot,
        "task": args.task,
        "control": args.control,
        "image_size": args.image_size,
        "steps": args.steps,
    }
    sps = {
        mode: steps_per_s(args.robot, args.task, mode, args.steps, args.image_size, args.control)
        for mode in ("state", "image", "image_wrist")
    }
    res["env_steps_per_s"] = {k: round(v, 1) for k, v in sps.items()}
    res["baseline"] = "state"
    res["ratio_vs_state"] = {k: round(v / sps["state"], 3) for k, v in sps.items()}
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
