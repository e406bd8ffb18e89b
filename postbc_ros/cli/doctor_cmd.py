"""`postbc doctor [--rig NAME] [--json]`: check the devices and files of a rig (default: every real
rig) -- U2D2 + servos, UR controller, RealSense, teleop devices, calibration, ROS environment.

One line per check (✓/✗ name: detail — fix), or `{"checks": [...]}` with --json. Exit 1 when a
check fails, 2 for an unknown rig.
"""
from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from postbc_ros.doctor import run_doctor

    try:
        checks = run_doctor(args.rig)
    except ValueError as e:
        print(f"postbc doctor: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        for c in checks:
            print(c.line())
        bad = [c for c in checks if not c.ok]
        tail = f"; fix the {len(bad)} marked \u2717" if bad else ""
        print(f"\n{len(checks) - len(bad)} of {len(checks)} checks passed{tail}")
    return 1 if any(not c.ok for c in checks) else 0


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check what is connected and what is misconfigured (devices, calibration, ROS)")
    p.add_argument("--rig", default=None, help="check only this rig (calibration/<rig>/, e.g. widowx, ur5e); "
                   "default: every real rig")
    p.add_argument("--json", action="store_true", help='print {"checks": [{"name", "ok", "detail", "fix"}, ...]}')
    p.set_defaults(func=run)
