"""`postbc collect`: record demonstrations on the MuJoCo twin into a LeRobotDataset v3 folder.

    postbc collect --robot widowx --task pick_place --episodes 10 --scripted --out demos/pp
    postbc collect --robot ur5e --task push --episodes 5 --device spacemouse --out demos/push

An existing --out dataset is appended to (resume collection).
"""
from __future__ import annotations

import argparse
import json
import sys

from postbc_ros.robots import robot_names
from postbc_ros.sim.task_params import TASKS

KEYBOARD_HELP = """keyboard teleop: w/s +x/-x, a/d +y/-y, r/f +z/-z (arrows: x/y), space toggles the gripper;
Enter starts an episode, x stops it, y = success, n = failure, i = intervene, q/Esc aborts."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "collect",
        help="record demonstrations (scripted operator or teleop device) as a LeRobot v3 dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--robot", required=True, choices=robot_names(with_twin=True), help="robot twin")
    p.add_argument("--task", required=True, choices=list(TASKS), help="task")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes to save")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scripted", action="store_true", help="use the sim's scripted (multimodal) operator")
    src.add_argument("--device", choices=["keyboard", "spacemouse", "gamepad"], help="human teleop device")
    p.add_argument("--device-path", default=None, help="device file (/dev/hidrawN, /dev/input/jsN, a tty)")
    p.add_argument("--out", required=True, help="dataset folder (created, or appended to)")
    p.add_argument("--obs-mode", default="markers", choices=["markers", "state", "image", "image_wrist"],
                   help="observations to record: markers = joints + the marker poses perceived in the twin camera's "
                   "frames (what a real cell observes); state = the twin's privileged object / goal positions "
                   "(simulation-only studies); image / image_wrist = proprioception + camera images (stored as PNG)")
    p.add_argument("--image-size", type=int, default=96, help="camera image side in pixels (image modes)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (episode k uses seed+k)")
    p.add_argument("--task-text", default=None, help="task description stored in the dataset (default: task name)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per episode (default: task horizon)")
    p.add_argument("--only-success", action="store_true", help="discard failed episodes instead of saving them")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from postbc_ros.data import DatasetError, DatasetWriter
    from postbc_ros.data.collect import (CollectionAborted, collect_episodes, contract_for_env, env_fps,
                                        features_from_env)
    from postbc_ros.drivers.teleop import TeleopError, make_teleop_device
    from postbc_ros.sim import make_env

    if args.episodes < 1:
        print("postbc collect: --episodes must be >= 1", file=sys.stderr)
        return 2
    env = make_env(args.robot, args.task, obs_mode=args.obs_mode, image_size=args.image_size,
                   control="ee_delta", seed=args.seed)
    device = writer = None
    aborted = False
    results = []
    try:
        if args.scripted:
            device = make_teleop_device("scripted", env=env, seed=args.seed)
        else:
            if args.device == "keyboard":
                print(KEYBOARD_HELP, file=sys.stderr)
            device = make_teleop_device(args.device, path=args.device_path)
        writer = DatasetWriter(args.out, features_from_env(env), fps=env_fps(env), robot_type=args.robot,
                               contract=contract_for_env(env))
        before = writer.num_episodes
        results = collect_episodes(env, device, writer, args.episodes, args.task_text or args.task,
                                   seed=args.seed + before, max_steps=args.max_steps,
                                   keep_failures=not args.only_success, progress=not args.no_progress)
    except CollectionAborted as e:
        print(f"postbc collect: {e}; saved episodes are kept in {args.out}", file=sys.stderr)
        aborted = True
    except (DatasetError, TeleopError) as e:
        print(f"postbc collect: {e}", file=sys.stderr)
        return 2
    finally:
        if writer is not None:
            writer.close()
        if device is not None:
            device.close()
        env.close()
    summary = {
        "out": str(args.out),
        "episodes_recorded": len(results),
        "successes": sum(r.success for r in results),
        "modes": [r.mode for r in results],
        "total_episodes": writer.num_episodes,
        "total_frames": writer.num_frames,
        "aborted": aborted,
    }
    print(json.dumps(summary))
    return 1 if aborted else 0
