"""`postbc bench learning | learning-merge | pretrain | pretrain-demos`: pretrain BC / σ-BC / PostBC and
finetune online (learning; learning-merge joins such runs made method by method in separate processes),
compare the pretrained policies alone (pretrain), or combine pretrain results at several
demonstration counts into curves (pretrain-demos).

The finetuners' networks are sized for 2 CPU cores (width 256; DSRL otherwise as its reference: UTD 5
per chunk, soft target, -1/0 reward; Best-of-N UTD 4); seeds and evaluation episodes for a
headline (5 seeds, 50 eval episodes per point, 100 at the curve's ends); use CUDA when present
(`--device auto`). The options are the fields of each benchmark's config
(postbc_ros/benchmarks/) and of the TrainConfig it pretrains with; the protocols are described there.
"""
from __future__ import annotations

import argparse

from postbc_ros.benchmarks.learning import BENCH_ALPHA, BENCH_ENSEMBLE_SIZE, BenchConfig
from postbc_ros.benchmarks.learning import TRAIN_OPTIONS as LEARNING_TRAIN_OPTIONS
from postbc_ros.benchmarks.pretrain import TRAIN_OPTIONS as PRETRAIN_TRAIN_OPTIONS
from postbc_ros.benchmarks.pretrain import PretrainBenchConfig
from postbc_ros.cli import bench_faults_cmd, bench_safety_cmd
from postbc_ros.cli.config_args import add_config_args, config_from_args
from postbc_ros.cli.torch_threads import set_cpu_threads
from postbc_ros.learning.train_config import PRETRAIN_ALPHA, TrainConfig

# why the learning bench's α and K are not `postbc pretrain`'s (benchmarks/learning.py says more)
LEARNING_NOTES = {
    "alpha": f"(here {BENCH_ALPHA}, `postbc pretrain`'s is {PRETRAIN_ALPHA}: at α = 1 PostBC starts finetuning "
             f"20-35 points of pretrained success below BC on 10 pick-and-place demos, at 0.5 about 8; "
             f"the finetuning results in bench/results/ ran with 0.5)",
    "ensemble_size": f"(here {BENCH_ENSEMBLE_SIZE}, sized for 2 CPU cores)",
}


def _add_output_args(q, plot_help: str, quiet_help: str) -> None:
    q.add_argument("--json", dest="json_out", required=True, help="result JSON path")
    q.add_argument("--plot", dest="plot_out", default=None, help=plot_help)
    q.add_argument("--quiet", action="store_true", help=quiet_help)


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks (learning: pretraining methods x online finetuning; pretrain: pretrained success + coverage)")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    q = sub.add_parser(
        "learning",
        help="pretrain each method on the same demos, finetune online, write JSON + PNG learning curves",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=f"Pretraining runs TrainConfig's defaults but α = {BENCH_ALPHA} and K = {BENCH_ENSEMBLE_SIZE} "
                    f"(see --alpha).",
    )
    add_config_args(q, BenchConfig)
    add_config_args(q, TrainConfig, LEARNING_TRAIN_OPTIONS, base=BenchConfig().train, notes=LEARNING_NOTES)
    _add_output_args(q, "learning-curve PNG path", "no progress bars / per-point log")
    q.set_defaults(func=run_learning)
    register_learning_merge(sub)
    register_pretrain(sub)
    register_pretrain_demos(sub)
    bench_faults_cmd.register(sub)
    bench_safety_cmd.register(sub)


def learning_config(args) -> BenchConfig:
    """`bench learning`'s options as the BenchConfig they describe."""
    train = config_from_args(args, TrainConfig, LEARNING_TRAIN_OPTIONS, base=BenchConfig().train)
    return config_from_args(args, BenchConfig, train=train, progress=not args.quiet)


def pretrain_config(args) -> PretrainBenchConfig:
    """`bench pretrain`'s options as the PretrainBenchConfig they describe."""
    train = config_from_args(args, TrainConfig, PRETRAIN_TRAIN_OPTIONS)
    return config_from_args(args, PretrainBenchConfig, train=train, progress=not args.quiet)


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
    from postbc_ros.benchmarks.learning import plot_learning, run_learning_benchmark
    from postbc_ros.benchmarks.output import write_result

    set_cpu_threads()
    cfg = learning_config(args)
    if not _valid(cfg, "learning"):
        return 2
    log = (lambda s: None) if args.quiet else print
    result = run_learning_benchmark(cfg, log=log)
    write_result(result, args.json_out)
    if args.plot_out:
        plot_learning(result, args.plot_out)
    _print_learning(result)
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0


