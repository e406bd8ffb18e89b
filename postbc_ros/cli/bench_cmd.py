"""`postbc bench learning`: the learning benchmark (pretrain BC / σ-BC / PostBC, finetune online).

Defaults are sized for 2 CPU cores (small nets, UTD 4, 10 eval episodes per point); use CUDA
when present (`--device auto`). See postbc_ros/rl/learning_bench.py for the protocol.
"""
from __future__ import annotations

import argparse


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks (learning: pretraining methods x online finetuning)")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    q = sub.add_parser(
        "learning",
        help="pretrain each method on the same demos, finetune online, write JSON + PNG learning curves",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    q.add_argument("--env", default="postbc/WidowXReach-v0", help="postbc/<Robot><Task>-v0 or metaworld/<task>-v3")
    q.add_argument("--demos", type=int, default=5, help="demonstrations recorded per seed")
    q.add_argument("--methods", type=_csv, default=["bc", "sigma_bc", "postbc"], help="comma list of bc,sigma_bc,postbc")
    q.add_argument("--finetune", choices=["dsrl", "dsrl_na", "best_of_n"], default="dsrl")
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
    q.add_argument("--n-samples", type=int, default=8, help="Best-of-N: N")
    q.add_argument("--max-episode-steps", type=int, default=None, help="Meta-World episode cap (<= 500)")
    q.add_argument("--device", default="auto", help="auto | cpu | cuda")
    q.add_argument("--json", dest="json_out", required=True, help="result JSON path")
    q.add_argument("--plot", dest="plot_out", default=None, help="learning-curve PNG path")
    q.add_argument("--quiet", action="store_true", help="no progress bars / per-point log")
    q.set_defaults(func=run_learning)


def run_learning(args) -> int:
    import os

    import torch

    from postbc_ros.rl.learning_bench import BenchConfig, plot_learning, run_learning_benchmark, write_result

    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    cfg = BenchConfig(
        env=args.env, demos=args.demos, methods=args.methods, finetune=args.finetune, seeds=args.seeds,
        budget_episodes=args.budget_episodes, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        threshold=args.threshold, epochs=args.epochs, ensemble_epochs=args.ensemble_epochs,
        ensemble_size=args.ensemble_size, alpha=args.alpha,
        sigma=args.sigma, horizon=args.horizon, n_action_steps=args.n_action_steps, utd=args.utd,
        batch_size=args.batch_size, rl_hidden=args.rl_hidden, warmup_episodes=args.warmup_episodes,
        n_samples=args.n_samples, max_episode_steps=args.max_episode_steps, device=args.device,
        progress=not args.quiet,
    )
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
        print(f"{m:9s} pretrained {r['pretrained_success']:.2f}  final {r['final_success']:.2f}  "
              f"episodes_to_{e['threshold']}: {e['per_seed']} (mean, censored at budget: {e['mean_censored']:.1f})")
    print(f"wrote {args.json_out}" + (f" and {args.plot_out}" if args.plot_out else ""))
    return 0
