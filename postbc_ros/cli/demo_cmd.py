"""`postbc demo`: the README's main job on the MuJoCo twin, end to end over ROS 2.

1. collect scripted demonstrations through the teleop/recorder path (as `postbc collect --scripted`);
2. pretrain a PostBC diffusion policy on them (as `postbc pretrain`);
3. launch the finetune graph (twin, safety-filtered arm, policy, replay buffer, learner, episode
   manager with automatic resets) -- each node its own process, DDS on loopback;
4. finetune for --episodes episodes, printing success per block of episodes;
5. write OUT/demo_summary.json and OUT/success_per_block.png.

Defaults finish well under 20 minutes on 2 CPU cores; --demos/--pretrain-epochs/--episodes make
it tiny for tests.
"""
from __future__ import annotations

import argparse

from postbc_ros.cli.config_args import add_config_args, config_from_args
from postbc_ros.cli.demo_report import PRETRAINED_EVAL_EPISODES
from postbc_ros.learning.train_config import AUTO_NOISE_FRACTION, TrainConfig
from postbc_ros.sim.task_params import DEFAULT_TWIN_OBSERVATION, TASKS, TWIN_OBSERVATIONS

# pretraining sized for the demo's time budget on 2 CPU cores (the rest: TrainConfig's defaults):
# 10 000 policy steps (a third of POLICY_STEPS) took 143 s wall / 80 s CPU with 1 torch thread on 40
# reach demos (659 windows, 3334 epochs; measured with `time postbc pretrain` on a loaded 2-core machine)
DEMO_TRAIN = TrainConfig(steps=10_000, ensemble_size=5, hidden=[256, 256])
DEMO_TRAIN_OPTIONS = ("method", "alpha", "steps", "epochs", "ensemble_size", "hidden")
# ROS_DOMAIN_ID drawn when --domain-id is not given (away from the default 0 and other local runs)
DOMAIN_ID_RANGE = (100, 199)
# how often the finetuning progress (episode logs, node exits) is read
POLL_S = 0.5


def register(subparsers) -> None:
    from postbc_ros.rl.registry import ALGORITHMS
    from postbc_ros.robots import DEFAULT_ROBOT, robot_names

    p = subparsers.add_parser("demo", help="main job on the twin: demos -> PostBC -> ROS 2 finetuning -> plot",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robot", default=DEFAULT_ROBOT, choices=robot_names(with_twin=True), help="twin arm")
    p.add_argument("--task", default="reach", choices=list(TASKS), help="twin task (docs/coverage_tasks.md: reach_obstacle)")
    p.add_argument("--demos", type=int, default=40, help="scripted demonstrations to record")
    add_config_args(p, TrainConfig, DEMO_TRAIN_OPTIONS, base=DEMO_TRAIN,
                    flags={"steps": "--pretrain-steps", "epochs": "--pretrain-epochs"}, helps={
        "method": f"pretraining method (default {DEMO_TRAIN.method})",
        "alpha": f"PostBC posterior noise weight α (default {DEMO_TRAIN.alpha:g}), or auto: the largest α <= "
                 f"{DEMO_TRAIN.alpha:g} whose noise stays under {AUTO_NOISE_FRACTION:.0%} of the demonstrations' "
                 "action variance",
        "steps": f"diffusion policy gradient steps (default {DEMO_TRAIN.steps})",
        "epochs": "diffusion policy epochs instead of --pretrain-steps",
        "ensemble_size": f"PostBC bootstrap ensemble size K (default {DEMO_TRAIN.ensemble_size})",
        "hidden": "denoiser MLP widths (default %s)" % ",".join(map(str, DEMO_TRAIN.hidden))})
    p.add_argument("--mode", default="best_of_n", choices=ALGORITHMS,
                   help="finetuning algorithm: best_of_n (IQL picks among N policy samples, what the PostBC "
                        "paper ran on the real WidowX), dsrl, dsrl_na, or pretrained (no learning, the baseline)")
    p.add_argument("--episodes", type=int, default=60, help="finetuning episodes (per robot)")
    p.add_argument("--pretrained-eval-episodes", type=int, default=PRETRAINED_EVAL_EPISODES,
                   help="episodes evaluating the pretrained policy before finetuning: the baseline of the plot "
                        "and of the summary's improvement_over_pretrained (0: skip)")
    p.add_argument("--block", type=int, default=5, help="episodes per success block")
    p.add_argument("--robots", type=int, default=1, help="twin robots feeding the one learner")
    p.add_argument("--real-time-factor", type=float, default=1.0, help="twin speed vs wall clock")
    p.add_argument("--observation", default=DEFAULT_TWIN_OBSERVATION, choices=list(TWIN_OBSERVATIONS),
                   help="what demos, policy and finetuning observe: markers = joints + marker poses perceived in the "
                   "twin camera's frames (a real cell's observation); privileged = the twin's object / goal "
                   "positions (simulation-only studies)")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random %d-%d)" % DOMAIN_ID_RANGE)
    p.add_argument("--seed", type=int, default=0, help="seed of demos, pretraining and the twin")
    p.add_argument("--out", default="runs/demo", help="output directory")
    p.add_argument("--timeout", type=float, default=1500.0, help="give up finetuning after this many seconds")
    p.add_argument("--verbose", action="store_true", help="show every node's log lines")
    p.set_defaults(func=run)


