"""How a pretrained policy's inference settings change its success, with nothing retrained: per seed,
one policy (the pretrain bench's demonstrations, training and evaluation seeds) evaluated on the same
episodes under each setting, so every difference is paired.

A setting is `name` or `name:KEY=VALUE,...` with KEY in
* ddim: DDIM steps of the sampler (the policy's default: its `num_inference_steps`),
* k: executed steps per chunk (default: its `n_action_steps`; k < H re-plans sooner),
* noise: scale of the initial noise w ~ N(0, I) (1 samples the policy, 0 its w = 0 chunk),
* weights: ema (default) or raw (the last optimizer step's weights).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/inference_settings.py --env postbc/WidowXPickPlace-v0 \
        --demos 10 --seeds 5 --episodes 100 \
        --settings base ddim4:ddim=4 ddim16:ddim=16 k2:k=2 raw:weights=raw w0:noise=0 \
        --json bench/results/inference_widowx_pick_place.json --plot bench/results/inference_widowx_pick_place.png
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time

import numpy as np

from postbc_ros.benchmarks.output import save_png, write_result

KEYS = {"ddim": int, "k": int, "noise": float, "weights": str}


def parse_setting(spec: str) -> tuple[str, dict]:
    """'k2:k=2' -> ('k2', {'k': 2}); 'base' -> ('base', {}). ValueError names what is wrong."""
    from postbc_ros.benchmarks.pretrain import parse_overrides

    name, _, rest = spec.strip().partition(":")
    over = parse_overrides(spec, rest, KEYS, "setting")
    if over.get("weights", "ema") not in ("ema", "raw"):
        raise ValueError(f"setting {spec!r}: weights must be ema or raw")
    if over.get("ddim", 1) < 1 or over.get("k", 1) < 1 or over.get("noise", 0.0) < 0:
        raise ValueError(f"setting {spec!r}: ddim and k must be >= 1, noise >= 0")
    return name, over


@contextlib.contextmanager
def applied(policy, over: dict):
    """`policy` sampling with `over`'s ddim / k for the duration; restored afterwards."""
    cfg = policy.cfg
    k = over.get("k", cfg.n_action_steps)
    if k > cfg.horizon:
        raise ValueError(f"k={k} exceeds the policy's chunk length H={cfg.horizon}")
    policy.cfg = dataclasses.replace(cfg, n_action_steps=k)
    policy.infer_scheduler.set_timesteps(over.get("ddim", cfg.num_inference_steps))
    try:
        yield policy
    finally:
        policy.cfg = cfg
        policy.infer_scheduler.set_timesteps(cfg.num_inference_steps)


def plot(result: dict, path: str) -> None:
    """Mean success per setting (bars, 95 % t-interval over seeds), each seed's policy joined across
    settings (lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_seed = result["per_seed"]
    names = list(per_seed)
    rows = np.array([per_seed[n] for n in names])  # [settings, seeds]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ci = np.array([result["summary"][n]["ci95_seeds"] or [rows[i].mean()] * 2 for i, n in enumerate(names)])
    ax.bar(range(len(names)), rows.mean(1), color="C0", alpha=0.5,
           yerr=np.abs(ci.T - rows.mean(1)), capsize=3)
    for s in range(rows.shape[1]):
        ax.plot(range(len(names)), rows[:, s], "k.-", lw=0.5, ms=4, alpha=0.6)
    ax.set_xticks(range(len(names)), names)
    cfg = result["config"]
    ax.set_ylabel(f"success ({cfg['episodes']} episodes per seed)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{cfg['env']}, {cfg['method']}, {cfg['demos']} demos, {cfg['seeds']} seeds: "
                 "one policy per seed, inference settings", fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def main(argv=None) -> int:
    import torch

    from postbc_ros.benchmarks.demos import eval_seed, make_bench_env, seed_demos
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig
    from postbc_ros.benchmarks.stats import difference_stats, success_stats
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.evaluate import evaluate_policy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="postbc/WidowXPickPlace-v0")
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--method", default="bc", help="a pretrain bench variant, e.g. bc or postbc:alpha=auto")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=100, help="evaluation episodes per seed and setting")
    ap.add_argument("--settings", nargs="+", default=["base", "ddim16:ddim=16", "k2:k=2", "w0:noise=0"])
    ap.add_argument("--steps", type=int, default=None, help="policy gradient steps (default: `postbc pretrain`'s)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--plot", help="PNG of the result")
    args = ap.parse_args(argv)
    settings = [parse_setting(s) for s in args.settings]  # bad settings fail before any training
    names = [n for n, _ in settings]
    if len(set(names)) != len(names):
        ap.error(f"--settings: names repeat: {names}")
    cfg = PretrainBenchConfig(env=args.env, demos=args.demos, seeds=args.seeds, eval_episodes=args.episodes,
                              variants=[args.method])
    if args.steps is not None:
        cfg.train = dataclasses.replace(cfg.train, steps=args.steps)
    cfg.validate()
    per_seed: dict[str, list[float]] = {n: [] for n in names}
    t0 = time.time()
    for seed in range(cfg.seeds):
        with seed_demos(cfg, seed) as (_root, data):
            torch.manual_seed(seed)
            res = pretrain(data, cfg.train_config(args.method, seed, "cpu"), progress=False)
            for name, over in settings:
                model = (res.policy if over.get("weights") == "raw" else res.ema.model).eval()
                env = make_bench_env(cfg, eval_seed(seed))
                try:
                    with applied(model, over):
                        ev = evaluate_policy(model, env, args.episodes, seed=eval_seed(seed), device="cpu",
                                             progress=False, noise_scale=over.get("noise", 1.0))
                finally:
                    env.close()
                per_seed[name].append(ev["success_rate"])
            print(f"seed {seed}: " + ", ".join(f"{n} {per_seed[n][-1]:.2f}" for n in names), file=sys.stderr,
                  flush=True)
    n, first = args.episodes, names[0]
    summary = {name: success_stats(v, n) for name, v in per_seed.items()}
    for name in names[1:]:  # paired with the first setting: same policy, same episodes
        summary[name][f"minus_{first}"] = difference_stats(per_seed[name], per_seed[first], n, n)
    result = {"benchmark": "inference_settings", "config": {
        "env": args.env, "demos": args.demos, "method": args.method, "seeds": args.seeds, "episodes": n,
        "settings": dict(settings), "train": dataclasses.asdict(cfg.train_config(args.method, 0, "cpu"))},
        "wall_seconds": time.time() - t0, "per_seed": per_seed, "summary": summary}
    write_result(result, args.json)
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