def _print_learning(result: dict) -> None:
    for m, r in result["methods"].items():
        if m.startswith("_"):
            print(f"{m}: {r}")
            continue
        e = r["episodes_to_threshold"]
        print(f"{m:9s} pretrained {r['pretrained_success']:.2f} (w = 0: {r['pretrained_zero_noise_success']:.2f})  "
              f"final {r['final_success']:.2f}  "
              f"episodes_to_{e['threshold']}: {e['per_seed']} (mean, censored at budget: {e['mean_censored']:.1f})")


def register_learning_merge(sub) -> None:
    q = sub.add_parser(
        "learning-merge",
        help="merge `bench learning` results run method by method in separate processes (JSON + PNG)",
        description="The result one `--methods a,b` run would have written, from runs with `--methods a` and "
                    "`--methods b` and otherwise identical options (checked): curves unchanged, PostBC/BC "
                    "ratios and paired comparisons recomputed.",
    )
    _add_combine_args(q, "`postbc bench learning --json` files", "merged JSON path", "learning-curve PNG path")
    q.set_defaults(func=run_learning_merge)


def _add_combine_args(q, results_help: str, json_help: str, plot_help: str) -> None:
    q.add_argument("results", nargs="+", help=results_help)
    q.add_argument("--json", dest="json_out", required=True, help=json_help)
    q.add_argument("--plot", dest="plot_out", default=None, help=plot_help)


def _combine(args, name: str, combine, error: type[Exception], plot) -> dict | None:
    """`combine(args.results)` written to --json (and plotted to --plot); None (said on stderr)
    when the results cannot be combined."""
    import sys

    from postbc_ros.benchmarks.output import write_result

    try:
        result = combine(args.results)
    except error as e:
        print(f"postbc bench {name}: {e}", file=sys.stderr)
        return None
    write_result(result, args.json_out)
    if args.plot_out:
        plot(result, args.plot_out)
    return result


def run_learning_merge(args) -> int:
    from postbc_ros.benchmarks.learning import plot_learning
    from postbc_ros.benchmarks.learning_merge import MergeError, load_learning_results, merge_learning

    result = _combine(args, "learning-merge", lambda paths: merge_learning(load_learning_results(paths)),
                      MergeError, plot_learning)
    if result is None:
        return 2
    _print_learning(result)
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0


def register_pretrain(sub) -> None:
    q = sub.add_parser(
        "pretrain",
        help="pretrain BC / σ-BC / PostBC variants on the same demos; pretrained success + coverage (JSON + PNG)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Per seed, record demos, pretrain every variant with the same network and budget "
                    "(`postbc pretrain`'s defaults), evaluate, and measure the policy's action spread where the "
                    "bootstrap ensemble disagrees. Variants: METHOD[:KEY=VALUE,...] with KEY in alpha, sigma, "
                    "bootstrap, covariance, e.g. postbc:alpha=0.25 or postbc:bootstrap=state_action.",
    )
    add_config_args(q, PretrainBenchConfig, space_lists=("variants",))
    add_config_args(q, TrainConfig, PRETRAIN_TRAIN_OPTIONS,
                    notes={"alpha": "(unless a variant overrides it)", "sigma": "(unless a variant overrides it)"})
    _add_output_args(q, "bar-chart PNG path", "no progress bars / per-variant log")
    q.set_defaults(func=run_pretrain)


def run_pretrain(args) -> int:
    from postbc_ros.benchmarks.output import write_result
    from postbc_ros.benchmarks.pretrain import plot_pretrain, run_pretrain_benchmark

    set_cpu_threads()
    cfg = pretrain_config(args)
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
    _add_combine_args(q, "`postbc bench pretrain --json` files, one per demo count", "combined JSON path", "PNG path")
    q.set_defaults(func=run_pretrain_demos)


def run_pretrain_demos(args) -> int:
    from postbc_ros.benchmarks.pretrain_scaling import ScalingError, combine_by_demos, load_results, plot_by_demos

    summary = _combine(args, "pretrain-demos", lambda paths: combine_by_demos(load_results(paths)), ScalingError,
                       plot_by_demos)
    if summary is None:
        return 2
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
