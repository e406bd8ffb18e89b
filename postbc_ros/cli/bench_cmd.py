"""`postbc bench learning | pretrain | pretrain-demos`: pretrain BC / σ-BC / PostBC and finetune online
(learning), compare the pretrained policies alone (pretrain, issue 3's acceptance protocol), or
combine pretrain results at several demonstration counts into curves (pretrain-demos).

Defaults are sized for 2 CPU cores (small nets, UTD 4, 10 eval episodes per point); use CUDA
when present (`--device auto`). See postbc_ros/rl/learning_bench.py for the protocol.
"""
from __future__ import annotations

import argparse

from postbc_ros.cli.pretrain_cmd import add_chunk_args
from postbc_ros.cli.torch_threads import set_cpu_threads


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def register(subparsers) -> None:
    from postbc_ros.rl.registry import FINETUNERS

    p = subparsers.add_parser("bench", help="benchmarks (learning: pretraining methods x online finetuning; pretrain: pretrained success + coverage)")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    q = sub.add_parser(
        "learning",
        help="pretrain each method on the same demos, finetune online, write JSON + PNG learning curves",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    q.add_argument("--env", default="postbc/WidowXReach-v0", help="postbc/<Robot><Task>-v0 or metaworld/<task>-v3")
    q.add_argument("--demos", type=int, default=5, help="demonstrations recorded per seed")
    q.add_argument("--methods", type=_csv, default=["bc", "sigma_bc", "postbc"], help="comma list of bc,sigma_bc,postbc")
    q.add_argument("--finetune", choices=FINETUNERS, default="dsrl")
    q.add_argument("--seeds", type=int, default=3, help="independent seeds (demos, pretraining, RL) per method")
    q.add_argument("--budget-episodes", type=int, default=30, help="online finetuning episodes per run")
    q.add_argument("--eval-every", type=int, default=5, help="evaluate every N online episodes")
    q.add_argument("--eval-episodes", type=int, default=10, help="evaluation episodes per curve point")
    q.add_argument("--threshold", type=float, default=0.8, help="success rate defining episodes_to_threshold")
    q.add_argument("--epochs", type=int, default=3000, help="diffusion pretraining epochs (every method)")
    q.add_argument("--ensemble-epochs", type=int, default=300, help="PostBC ensemble epochs")
    q.add_argument("--ensemble-size", type=int, default=20, help="PostBC bootstrap ensemble size K")
    q.add_argument("--alpha", type=float, default=0.5, help="PostBC posterior noise weight")
    q.add_argument("--sigma", type=float, default=0.1, help="sigma-BC noise std")
    q.add_argument("--horizon", type=int, default=4, help="action chunk length")
    q.add_argument("--n-action-steps", type=int, default=4, help="executed steps per chunk (one RL step)")
    q.add_argument("--utd", type=int, default=4, help="gradient steps per RL step")
    q.add_argument("--batch-size", type=int, default=128)
    q.add_argument("--rl-hidden", type=int, default=256, help="critic/actor width")
    q.add_argument("--warmup-episodes", type=int, default=2, help="DSRL warm start with w ~ N(0, I)")
    q.add_argument("--backup-entropy", choices=["on", "off"], default="off",
                   help="DSRL/DSRL-NA: add SAC's entropy bonus to the critics' TD target (off: they regress onto returns)")
    q.add_argument("--n-samples", type=int, default=8, help="Best-of-N: N")
    q.add_argument("--max-episode-steps", type=int, default=None, help="Meta-World episode cap (<= 500)")
    q.add_argument("--device", default="auto", help="auto | cpu | cuda")
    q.add_argument("--json", dest="json_out", required=True, help="result JSON path")
    q.add_argument("--plot", dest="plot_out", default=None, help="learning-curve PNG path")
    q.add_argument("--quiet", action="store_true", help="no progress bars / per-point log")
    q.set_defaults(func=run_learning)
    register_pretrain(sub)
    register_pretrain_demos(sub)


def _valid(cfg, name: str) -> bool:
    """Check the options before any demonstration is recorded; a bad one is named on stderr."""
    import sys

    try:
        cfg.validate()
    except ValueError as e:
        print(f"postbc bench {name}: {e}", file=sys.stderr)
        return False
    return True


def run_learning(args) -> int:
    from postbc_ros.rl.learning_bench import BenchConfig, plot_learning, run_learning_benchmark, write_result

    set_cpu_threads()
    cfg = BenchConfig(
        env=args.env, demos=args.demos, methods=args.methods, finetune=args.finetune, seeds=args.seeds,
        budget_episodes=args.budget_episodes, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        threshold=args.threshold, epochs=args.epochs, ensemble_epochs=args.ensemble_epochs,
        ensemble_size=args.ensemble_size, alpha=args.alpha,
        sigma=args.sigma, horizon=args.horizon, n_action_steps=args.n_action_steps, utd=args.utd,
        batch_size=args.batch_size, rl_hidden=args.rl_hidden, warmup_episodes=args.warmup_episodes,
        backup_entropy=args.backup_entropy == "on", n_samples=args.n_samples,
        max_episode_steps=args.max_episode_steps, device=args.device, progress=not args.quiet,
    )
    if not _valid(cfg, "learning"):
        return 2
    log = (lambda s: None) if args.quiet else print
    result = run_learning_benchmark(cfg, log=log)
    write_result(result, args.json_out)
    if args.plot_out:
        plot_learning(result, args.plot_out)
    for m, r in result["methods"].items():
        if m.startswith("_"):
            print(f"{m}: {r}")
            continue
        e = r["episodes_to_threshold"]
        print(f"{m:9s} pretrained {r['pretrained_success']:.2f} (w = 0: {r['pretrained_zero_noise_success']:.2f})  "
              f"final {r['final_success']:.2f}  "
              f"episodes_to_{e['threshold']}: {e['per_seed']} (mean, censored at budget: {e['mean_censored']:.1f})")
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0


def register_pretrain(sub) -> None:
    q = sub.add_parser(
        "pretrain",
        help="pretrain BC / σ-BC / PostBC variants on the same demos; pretrained success + coverage (JSON + PNG)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Issue 3's acceptance protocol: per seed, record demos, pretrain every variant with the same "
                    "network and budget, evaluate, and measure the policy's action spread where the bootstrap "
                    "ensemble disagrees. Variants: METHOD[:KEY=VALUE,...] with KEY in alpha, sigma, bootstrap, "
                    "covariance, e.g. postbc:alpha=0.25 or postbc:bootstrap=state_action.",
    )
    q.add_argument("--env", default="postbc/WidowXPickPlace-v0", help="postbc/<Robot><Task>-v0 or metaworld/<task>-v3")
    q.add_argument("--demos", type=int, default=10, help="demonstrations recorded per seed")
    q.add_argument("--seeds", type=int, default=3, help="independent seeds (demos, pretraining, evaluation)")
    q.add_argument("--eval-episodes", type=int, default=100, help="evaluation episodes per variant and seed")
    q.add_argument("--variants", nargs="+",
                   default=["bc", "sigma_bc", "postbc", "postbc:alpha=0.25", "postbc:bootstrap=state_action"],
                   help="space-separated variants METHOD[:KEY=VALUE,...]")
    q.add_argument("--epochs", type=int, default=3000, help="diffusion policy epochs (every variant)")
    q.add_argument("--ensemble-epochs", type=int, default=300, help="PostBC ensemble epochs")
    q.add_argument("--ensemble-size", type=int, default=100, help="PostBC bootstrap ensemble size K")
    q.add_argument("--alpha", type=float, default=1.0, help="PostBC α unless a variant overrides it")
    q.add_argument("--sigma", type=float, default=0.1, help="σ-BC σ unless a variant overrides it")
    q.add_argument("--bootstrap", choices=["trajectory", "state_action"], default="trajectory")
    q.add_argument("--covariance", choices=["full", "diag"], default="full")
    q.add_argument("--hidden", type=lambda s: [int(x) for x in _csv(s)], default=[256, 256, 256],
                   help="denoiser (and state ensemble) MLP widths, comma list")
    add_chunk_args(q)  # every variant
    q.add_argument("--coverage-states", type=int, default=400, help="demonstration states for the coverage numbers")
    q.add_argument("--max-episode-steps", type=int, default=None, help="Meta-World episode cap (<= 500)")
    q.add_argument("--device", default="auto", help="auto | cpu | cuda")
    q.add_argument("--json", dest="json_out", required=True, help="result JSON path")
    q.add_argument("--plot", dest="plot_out", default=None, help="bar-chart PNG path")
    q.add_argument("--quiet", action="store_true", help="no progress bars / per-variant log")
    q.set_defaults(func=run_pretrain)


def run_pretrain(args) -> int:
    from postbc_ros.rl.pretrain_bench import PretrainBenchConfig, plot_pretrain, run_pretrain_benchmark, write_result

    set_cpu_threads()
    cfg = PretrainBenchConfig(
        env=args.env, demos=args.demos, seeds=args.seeds, eval_episodes=args.eval_episodes, variants=args.variants,
        epochs=args.epochs, ensemble_epochs=args.ensemble_epochs, ensemble_size=args.ensemble_size,
        alpha=args.alpha, sigma=args.sigma, bootstrap=args.bootstrap, covariance=args.covariance,
        policy_hidden=args.hidden, horizon=args.horizon, n_action_steps=args.n_action_steps,
        obs_history=args.obs_history, coverage_states=args.coverage_states, max_episode_steps=args.max_episode_steps,
        device=args.device, progress=not args.quiet,
    )
    if not _valid(cfg, "pretrain"):
        return 2
    result = run_pretrain_benchmark(cfg, log=(lambda s: None) if args.quiet else print)
    write_result(result, args.json_out)
    if args.plot_out:
        plot_pretrain(result, args.plot_out)
    for name, v in result["variants"].items():
        s = v["success"]
        line = f"{name:32s} success {s['mean']:.3f} [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}] per seed {v['success_per_seed']}"
        if "minus_bc" in v:
            line += f"  vs BC {v['minus_bc']['mean']:+.3f}"
        cov = v.get("coverage")
        if cov:
            line += f"  spread hi/lo {cov['spread_high']:.2f}/{cov['spread_low']:.2f}"
        print(line)
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0


def register_pretrain_demos(sub) -> None:
    q = sub.add_parser(
        "pretrain-demos",
        help="combine `bench pretrain` results at several --demos into curves vs the number of demos (JSON + PNG)",
        description="Success, PostBC − BC (paired 95 %% CI) and the posterior's size against the number of "
                    "demonstrations, from `postbc bench pretrain` results that differ only in --demos.",
    )
    q.add_argument("results", nargs="+", help="`postbc bench pretrain --json` files, one per demo count")
    q.add_argument("--json", dest="json_out", required=True, help="combined JSON path")
    q.add_argument("--plot", dest="plot_out", default=None, help="PNG path")
    q.set_defaults(func=run_pretrain_demos)


def run_pretrain_demos(args) -> int:
    import sys

    from postbc_ros.rl.learning_bench import write_result
    from postbc_ros.rl.pretrain_scaling import ScalingError, combine_by_demos, load_results, plot_by_demos

    try:
        summary = combine_by_demos(load_results(args.results))
    except ScalingError as e:
        print(f"postbc bench pretrain-demos: {e}", file=sys.stderr)
        return 2
    write_result(summary, args.json_out)
    if args.plot_out:
        plot_by_demos(summary, args.plot_out)
    for name, c in summary["variants"].items():
        parts = []
        for n, m, d, tr in zip(summary["demos"], c["success_mean"], c["minus_bc"], c["trace_sigma_mean"]):
            part = f"{n} demos {m:.3f}"
            if d is not None:
                part += f" ({d['mean']:+.3f} vs BC)"
            if tr is not None:
                part += f" trΣ {tr:.2f}"
            parts.append(part)
        print(f"{name:28s} " + " | ".join(parts))
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0
