"""Why a pretrained pick-and-place policy fails: each evaluation episode's outcome, and where the
policy first closes the gripper (height above and distance beside the object), per variant.

Outcomes: success; never_touched (no finger pad ever touched the object); touched_not_lifted (it was
touched, never lifted 2 cm); dropped_or_missed (lifted, ended outside the bowl); held_in_bowl (over the
bowl, still held at the end). Uses the pretrain bench's demonstrations, pretraining and evaluation
seeds (postbc_ros.benchmarks.pretrain), so its success rates are that bench's.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/grasp_failures.py --env postbc/WidowXPickPlace-v0 --demos 10 \
        --seeds 1 --episodes 50 --variants bc bc:state_exclude=none --json grasp_failures.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUTCOMES = ("success", "never_touched", "touched_not_lifted", "dropped_or_missed", "held_in_bowl")
LIFT_M = 0.02  # the object counts as lifted 2 cm above where it started


@dataclass
class GraspTrace:
    """What one episode did with the object, updated after every env step."""

    z0: float
    touched: bool = False
    lifted: bool = False
    close: dict | None = None  # the first step commanding the gripper closed: dz, dxy [m], step

    def before_step(self, action, tool, obj, step: int) -> None:
        if self.close is None and float(action[-1]) > 0.0:
            self.close = {"dz": float(tool[2] - obj[2]), "dxy": float(np.linalg.norm(tool[:2] - obj[:2])), "step": step}

    def after_step(self, obj, touches: bool) -> None:
        self.touched |= touches
        self.lifted |= float(obj[2]) > self.z0 + LIFT_M


def outcome(success: bool, trace: GraspTrace, obj_goal_dxy: float, bowl_radius: float, held: bool) -> str:
    if success:
        return "success"
    if not trace.touched:
        return "never_touched"
    if not trace.lifted:
        return "touched_not_lifted"
    return "held_in_bowl" if obj_goal_dxy < bowl_radius and held else "dropped_or_missed"


def run_episode(env, act, seed: int, max_steps: int | None = None) -> tuple[str, GraspTrace, int]:
    """One episode of `act(obs) -> action` on a twin pick-and-place env -> (outcome, trace, steps)."""
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    tw = u.twin
    trace = GraspTrace(z0=float(tw.object_position()[2]))
    steps, success = 0, False
    while True:
        a = act(obs)
        trace.before_step(a, tw.ee_pose()[0], tw.object_position(), steps)
        obs, _r, term, trunc, info = env.step(a)
        steps += 1
        trace.after_step(tw.object_position(), tw.object_touches_gripper())
        success = bool(info.get("success"))
        if term or trunc or success or (max_steps is not None and steps >= max_steps):
            break
    obj, goal = tw.object_position(), tw.goal_position()
    dxy = float(np.linalg.norm(obj[:2] - goal[:2]))
    return outcome(success, trace, dxy, u.params.bowl_radius, tw.object_touches_gripper()), trace, steps


def summarise(results: list[tuple[str, GraspTrace, int]]) -> dict:
    counts = Counter(o for o, _t, _s in results)
    out = {"episodes": len(results), "success": counts["success"] / max(len(results), 1),
           "outcomes": {o: counts[o] for o in OUTCOMES}, "first_close": {}}
    for kind in ("success", "touched_not_lifted"):
        ev = [t.close for o, t, _s in results if o == kind and t.close is not None]
        if ev:
            out["first_close"][kind] = {k: {"mean": float(np.mean([e[k] for e in ev])),
                                            "std": float(np.std([e[k] for e in ev]))} for k in ("dz", "dxy", "step")}
    return out


def run(args) -> dict:
    from postbc_ros.benchmarks.demos import eval_seed, pretrained_runners
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig

    cfg = PretrainBenchConfig(env=args.env, demos=args.demos, seeds=args.seeds, eval_episodes=args.episodes,
                              variants=list(args.variants))
    if args.steps:
        cfg.train.steps = args.steps
    per_seed: dict[str, list[dict]] = {v: [] for v in cfg.variants}
    t0 = time.time()
    configs = lambda seed: {v: cfg.train_config(v, seed, "cpu") for v in cfg.variants}  # noqa: E731
    for seed, spec, runner, env in pretrained_runners(cfg, args.seeds, configs):
        results = []
        for e in range(args.episodes):
            runner.reset()
            results.append(run_episode(env, runner.act, eval_seed(seed) + e))
        rec = summarise(results)
        per_seed[spec].append(rec)
        print(f"seed {seed} {spec}: success {rec['success']:.2f} {rec['outcomes']}", file=sys.stderr, flush=True)
    return {"benchmark": "grasp_failures", "config": vars(args) | {"json": None}, "wall_seconds": time.time() - t0,
            "per_seed": per_seed,
            "mean_success": {v: float(np.mean([r["success"] for r in rs])) for v, rs in per_seed.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="postbc/WidowXPickPlace-v0")
    p.add_argument("--demos", type=int, default=10)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--steps", type=int, default=None, help="policy gradient steps (default: postbc pretrain's)")
    p.add_argument("--variants", nargs="+", default=["bc"], help="as postbc bench pretrain --variants")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if "PickPlace" not in args.env:
        p.error(f"--env {args.env}: the outcomes are pick-and-place's (a postbc/<Robot>PickPlace-v0 twin task)")
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(json.dumps({"mean_success": result["mean_success"], "wall_seconds": round(result["wall_seconds"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
