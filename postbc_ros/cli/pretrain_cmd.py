"""`postbc pretrain`: train BC / σ-BC / PostBC on a demonstration dataset, write a checkpoint."""
from __future__ import annotations

import argparse


# posterior_noise_fraction above which `postbc pretrain` points at the measured trade-off
NOISE_FRACTION_HINT = 0.05


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def add_chunk_args(p) -> None:
    """--horizon / --n-action-steps / --obs-history (= TrainConfig's defaults; also `bench pretrain`)."""
    p.add_argument("--horizon", type=int, default=4,
                   help="action chunk length H (paper: 4 on Robomimic, 1 on the real WidowX)")
    p.add_argument("--n-action-steps", type=int, default=4, help="executed steps per chunk k")
    p.add_argument("--obs-history", type=int, default=1, help="observation frames n")


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
    p.add_argument("--method", choices=["bc", "sigma_bc", "postbc"], default="postbc")
    p.add_argument("--alpha", type=float, default=1.0, help="PostBC posterior noise weight α")
    p.add_argument("--sigma", type=float, default=0.1, help="σ-BC noise std (normalised action units)")
    p.add_argument("--ensemble-size", type=int, default=None, help="K (default 100 state / 10 image obs)")
    p.add_argument("--bootstrap", choices=["trajectory", "state_action"], default="trajectory")
    p.add_argument("--covariance", choices=["full", "diag"], default="full")
    p.add_argument("--epochs", type=int, default=3000,  # = TrainConfig.epochs (torch is imported lazily)
                   help="diffusion policy epochs (paper, state observations: 3000)")
    p.add_argument("--ensemble-epochs", type=int, default=300,  # = TrainConfig.ensemble_epochs
                   help="ensemble epochs (paper, real WidowX: 300; longer makes members overfit their resample)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=_ints, default=[256, 256, 256], help="denoiser MLP widths, comma list")
    p.add_argument("--ensemble-hidden", type=_ints, default=None,
                   help="ensemble member widths (default: --hidden for state, 512,512,512 heads for images)")
    p.add_argument("--reuse-ensemble", default=None, metavar="DIR",
                   help="postbc: use this trained ensemble (e.g. OTHER_RUN/ensemble, same dataset and horizon) "
                   "instead of training one — for α sweeps")
    add_chunk_args(p)
    p.add_argument("--obs-keys", default=None,
                   help="comma list of observation features to use (default: all non-video features)")
    p.add_argument("--num-inference-steps", type=int, default=8, help="DDIM steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.learning.policy_io import save_pretrain_result
    from postbc_ros.learning.train import TrainConfig, pretrain
    from postbc_ros.learning.training_data import DatasetError, load_training_data

    set_cpu_threads()
    keys = [k.strip() for k in args.obs_keys.split(",")] if args.obs_keys else None
    try:
        data = load_training_data(args.dataset, args.obs_history, args.horizon, keys)
    except (DatasetError, KeyError, FileNotFoundError, ValueError) as e:
        print(f"postbc pretrain: cannot use dataset {args.dataset}: {e}", file=sys.stderr)
        return 2
    cfg = TrainConfig(
        method=args.method, alpha=args.alpha, sigma=args.sigma, ensemble_size=args.ensemble_size,
        bootstrap=args.bootstrap, covariance=args.covariance, epochs=args.epochs,
        ensemble_epochs=args.ensemble_epochs, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
        ensemble_hidden=args.ensemble_hidden, horizon=args.horizon, n_action_steps=args.n_action_steps,
        obs_history=args.obs_history, num_inference_steps=args.num_inference_steps, seed=args.seed,
        device=args.device,
    )
    try:
        cfg.validate()
    except ValueError as e:
        print(f"postbc pretrain: {e}", file=sys.stderr)
        return 2
    print(f"dataset {args.dataset}: {data.num_episodes} episodes, {data.num_samples} windows, "
          f"obs {data.obs_shapes()}, action_dim {data.action_dim}")
    ensemble = None
    if args.reuse_ensemble:
        from postbc_ros.learning.checkpoint import CheckpointError
        from postbc_ros.learning.policy_io import load_ensemble

        try:
            ensemble, _ = load_ensemble(args.reuse_ensemble)
        except CheckpointError as e:
            print(f"postbc pretrain: {e}", file=sys.stderr)
            return 2
    try:
        result = pretrain(data, cfg, progress=not args.quiet, ensemble=ensemble)
    except ValueError as e:
        print(f"postbc pretrain: {e}", file=sys.stderr)
        return 2
    save_pretrain_result(args.out, result)
    summary = {"out": args.out, "method": args.method, **{k: v for k, v in result.info.items()}}
    print(json.dumps(summary))
    frac = result.info.get("posterior_noise_fraction")
    if frac is not None and frac > NOISE_FRACTION_HINT:
        print(f"postbc pretrain: note: the posterior noise adds {frac:.0%} of the demonstrations' action variance "
              f"(alpha^2 * mean tr Sigma / tr Var(a)). With the default trajectory bootstrap and few, diverse demos "
              f"that can cost pretrained success (WidowX pick-and-place: 14-19% with 10 demos cost 20-35 points of BC's "
              f"success, 7% with 30 demos still 27; bench/results/pretrain_widowx_pick_place.md). Compare with `postbc eval` against a BC checkpoint; "
              f"a smaller --alpha or --bootstrap state_action keeps the policy closer to BC.", file=sys.stderr)
    return 0
