#!/usr/bin/env python3
"""Safety filter benchmark: the same as `postbc bench safety` (postbc_ros/benchmarks/safety.py).

Fuzzes filter_command per calibration rig (random and adversarial inputs), checks every output
independently of the filter, and prints per rig {"robot", "rig", "tried", "violations", "escaped",
"internal_errors", "us_p50", "us_p99", per-path (normal / workspace) p50/p99, ratio to a bare
np.clip measured in the same run}. The committed full run: bench/results/safety.json.

    python bench/bench_safety.py [--tried 100000] [--rigs widowx ur5e ...] [--json [PATH]]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, whatever is installed


def main() -> int:
    from postbc_ros.cli.main import main as postbc

    return postbc(["bench", "safety", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
