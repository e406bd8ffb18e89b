"""`postbc bench faults`: the fault suite on the twin graph (postbc_ros/benchmarks/faults.py).

Prints one JSON row per fault as it finishes, then writes {"rows", "summary"} to --json. Exit 1
when a row is not ok.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    from postbc_ros.benchmarks.faults import FAULT_NAMES

    q = sub.add_parser("faults", help="kill, stop and feed bad messages to the twin graph; check the arm holds "
                                      "and no data is lost (one JSON row per fault)")
    q.add_argument("--json", dest="json_out", required=True, help="result JSON path")
    q.add_argument("--faults", default=",".join(FAULT_NAMES),
                   help=f"comma-separated subset of: {', '.join(FAULT_NAMES)}")
    q.add_argument("--checkpoint", default=None,
                   help="policy checkpoint the finetune graph runs (default: a tiny one built first)")
    q.add_argument("--work", default="runs/bench_faults", help="where each fault's graph writes its run")
    q.set_defaults(func=run_faults)


def run_faults(args) -> int:
    from postbc_ros.benchmarks.faults import run_suite, summary

    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    rows = run_suite(names, Path(args.work), Path(args.checkpoint) if args.checkpoint else None,
                     progress=lambda r: print(json.dumps(r), flush=True))
    result = {"rows": rows, "summary": summary(rows)}
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"]), file=sys.stderr)
    return 0 if all(r.get("ok") for r in rows) else 1