def _collect(args, out) -> dict:
    from postbc_ros.data import DatasetWriter
    from postbc_ros.data.collect import collect_episodes, env_fps, features_from_env
    from postbc_ros.drivers.teleop import make_teleop_device
    from postbc_ros.sim import make_env

    env = make_env(args.robot, args.task, obs_mode=TWIN_OBSERVATIONS[args.observation], control="ee_delta",
                   seed=args.seed)
    device = make_teleop_device("scripted", env=env, seed=args.seed)
    writer = DatasetWriter(out, features_from_env(env), fps=env_fps(env), robot_type=args.robot)
    res = collect_episodes(env, device, writer, args.demos, args.task, seed=args.seed + 10_000,
                           keep_failures=False, progress=True)
    writer.close()
    env.close()
    return {"episodes": len(res), "modes": sorted({r.mode for r in res if r.mode})}


def _pretrain(args, dataset, out) -> str | None:
    """Pretrain on the recorded demos into `out` (what `postbc pretrain` runs); the error, if any."""
    import json
    import sys

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.learning.pipeline import PretrainError, noise_note, pretrain_dataset, run_summary

    set_cpu_threads()
    cfg = config_from_args(args, TrainConfig, DEMO_TRAIN_OPTIONS, base=DEMO_TRAIN, seed=args.seed)
    try:
        result = pretrain_dataset(dataset, out, cfg, log=print)
    except PretrainError as e:
        return str(e)
    print(json.dumps(run_summary(out, result)))
    note = noise_note(result)
    if note:
        print(f"postbc demo: {note}", file=sys.stderr)
    return None


