"""`postbc coverage`: ensemble disagreement vs the policy's action spread at demo states."""
from __future__ import annotations

import argparse

from postbc_ros.cli.config_args import add_config_args, config_from_args
from postbc_ros.learning.train_config import TrainConfig

# the reference ensemble trained for a checkpoint without one (bc, sigma_bc): smaller and shorter
# than a PostBC run's, the rest of its settings come from the checkpoint
COVERAGE_ENSEMBLE = TrainConfig(ensemble_size=20, ensemble_epochs=200)
COVERAGE_ENSEMBLE_OPTIONS = ("ensemble_size", "ensemble_epochs")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "coverage",
        help="ensemble disagreement tr Σ(s) vs policy action spread at demonstration states (+ PNG)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="policy checkpoint directory")
    p.add_argument("--dataset", required=True, help="demonstration dataset directory")
    p.add_argument("--samples", type=int, default=32, help="policy samples per state")
    p.add_argument("--max-states", type=int, default=400, help="demo states evaluated (random subset)")
    p.add_argument("--ensemble", default=None,
                   help="posterior ensemble directory to use (default: <checkpoint>/ensemble if present); "
                   "pass a PostBC run's ensemble to compare a BC policy's spread against the same Σ")
    add_config_args(p, TrainConfig, COVERAGE_ENSEMBLE_OPTIONS, base=COVERAGE_ENSEMBLE, helps={
        "ensemble_size": "K when the checkpoint has no ensemble/ (bc, sigma_bc): one is trained here",
        "ensemble_epochs": "epochs for that ensemble"})
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", default=None, help="PNG: scatter + chosen state's samples beside demo modes")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.learning.coverage import coverage_report, plot_coverage
    from postbc_ros.learning.normalization import MinMaxNormalizer
    from postbc_ros.learning.policy_io import ENSEMBLE_SUBDIR, load_ensemble, load_policy
    from postbc_ros.data import DatasetError
    from postbc_ros.learning.train import fit_posterior, resolve_device
    from postbc_ros.learning.training_data import load_training_data

    set_cpu_threads()
    device = resolve_device(args.device)
    try:
        policy = load_policy(args.checkpoint, device=device)
    except CheckpointError as e:
        print(f"postbc coverage: {e}", file=sys.stderr)
        return 2
    cfg = policy.cfg
    names = policy.checkpoint_config.get("dataset", {}).get("feature_names") or None
    keys = list(names.values()) if names else None
    try:
        data = load_training_data(args.dataset, cfg.obs_history, cfg.horizon, keys)
    except (DatasetError, KeyError, FileNotFoundError, ValueError) as e:
        print(f"postbc coverage: cannot use dataset {args.dataset}: {e}", file=sys.stderr)
        return 2
    if data.obs_shapes() != cfg.obs_shapes or data.action_dim != cfg.action_dim:
        print(f"postbc coverage: dataset obs {data.obs_shapes()} / action_dim {data.action_dim} do not match "
              f"the checkpoint's {cfg.obs_shapes} / {cfg.action_dim}; use the dataset it was trained on",
              file=sys.stderr)
        return 2
    ens_dir = Path(args.ensemble) if args.ensemble else Path(args.checkpoint) / ENSEMBLE_SUBDIR
    if args.ensemble or ens_dir.is_dir():
        try:
            ensemble, _ecfg = load_ensemble(ens_dir, device)
        except CheckpointError as e:
            print(f"postbc coverage: {e}", file=sys.stderr)
            return 2
        why = ensemble.mismatch(cfg.action_flat_dim, cfg.obs_shapes, cfg.obs_select)
        if why:
            print(f"postbc coverage: ensemble {ens_dir} does not match the policy: {why}; give the ensemble "
                  "trained with this checkpoint (--ensemble)", file=sys.stderr)
            return 2
        source = str(ens_dir)
    else:
        tcfg = config_from_args(args, TrainConfig, COVERAGE_ENSEMBLE_OPTIONS, base=COVERAGE_ENSEMBLE,
                                hidden=cfg.hidden, horizon=cfg.horizon, obs_history=cfg.obs_history, seed=args.seed,
                                device=str(device))
        norm = MinMaxNormalizer(cfg.action_dim)
        norm.load_state_dict(policy.action_normalizer.state_dict())
        ensemble, *_ = fit_posterior(data, cfg, tcfg, norm.cpu(), device, progress=not args.quiet)
        source = f"trained here (K={tcfg.ensemble_size}, {tcfg.ensemble_epochs} epochs)"
    report = coverage_report(policy, ensemble, data, args.samples, args.max_states, args.seed, device,
                             progress=not args.quiet)
    if args.plot:
        plot_coverage(report, data, args.plot)
    report.pop("_arrays")
    report.update(checkpoint=args.checkpoint, dataset=args.dataset, ensemble=source,
                  method=getattr(policy, "method", None), plot=args.plot)
    if args.json:
        print(json.dumps(report))
    else:
        c = report["correlation"]
        print(f"tr Σ mean {report['trace_sigma']['mean']:.4f}, spread mean {report['policy_spread']['mean']:.4f}, "
              f"pearson {c['pearson']}, spearman {c['spearman']}, "
              f"spread high/low disagreement {report['spread_ratio_high_over_low']:.2f}")
    return 0
