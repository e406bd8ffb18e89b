#!/usr/bin/env python3
"""Throughput of the safety filter vs a bare np.clip baseline (same inputs, same run).

The filter does much more than clip (shape/NaN checks, step/velocity/acceleration bounds,
forward kinematics of the workspace box, intervention reports), so the interesting number
is whether it fits a control loop: calls/s against the loop rate, and the ratio to a bare
joint-limit clip measured in the same process.

    python bench/bench_safety.py [--robot widowx] [--calls 20000] [--dt 0.002]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, whatever is installed


def main() -> int:
    import numpy as np

    from postbc_ros.core.safety import SafetyState, filter_command, load_safety_limits
    from postbc_ros.robots import get_robot_spec

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="widowx", help="calibration rig with a safety.yaml (widowx, ur5e, widowx_twin, ur5e_twin)")
    ap.add_argument("--calls", type=int, default=20000, help="filter calls per scenario")
    ap.add_argument("--dt", type=float, default=0.002, help="command period [s] (500 Hz servo loop)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    limits = load_safety_limits(args.robot)
    spec = get_robot_spec(limits.robot)
    rng = np.random.default_rng(args.seed)
    n = limits.n_joints
    step = limits.step_bound(args.dt)
    # scenario "nominal": small moves inside every limit (the common case in a servo loop)
    q0 = spec.home
    nominal = np.column_stack([q0 + rng.uniform(-0.5, 0.5, (args.calls, n)) * step, rng.uniform(0, 1, args.calls)])
    # scenario "violating": large random targets (joint clip, step clip, workspace scaling by bisection)
    violating = np.column_stack([q0 + rng.uniform(-1.5, 1.5, (args.calls, n)), rng.uniform(-1, 2, args.calls)])
    state = SafetyState(q=q0, last_velocity=np.zeros(n))

    def run_filter(cmds) -> tuple[float, int]:
        held = 0
        t0 = time.perf_counter()
        for c in cmds:
            held += filter_command(c, state, limits, args.dt).held
        return time.perf_counter() - t0, held

    def run_clip(cmds) -> float:
        lo, hi = limits.lower, limits.upper
        t0 = time.perf_counter()
        for c in cmds:
            np.clip(c[:n], lo, hi)
        return time.perf_counter() - t0

    run_filter(nominal[:500])  # warm-up
    run_clip(nominal[:500])
    out = {"bench": "safety_filter", "robot": args.robot, "calls": args.calls, "dt": args.dt,
           "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    for name, cmds in (("nominal", nominal), ("violating", violating)):
        t_f, held = run_filter(cmds)
        t_c = run_clip(cmds)
        out[name] = {
            "filter_calls_per_s": round(args.calls / t_f, 1),
            "filter_us_per_call": round(1e6 * t_f / args.calls, 2),
            "np_clip_calls_per_s": round(args.calls / t_c, 1),
            "ratio_filter_time_vs_clip": round(t_f / t_c, 2),
            "loop_budget_fraction_at_dt": round((t_f / args.calls) / args.dt, 4),
            "held": int(held),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
