"""How far a pretrained policy can be steered through its noise: the ceiling DSRL (which learns to
choose the noise w) can reach without changing the policy, measured with the learning bench's
demonstrations, pretraining settings and evaluation seeds (postbc_ros.benchmarks.learning).

Per evaluation episode, three ways of choosing each chunk's noise:
* sampled: w ~ N(0, I), the pretrained policy as the bench's pretrained point evaluates it;
* zero: w = 0, the deterministic chunk (where a DSRL actor with zero mean starts);
* oracle: M candidate noises w ~ N(0, I) clipped to ±bound (DSRL's noise space), each chunk simulated
  on a copy of the env; the one whose chunk succeeds, else ends nearest the goal, is executed. It
  looks ahead with the simulator (privileged, one chunk, greedy), so it is a diagnostic of what the
  noise space holds, not a policy.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/steerability.py --env postbc/WidowXReach-v0 --demos 5 \
        --methods bc,postbc --seeds 5 --episodes 50 \
        --json bench/results/steerability_widowx_reach_5demos.json --plot bench/results/steerability_widowx_reach_5demos.png
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from postbc_ros.benchmarks.output import save_png, write_result

CHOOSERS = ("sampled", "zero", "oracle")


def goal_distance(env) -> float:
    """Tool-to-goal distance [m] of a twin task env (the quantity reach succeeds on)."""
    u = env.unwrapped
    return float(np.linalg.norm(u.twin.ee_pose()[0] - np.asarray(u.layout["goal"])))


def run_chunk(env, chunk: np.ndarray, k: int) -> tuple[object, str | None]:
    """Execute the first k actions of `chunk`; (last observation, 'success' | 'end' | None)."""
    obs = None
    for a in chunk[:k]:
        obs, _r, term, trunc, info = env.step(a)
        if info.get("success"):
            return obs, "success"
        if term or trunc:
            return obs, "end"
    return obs, None


def oracle_noise(env, runner, obs, rng, candidates: int, bound: float, score=goal_distance) -> np.ndarray:
    """Of `candidates` clipped noises, the one whose simulated chunk succeeds, else scores lowest."""
    cfg = runner.cfg
    best, best_key = None, None
    for _ in range(candidates):
        w = np.clip(rng.standard_normal((cfg.horizon, cfg.action_dim)), -bound, bound)
        env2 = copy.deepcopy(env)
        runner2 = copy.deepcopy(runner, {id(runner.policy): runner.policy})  # the history copied, not the network
        _obs, end = run_chunk(env2, runner2.act_chunk(obs, w), cfg.n_action_steps)
        key = (end != "success", score(env2))
        env2.close()
        if best_key is None or key < best_key:
            best, best_key = w, key
    return best


def episode(env, runner, seed: int, chooser: str, rng, candidates: int, bound: float) -> bool:
    """One episode choosing every chunk's noise by `chooser`; success."""
    obs, _ = env.reset(seed=seed)
    runner.reset()
    cfg = runner.cfg
    for _ in range(0, env.unwrapped.horizon, cfg.n_action_steps):
        if chooser == "oracle":
            w = oracle_noise(env, runner, obs, rng, candidates, bound)
        else:
            w = np.zeros((cfg.horizon, cfg.action_dim)) if chooser == "zero" else None
        obs, end = run_chunk(env, runner.act_chunk(obs, w), cfg.n_action_steps)
        if end is not None:
            return end == "success"
    return False