def run(args) -> int:
    import json
    import os
    import random
    import signal
    import sys
    import time
    from pathlib import Path

    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from postbc_ros.graph import build_graph
    from postbc_ros.graph.supervisor import Supervisor

    from postbc_ros.cli import demo_report

    if args.episodes < 1 or args.block < 1 or args.demos < 1 or args.robots < 1:
        print("postbc demo: --episodes, --block, --demos and --robots must be >= 1", file=sys.stderr)
        return 2
    if args.pretrained_eval_episodes < 0:
        print("postbc demo: --pretrained-eval-episodes must be >= 0", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    if out.exists() and any(out.iterdir()):
        print(f"postbc demo: {out} is not empty; choose a new --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"[demo] 1/4 recording {args.demos} scripted demonstrations ({args.robot}/{args.task})", flush=True)
    demos = _collect(args, out / "demos")
    budget = f"{args.epochs} epochs" if args.epochs is not None else f"{args.steps} steps"
    print(f"[demo] 2/4 pretraining {args.method} ({budget})", flush=True)
    error = _pretrain(args, out / "demos", out / "policy")
    if error is not None:
        print(f"postbc demo: pretraining failed: {error}", file=sys.stderr)
        return 1
    pretrained = None
    if args.pretrained_eval_episodes:
        print(f"[demo] evaluating the pretrained policy ({args.pretrained_eval_episodes} episodes)", flush=True)
        pretrained = demo_report.evaluate_pretrained(out / "policy", args.robot, args.task,
                                                     args.pretrained_eval_episodes)
        print(f"  pretrained success {pretrained['success_rate']:.2f}", flush=True)
    t_pre = time.monotonic() - t0

    namespaces = [f"robot{i + 1}" for i in range(args.robots)]
    domain = args.domain_id if args.domain_id is not None else random.randint(*DOMAIN_ID_RANGE)
    graph = build_graph("finetune", {
        "robot": args.robot, "task": args.task, "sim": "true", "namespaces": ",".join(namespaces),
        "checkpoint": str(out / "policy"), "mode": args.mode, "demos": str(out / "demos"),
        "output_dir": str(out), "episodes": str(args.episodes), "real_time_factor": str(args.real_time_factor),
        "seed": str(args.seed), "domain_id": str(domain), "camera_rate": "0", "observation": args.observation})
    print(f"[demo] 3/4 launching the finetune graph ({len(graph.nodes)} processes, ROS_DOMAIN_ID={domain}, "
          f"loopback only)", flush=True)
    log_file = open(out / "graph.log", "w")

    class _Tee:
        def write(self, s):
            log_file.write(s)
            if args.verbose:
                sys.stdout.write(s)

        def flush(self):
            log_file.flush()

    sup = Supervisor(graph, out / "launch", out=_Tee())
    stop = {"flag": False}
    # Ctrl-C or a `kill`: stop finetuning and shut the graph down (its nodes must not outlive the demo)
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    sup.start()
    print(f"[demo] 4/4 finetuning {args.episodes} episodes x {args.robots} robot(s) with {args.mode}; "
          f"success per block of {args.block}:", flush=True)
    episodes: list[dict] = []
    printed = 0
    t_ft = time.monotonic()
    rc, stopped = 0, None
    try:
        while not stop["flag"]:
            records = {ns: demo_report.read_episode_log(out / f"episodes_{ns}.jsonl") for ns in namespaces}
            episodes = sorted((dict(r, robot=ns) for ns, log in records.items() for r in log
                               if r["event"] == "episode"), key=lambda e: e["t_end"])
            full = [b for b in demo_report.success_blocks(episodes, args.block) if b["episodes"] == args.block]
            for b in full[printed:]:
                print(f"  episodes {b['first_episode']:3d}-{b['last_episode']:3d}: success {b['success_rate']:.2f}   "
                      f"({time.monotonic() - t_ft:.0f} s)", flush=True)
            printed = len(full)  # full blocks printed so far
            if len(episodes) >= args.episodes * len(namespaces):
                break
            latched = demo_report.latched_arms(records)
            if latched:  # a safety latch: only an operator clears it (`postbc arm reset`), and the demo has none
                for ns, message in latched.items():
                    print(f"postbc demo: {ns}'s arm latched and refuses to start episode "
                          f"{len([e for e in episodes if e['robot'] == ns])}: {message}. The twin demo has no "
                          f"operator to clear it; stopping. The fault and what led to it are in {out / 'graph.log'}",
                          file=sys.stderr)
                stopped = "arm latched: " + "; ".join(f"{ns}: {m}" for ns, m in latched.items())
                rc = 1
                break
            sup.poll()  # a node that died is restarted or stops the graph, per its exit policy
            if sup.stop_reason is not None:
                print(f"postbc demo: the graph stopped ({sup.stop_reason}); see {out / 'graph.log'}", file=sys.stderr)
                stopped = f"graph stopped: {sup.stop_reason}"
                rc = 1
                stop["flag"] = True
            if time.monotonic() - t_ft > args.timeout:
                print(f"postbc demo: timed out after {args.timeout:.0f} s", file=sys.stderr)
                stopped = f"timed out after {args.timeout:.0f} s"
                rc = 1
                break
            time.sleep(POLL_S)
    finally:
        sup.shutdown()
        log_file.close()

    blocks = demo_report.success_blocks(episodes, args.block)
    baseline = None if pretrained is None else pretrained["success_rate"]
    metrics = None
    mf = out / "learner" / "learner.json"
    if mf.exists():
        metrics = json.loads(mf.read_text())
    summary = {
        "robot": args.robot, "task": args.task, "observation": args.observation, "method": args.method,
        "mode": args.mode, "robots": args.robots,
        "demos": demos, "pretrained_success": baseline, "pretrained_eval": pretrained,
        "episodes": len(episodes), "stopped_early": stopped or ("interrupted" if stop["flag"] else None),
        "blocks": blocks, **demo_report.rise(blocks, baseline),
        "success_rate": (sum(e["success"] for e in episodes) / len(episodes)) if episodes else None,
        "weights_versions": (metrics or {}).get("version", 0), "episode_log": [
            {k: e[k] for k in ("robot", "episode", "success", "reason", "duration")} for e in episodes],
        "seconds": {"collect_and_pretrain": round(t_pre, 1), "finetune": round(time.monotonic() - t_ft, 1),
                    "total": round(time.monotonic() - t0, 1)},
        "checkpoint": str(out / "policy"), "replay": str(out / "replay"), "graph_log": str(out / "graph.log"),
    }
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    if blocks:
        demo_report.plot(blocks, baseline, out / "success_per_block.png",
                         f"{args.robot}/{args.task}: {args.method} + {args.mode} on the twin (ROS 2 graph)")
    print(json.dumps({k: summary[k] for k in ("episodes", "pretrained_success", "success_rate",
                                              "last_blocks_mean", "improvement_over_pretrained",
                                              "weights_versions", "seconds")}))
    print(f"[demo] wrote {out / 'demo_summary.json'} and {out / 'success_per_block.png'}")
    if len(episodes) < args.episodes * len(namespaces):
        rc = rc or 1
    return rc
