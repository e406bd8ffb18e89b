"""`postbc replay check DIR [--json]` and `postbc replay repair DIR --out NEWDIR`: what is in a
replay store and what is damaged, and a clean copy of everything readable (the old store is
never edited; postbc_ros.core.replay_repair does the work).

Exit codes: 0 all is well; 1 (check) something is quarantined or torn; 2 the store cannot be
read, or repair refused (NEWDIR not empty, inside DIR) or failed.
"""
from __future__ import annotations

import json
import sys

EXIT_DAMAGED = 1  # check: quarantined records, refused files or a torn tail
EXIT_ERROR = 2  # no store / cannot read it / repair refused


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="check a replay store (read-only) or repair it into a new store")
    sub = p.add_subparsers(dest="replay_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="episodes, steps and damaged records of a store; reads only "
                                     f"(exit {EXIT_DAMAGED} when anything is quarantined or torn)")
    c.add_argument("dir", help="replay store directory (the one holding STORE.json)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=run_check)
    r = sub.add_parser("repair", help="write a NEW store with every readable record of DIR (DIR is not changed)")
    r.add_argument("dir", help="replay store directory to read")
    r.add_argument("--out", required=True, help="new store directory (must not exist, or be empty)")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=run_repair)


def _print_check(rep: dict) -> None:
    eps = rep["episodes"]
    print(f"{rep['store']}: {len(eps)} episodes ({rep['complete']} complete, {rep['incomplete']} incomplete), "
          f"{rep['steps']} steps")
    for e in eps:
        state = "complete" if e["complete"] else "incomplete"
        notes = [f"{k} {e[k]}" for k in ("lost_steps", "missing_steps", "quarantined") if e[k]]
        print(f"  episode {e['episode']:>6}  {e['kind']:<8} {e['num_steps']:>6} steps  {state:<10} "
              f"success={e['success']}" + (f"  ({', '.join(notes)})" if notes else ""))
    for q in rep["quarantined"]:
        where = "" if q["offset"] is None else f" at byte {q['offset']}"
        print(f"QUARANTINED {q['file']}{where}: {q['error']}: {q['problem']}")
    for t in rep["torn"]:
        print(f"TORN TAIL {t['file']} at byte {t['offset']} ({t['length']} bytes): {t['problem']} "
              "(the next writer to open the store cuts it, keeping a copy)")
    print("ok" if rep["ok"] else f"{len(rep['quarantined'])} quarantined, {len(rep['torn'])} torn: "
          "`postbc replay repair DIR --out NEWDIR` copies every readable record into a new store")


def run_check(args) -> int:
    from postbc_ros.core.replay_repair import check_store
    from postbc_ros.core.replay_store import ReplayStoreError

    try:
        rep = check_store(args.dir)
    except (ReplayStoreError, OSError) as e:
        print(f"postbc replay check: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        _print_check(rep)
    return 0 if rep["ok"] else EXIT_DAMAGED


def run_repair(args) -> int:
    from postbc_ros.core.replay_repair import repair_store
    from postbc_ros.core.replay_store import ReplayStoreError

    try:
        rep = repair_store(args.dir, args.out)
    except (ReplayStoreError, OSError) as e:
        print(f"postbc replay repair: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        left = rep["left_behind"]
        print(f"{rep['out']}: {rep['records']} records of {rep['episodes']} episodes copied from {rep['source']} "
              f"(unchanged); left behind: {len(left['quarantined'])} quarantined, {len(left['torn'])} torn"
              + (f"; episodes with nothing readable: {rep['episodes_without_readable_records']}"
                 if rep["episodes_without_readable_records"] else ""))
    return 0
