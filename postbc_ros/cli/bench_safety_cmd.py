"""`postbc bench safety [--json [PATH]]`: fuzz the safety filter on every arm and check each output.

Prints one row per calibration rig -- {"robot", "rig", "tried", "violations", "escaped",
"internal_errors", "us_p50", "us_p99", per-path p50/p99 and the ratio to a bare np.clip} -- as
JSON lines with --json (the full result, with per-case counts and examples of any violation, goes
to PATH when given). Exit status 1 when any row has a violation, an escaped exception or an
internal error; speed is reported (p99_ok against the target), not enforced.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    from postbc_ros.benchmarks.safety import CASES, TARGET_P99_US, SafetyBenchConfig

    q = sub.add_parser(
        "safety",
        help="fuzz filter_command per arm (random + adversarial) and check every output independently",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=f"Cases: {', '.join(CASES)}. Target: p99 <= {TARGET_P99_US:g} µs per command on the "
                    f"normal and the workspace path.",
    )
    q.add_argument("--tried", type=int, default=SafetyBenchConfig.tried, help="fuzzed inputs per rig")
    q.add_argument("--rigs", nargs="+", default=None,
                   help="calibration rigs (default: the real and the twin rig of every registered arm)")
    q.add_argument("--seed", type=int, default=SafetyBenchConfig.seed)
    q.add_argument("--json", dest="json_out", nargs="?", const="-", default=None, metavar="PATH",
                   help="print the rows as JSON lines; with PATH also write the full result there")
    q.set_defaults(func=run_safety)


def run_safety(args) -> int:
    from postbc_ros.benchmarks.output import write_result
    from postbc_ros.benchmarks.safety import SafetyBenchConfig, run_safety_benchmark, summary_rows

    cfg = SafetyBenchConfig(tried=args.tried, rigs=tuple(args.rigs or ()), seed=args.seed)
    try:
        cfg.validate()
        from postbc_ros.core.safety import load_safety_limits

        for rig in cfg.rigs:
            load_safety_limits(rig)
    except ValueError as e:  # SafetyConfigError is one
        print(f"postbc bench safety: {e}", file=sys.stderr)
        return 2
    as_json = args.json_out is not None
    result = run_safety_benchmark(cfg, log=(lambda s: print(s, file=sys.stderr)) if as_json else print)
    for row in summary_rows(result):
        print(json.dumps(row) if as_json else "  ".join(f"{k}={v}" for k, v in row.items()))
    if args.json_out not in (None, "-"):
        write_result(result, args.json_out)
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0 if result["ok"] else 1
