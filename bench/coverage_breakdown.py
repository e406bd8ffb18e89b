"""Where pretrained BC and PostBC go on a coverage task (docs/coverage_tasks.md): success and path side
in blocked and in clear layouts, per seed, with the learning bench's demonstrations, pretraining
settings and evaluation seeds (postbc_ros.benchmarks.learning), so its numbers explain that bench's
pretrained points.

The side of an episode is that of the tool's largest lateral excursion from the start -> goal line
(seen from above, left positive): left / right beyond --side-cm, straight otherwise. Actions are
sampled (w ~ N(0, I)), as the bench's pretrained point.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/coverage_breakdown.py --env postbc/WidowXReachObstacle-v0 \
        --demos 10 --seeds 5 --episodes 200 --json bench/results/coverage_breakdown_widowx_10demos.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

SIDES = ("left", "straight", "right")


def episode_side(env, runner, seed: int, side_m: float) -> tuple[bool, bool, str]:
    """(blocked layout, success, side) of one sampled episode."""
    u = env.unwrapped
    obs, _ = env.reset(seed=seed)
    runner.reset()
    start, goal = u.twin.ee_pose()[0][:2].copy(), u.layout["goal"][:2]
    d = (goal - start) / np.linalg.norm(goal - start)
    normal = np.array([-d[1], d[0]])
    lateral, success = [0.0], False
    for _ in range(u.horizon):
        obs, _r, term, trunc, info = env.step(runner.act(obs))
        lateral.append(float((u.twin.ee_pose()[0][:2] - start) @ normal))
        success = success or bool(info.get("success"))
        if term or trunc or success:
            break
    m = max(lateral, key=abs)
    return bool(u.layout["blocked"]), success, "left" if m > side_m else ("right" if m < -side_m else "straight")


def breakdown(rows: list[tuple[bool, bool, str]]) -> dict:
    out = {"episodes": len(rows), "success": float(np.mean([r[1] for r in rows]))}
    for name, want in (("blocked", True), ("clear", False)):
        sub = [r for r in rows if r[0] == want]
        out[name] = {"episodes": len(sub), "success": float(np.mean([r[1] for r in sub])) if sub else None,
                     "side": {s: float(np.mean([r[2] == s for r in sub])) if sub else None for s in SIDES}}
    return out


def _mean(values: list) -> float | None:
    """Mean over the seeds that had such layouts (None where none had)."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def main(argv=None) -> int:
    from postbc_ros.benchmarks.demos import eval_seed, pretrained_runners
    from postbc_ros.benchmarks.learning import BenchConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="postbc/WidowXReachObstacle-v0")
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--methods", default="bc,postbc")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=200, help="evaluation episodes per seed and method")
    ap.add_argument("--steps", type=int, default=10_000, help="policy gradient steps")
    ap.add_argument("--side-cm", type=float, default=3.0, help="lateral excursion [cm] that counts as a side")
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)
    cfg = BenchConfig(env=args.env, demos=args.demos, methods=args.methods.split(","), seeds=args.seeds)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=args.steps, device="cpu"))
    runs: dict[str, list[dict]] = {m: [] for m in cfg.methods}
    t0 = time.time()
    configs = lambda seed: {m: dataclasses.replace(cfg.train, method=m, seed=seed) for m in cfg.methods}  # noqa: E731
    for seed, method, runner, env in pretrained_runners(cfg, cfg.seeds, configs, runner_seed=lambda s: s):
        rows = [episode_side(env, runner, eval_seed(seed) + ep, args.side_cm / 100) for ep in range(args.episodes)]
        runs[method].append(breakdown(rows))
        print(f"{method} seed {seed}: {json.dumps(runs[method][-1])}", file=sys.stderr, flush=True)
    mean = {m: {"success": _mean([r["success"] for r in rs]),
                **{k: {"success": _mean([r[k]["success"] for r in rs]),
                       "side": {s: _mean([r[k]["side"][s] for r in rs]) for s in SIDES}}
                   for k in ("blocked", "clear")}} for m, rs in runs.items()}
    result = {"benchmark": "coverage_breakdown", "config": dataclasses.asdict(cfg) | {"episodes": args.episodes,
                                                                                     "side_cm": args.side_cm},
              "wall_seconds": time.time() - t0, "mean_over_seeds": mean, "per_seed": runs}
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(mean, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
