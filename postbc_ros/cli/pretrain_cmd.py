"""`postbc pretrain`: train BC / σ-BC / PostBC on a demonstration dataset, write a checkpoint.

Every TrainConfig field is an option (postbc_ros/learning/train_config.py holds the defaults);
the work is `postbc_ros.learning.pipeline.pretrain_dataset`, which `postbc demo` runs too.
"""
from __future__ import annotations

import argparse

from postbc_ros.benchmarks.learning import BENCH_ALPHA
from postbc_ros.cli.config_args import add_config_args, config_from_args
from postbc_ros.learning.train_config import TrainConfig


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a diffusion policy (bc, sigma_bc or postbc) on a LeRobot-layout dataset",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Posterior Behavioral Cloning: a bootstrap ensemble gives Σ(s); the diffusion "
        "policy is trained on a + α·w, w ~ N(0, Σ(s)). bc / sigma_bc are the baselines with the "
        "same network and budget. Noise scales are in normalised action units (min-max to [-1, 1]).",
    )
    p.add_argument("--dataset", required=True, help="dataset directory (postbc collect --out)")
    add_config_args(p, TrainConfig, notes={
        "alpha": f"(the paper's; `postbc bench learning` runs {BENCH_ALPHA}: see its --help)"})
    p.add_argument("--reuse-ensemble", default=None, metavar="DIR",
                   help="postbc: use this trained ensemble (e.g. OTHER_RUN/ensemble, same dataset and horizon) "
                   "instead of training one — for α sweeps")
    p.add_argument("--obs-keys", default=None,
                   help="comma list of observation features to use (default: all non-video features)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.learning.pipeline import PretrainError, noise_note, pretrain_dataset, run_summary

    set_cpu_threads()
    keys = [k.strip() for k in args.obs_keys.split(",")] if args.obs_keys else None
    try:
        result = pretrain_dataset(args.dataset, args.out, config_from_args(args, TrainConfig), obs_keys=keys,
                                  reuse_ensemble=args.reuse_ensemble, progress=not args.quiet, log=print)
    except PretrainError as e:
        print(f"postbc pretrain: {e}", file=sys.stderr)
        return 2
    print(json.dumps(run_summary(args.out, result)))
    note = noise_note(result)
    if note:
        print(f"postbc pretrain: {note}", file=sys.stderr)
    return 0
