"""`postbc sim`: check the MuJoCo twins' tasks with the scripted demonstrators.

    postbc sim check --robot widowx --task pick_place --episodes 50 --json
    postbc sim list

`check` runs the multimodal scripted operator and reports success rate, env steps/s, episode
lengths and how often each demonstrated mode occurred (and succeeded).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from postbc_ros.robots import robot_names
from postbc_ros.sim.task_params import TASKS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `postbc sim {check,list}`."""
    p = subparsers.add_parser("sim", help="MuJoCo twin tasks: check them with the scripted demonstrators")
    sub = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)

    c = sub.add_parser(
        "check",
        help="run the scripted demonstrator on a twin task and report success rate / speed",
        description="Run N episodes of the multimodal scripted demonstrator on a twin task.",
    )
    c.add_argument("--robot", choices=robot_names(with_twin=True), required=True)
    c.add_argument("--task", choices=list(TASKS), required=True,
                   help="twin task; reach_obstacle is the coverage variant (docs/coverage_tasks.md)")
    c.add_argument("--episodes", type=int, default=50, help="number of episodes (default 50)")
    c.add_argument("--seed", type=int, default=0, help="seed of the first episode's layout (default 0)")
    c.add_argument("--control", choices=["ee_delta", "joint_delta"], default="ee_delta")
    c.add_argument(
        "--obs-mode", choices=["state", "image", "image_wrist"], default="state",
        help="observation mode (image modes render every step; slower)",
    )
    c.add_argument("--image-size", type=int, default=96)
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.set_defaults(func=run_check)

    ls = sub.add_parser("list", help="list the registered gymnasium env ids")
    ls.set_defaults(func=run_list)


def check(
    robot: str,
    task: str,
    episodes: int,
    seed: int = 0,
    control: str = "ee_delta",
    obs_mode: str = "state",
    image_size: int = 96,
    progress: bool = True,
) -> dict:
    """Run the scripted demonstrator for `episodes` episodes; return the summary dict."""
    import numpy as np
    from tqdm import tqdm

    from postbc_ros.sim import make_env, make_scripted_policy

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    env = make_env(robot, task, obs_mode=obs_mode, image_size=image_size, control=control, seed=seed)
    policy = make_scripted_policy(env, seed=seed + 7919)
    successes, lengths = [], []
    mode_counts: dict[str, int] = {}
    mode_success: dict[str, int] = {}
    step_time, steps = 0.0, 0
    t_start = time.perf_counter()
    bar = tqdm(range(episodes), desc=f"{robot}/{task}", file=sys.stderr, disable=not progress, leave=False)
    for ep in bar:
        obs, info = env.reset(seed=seed + ep)
        policy.reset()
        success, t = False, 0
        for t in range(1, env.unwrapped.horizon + 1):
            action = policy(obs)
            t0 = time.perf_counter()
            obs, _reward, terminated, truncated, info = env.step(action)
            step_time += time.perf_counter() - t0
            steps += 1
            if terminated or truncated:
                success = bool(info["success"])
                break
        successes.append(success)
        lengths.append(t)
        mode_counts[policy.mode] = mode_counts.get(policy.mode, 0) + 1
        mode_success[policy.mode] = mode_success.get(policy.mode, 0) + int(success)
        bar.set_postfix(success=f"{np.mean(successes):.2f}", refresh=False)
    wall = time.perf_counter() - t_start
    env.close()
    return {
        "robot": robot,
        "task": task,
        "control": control,
        "obs_mode": obs_mode,
        "episodes": episodes,
        "seed": seed,
        "success_rate": float(np.mean(successes)),
        "successes": int(np.sum(successes)),
        "mean_episode_length": float(np.mean(lengths)),
        "horizon": int(env.unwrapped.horizon),
        "env_steps": steps,
        "env_steps_per_s": steps / step_time if step_time > 0 else float("nan"),
        "loop_steps_per_s": steps / wall if wall > 0 else float("nan"),
        "mode_counts": dict(sorted(mode_counts.items())),
        "mode_success_rate": {m: mode_success[m] / mode_counts[m] for m in sorted(mode_counts)},
    }


def run_check(args: argparse.Namespace) -> int:
    """`postbc sim check`."""
    res = check(
        args.robot, args.task, args.episodes, seed=args.seed, control=args.control,
        obs_mode=args.obs_mode, image_size=args.image_size, progress=True,
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(
            f"{res['robot']}/{res['task']} ({res['control']}): success {res['success_rate']:.2f} "
            f"over {res['episodes']} episodes, mean length {res['mean_episode_length']:.1f}/"
            f"{res['horizon']}, {res['env_steps_per_s']:.0f} env steps/s, modes {res['mode_counts']}"
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """`postbc sim list`."""
    from postbc_ros.sim import env_ids

    for env_id, (robot, task) in env_ids().items():
        print(f"{env_id}\t{robot}\t{task}")
    print("metaworld/<task>-v3\t(Meta-World, via postbc_ros.sim.metaworld_env)")
    return 0