def plot(result: dict, path: str) -> None:
    """Per method: mean success of each chooser (bars) and each seed (dots, sampled -> oracle joined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_seed = result["per_seed"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for j, (method, rows) in enumerate(per_seed.items()):
        for i, chooser in enumerate(CHOOSERS):
            x = j * (len(CHOOSERS) + 1) + i
            ax.bar(x, np.mean(rows[chooser]), color=f"C{i}", alpha=0.6, label=chooser if j == 0 else None)
            ax.plot([x] * len(rows[chooser]), rows[chooser], "k.", ms=4)
        x0 = j * (len(CHOOSERS) + 1)
        for a, b in zip(rows["sampled"], rows["oracle"]):
            ax.plot([x0, x0 + CHOOSERS.index("oracle")], [a, b], "k-", lw=0.5, alpha=0.5)
    ax.set_xticks([j * (len(CHOOSERS) + 1) + 1 for j in range(len(per_seed))], list(per_seed))
    cfg = result["config"]
    ax.set_ylabel(f"success ({cfg['episodes']} episodes per seed)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{cfg['env']}, {cfg['demos']} demos, {cfg['seeds']} seeds: choosing the noise "
                 f"(oracle: best of {cfg['candidates']} per chunk)", fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def main(argv=None) -> int:
    import torch

    from postbc_ros.benchmarks.demos import eval_seed, make_bench_env, seed_demos
    from postbc_ros.benchmarks.learning import BenchConfig
    from postbc_ros.benchmarks.stats import difference_stats, success_stats
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.runner import PolicyRunner

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="postbc/WidowXReach-v0")
    ap.add_argument("--demos", type=int, default=5)
    ap.add_argument("--methods", default="bc,postbc")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=100, help="evaluation episodes per seed, method and chooser")
    ap.add_argument("--candidates", type=int, default=16, help="oracle: noises tried per chunk (M)")
    ap.add_argument("--bound", type=float, default=1.5, help="oracle: noise clip, DSRL's noise_bound")
    ap.add_argument("--steps", type=int, default=None, help="policy gradient steps (default: the bench's)")
    ap.add_argument("--alpha", default=None, help="PostBC's α, a number or auto (default: the bench's)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--plot", help="PNG of the result")
    ap.add_argument("--replot", action="store_true", help="only draw --plot from an existing --json")
    args = ap.parse_args(argv)
    if args.replot:
        if not args.plot:
            ap.error("--replot draws --plot from --json: give --plot PATH.png")
        plot(json.loads(Path(args.json).read_text()), args.plot)
        return 0
    cfg = BenchConfig(env=args.env, demos=args.demos, methods=args.methods.split(","), seeds=args.seeds)
    over = {k: v for k, v in (("steps", args.steps), ("alpha", args.alpha)) if v is not None}
    train = dataclasses.replace(cfg.train, device="cpu", **over)  # alpha "auto" -> the auto rule (TrainConfig)
    per_seed: dict[str, dict[str, list[float]]] = {m: {c: [] for c in CHOOSERS} for m in cfg.methods}
    t0 = time.time()
    for seed in range(cfg.seeds):
        with seed_demos(cfg, seed) as (_root, data):  # train differs from cfg.train in steps / alpha only
            for method in cfg.methods:
                torch.manual_seed(seed)
                res = pretrain(data, dataclasses.replace(train, method=method, seed=seed), progress=False)
                policy = res.ema.model.eval()
                for chooser in CHOOSERS:
                    env = make_bench_env(cfg, eval_seed(seed))
                    rng = np.random.default_rng(seed)
                    runner = PolicyRunner(policy, "cpu", seed=seed)
                    wins = [episode(env, runner, eval_seed(seed) + ep, chooser, rng, args.candidates, args.bound)
                            for ep in range(args.episodes)]
                    env.close()
                    per_seed[method][chooser].append(float(np.mean(wins)))
                print(f"{method} seed {seed}: " + ", ".join(f"{c} {per_seed[method][c][-1]:.2f}" for c in CHOOSERS),
                      file=sys.stderr, flush=True)
    n = args.episodes
    summary = {m: {c: success_stats(v, n) for c, v in rows.items()} for m, rows in per_seed.items()}
    for m, rows in per_seed.items():  # what steering adds over sampling, same seeds and episodes
        summary[m]["oracle_minus_sampled"] = difference_stats(rows["oracle"], rows["sampled"], n, n)
    if "bc" in per_seed and "postbc" in per_seed:
        summary["postbc_minus_bc"] = {c: difference_stats(per_seed["postbc"][c], per_seed["bc"][c], n, n)
                                      for c in CHOOSERS}
    result = {"benchmark": "steerability", "config": dataclasses.asdict(cfg) | {
        "train": dataclasses.asdict(train), "episodes": args.episodes, "candidates": args.candidates,
        "bound": args.bound}, "wall_seconds": time.time() - t0, "per_seed": per_seed, "summary": summary}
    write_result(result, args.json)
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
