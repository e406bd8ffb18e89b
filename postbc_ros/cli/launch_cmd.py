"""`postbc launch NAME arg:=value ...`: start a node graph without ROS 2's launch tools."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from postbc_ros.graph.graphs import GRAPH_ARGS

    lines = []
    for g, args in GRAPH_ARGS.items():
        lines.append(f"{g}:")
        for a in args:
            ch = f" {{{'|'.join(a.allowed())}}}" if a.choices else ""
            default = a.default if a.default else "''"
            lines.append(f"  {a.name}:={default}{ch}  {a.description}")
    p = subparsers.add_parser(
        "launch",
        help="start a node graph (finetune | collect | sim), each node its own process",
        description="Start the same graph as `ros2 launch postbc_ros NAME.launch.py` from the shared "
        "graph description: one process per node, prefixed logs, clean Ctrl-C shutdown.",
        epilog="launch arguments:\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("graph", choices=sorted(GRAPH_ARGS), help="which graph")
    p.add_argument("assignments", nargs="*", metavar="arg:=value", help="launch arguments")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the resolved graph (nodes, parameters, env, exit policy) as JSON on stdout, "
                   "the fault policy table on stderr, and exit")
    p.add_argument("--run-dir", default=None, help="where parameter files go (default: OUTPUT_DIR/launch)")
    p.add_argument("--duration", type=float, default=None, help="shut down after this many seconds")
    p.add_argument("--grace", type=float, default=8.0, help="seconds between SIGINT and SIGTERM at shutdown")
    p.set_defaults(func=run)


def parse_assignments(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        if ":=" not in it:
            raise SystemExit(f"postbc launch: expected arg:=value, got {it!r}")
        k, v = it.split(":=", 1)
        out[k.strip()] = v
    return out


def run(args) -> int:
    import json
    import signal
    import sys
    from pathlib import Path

    from postbc_ros.graph import build_graph
    from postbc_ros.graph.supervisor import Supervisor

    try:
        graph = build_graph(args.graph, parse_assignments(args.assignments))
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"postbc launch: {e}")
        return 2
    problem = checkpoint_problem(graph.arguments) if args.graph == "finetune" else None
    if problem:
        print(f"postbc launch: {problem}")
        return 2
    if args.print_only:
        print(json.dumps(graph.describe(), indent=2, sort_keys=True))
        print(policy_table(graph), file=sys.stderr)
        return 0
    run_dir = Path(args.run_dir or Path(graph.arguments["output_dir"]) / "launch")
    sup = Supervisor(graph, run_dir, grace=args.grace)
    signal.signal(signal.SIGINT, sup.request_stop)
    signal.signal(signal.SIGTERM, sup.request_stop)
    sup.start()
    rc = sup.wait(timeout=args.duration)
    if sup.stop_reason:
        print(f"[launch] the graph was stopped: {sup.stop_reason}", flush=True)
    if sup.completed:
        print(f"[launch] done: {sup.completed}", flush=True)
    for path, episodes in recorded_datasets(graph):
        print(f"[launch] dataset: {path} ({episodes} episodes)", flush=True)
    print(f"[launch] shut down ({'clean' if rc == 0 else 'with errors'}): "
          + ", ".join(f"{k}={v}" for k, v in sorted(sup.exit_codes.items())), flush=True)
    return rc


def recorded_datasets(graph) -> list[tuple[str, int]]:
    """(absolute path, episode count) of each dataset the graph's recording teleop nodes left behind
    (LeRobot v3 meta/info.json `total_episodes`); a dataset not created yet is not listed."""
    import json
    from pathlib import Path

    out = []
    for n in graph.nodes:
        if n.executable != "teleop_node" or not n.parameters.get("record", True) or "dataset_dir" not in n.parameters:
            continue
        root = Path(n.parameters["dataset_dir"]).resolve()
        try:
            info = json.loads((root / "meta" / "info.json").read_text())
        except (OSError, ValueError):
            continue
        out.append((str(root), int(info.get("total_episodes", 0))))
    return out


def policy_table(graph) -> str:
    """What the supervisor does when each node exits (docs/fault_policy.md), one row per node."""
    rows = [("node", "on exit", "why")] + [(n.fqn, n.on_exit.summary(), n.on_exit.reason) for n in graph.nodes]
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)


def checkpoint_problem(arguments: dict[str, str]) -> str | None:
    """Why the finetune graph's checkpoint cannot drive this cell (its observation contract against
    the robot and task), or None; contract warnings are printed. Checked before any node starts."""
    from postbc_ros.core.observation_contract import ContractError, ContractMismatch
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.sim.task_params import TWIN_OBSERVATIONS
    from postbc_ros.sim.twin_contract import check_checkpoint_for

    if not arguments.get("checkpoint"):
        return None  # the policy node names the missing parameter
    try:
        # observation:= (build_graph refused what the cell cannot observe): the twin's obs_mode observing the same
        observation = arguments["observation"]
        for w in check_checkpoint_for(arguments["robot"], arguments["task"], arguments["checkpoint"],
                                      obs_mode=TWIN_OBSERVATIONS[observation]):
            print(f"postbc launch: observation contract: {w}")
    except ContractMismatch as e:
        hint = ""
        if arguments.get("sim") == "true" and observation == "markers" and "twin_state:privileged" in str(e):
            hint = ("\n  the checkpoint observes the twin's privileged state: add observation:=privileged "
                    "(simulation only), or retrain on data recorded with the default observation:=markers")
        return f"checkpoint {arguments['checkpoint']}: {e}{hint}"
    except (ContractError, CheckpointError) as e:
        return f"checkpoint {arguments['checkpoint']}: {e}"
    return None
