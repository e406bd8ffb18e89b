"""`postbc` command: one subcommand per module in postbc_ros/cli/ (each has `register(subparsers)`)."""
from __future__ import annotations

import argparse
import importlib
import sys

# module name in postbc_ros.cli -> registers one top-level subcommand
SUBCOMMAND_MODULES = [
    "sim_cmd",        # postbc sim check
    "collect_cmd",    # postbc collect
    "pretrain_cmd",   # postbc pretrain
    "eval_cmd",       # postbc eval
    "coverage_cmd",   # postbc coverage
    "bench_cmd",      # postbc bench learning
    "launch_cmd",     # postbc launch NAME arg:=value
    "demo_cmd",       # postbc demo (the README's main job on the twin)
    "arm_cmd",        # postbc arm reset (the operator clears a latched arm)
    "replay_cmd",     # postbc replay check DIR / postbc replay repair DIR --out NEWDIR
    "doctor_cmd",     # postbc doctor [--rig NAME] [--json] (devices, calibration, ROS environment)
    "calibrate_cmd",  # postbc calibrate board|intrinsics|hand-eye-capture|hand-eye|latency|widowx-offsets
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postbc",
        description="PostBC pretraining and online RL finetuning for robot arms (ROS 2).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"postbc_ros.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rc = args.func(args)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
