#!/usr/bin/env python3
"""Issue 11's observation-kinds benchmark: BC and PostBC pretrained success on WidowX pick-and-place
and UR5e push, 10 and 20 demos, 3 seeds, with (a) privileged state, (b) proprioception + marker
poses, (c) proprioception + images — every mode at the same gradient budget.

`run` runs the grid cell by cell (one seed of one env × obs mode × demos per JSON file under
bench/results/obs_kinds_cells/; cells whose file exists are skipped, so a run resumes), in
seed-major order, starting no cell after --stop-after-min minutes. `summary` combines the cell
files into bench/results/obs_kinds.json / .png / .md. `image-cost` measures what one image cell
costs on this machine (seconds per gradient step, per ensemble step and per evaluation episode),
for sizing the image arm. Marker pose error and perception time per frame: bench/bench_markers.py
-> bench/results/markers_twin.json.

    OMP_NUM_THREADS=1 MUJOCO_GL=egl nice -n 19 python bench/obs_kinds.py run --modes state markers
    python bench/obs_kinds.py summary
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
CELLS = RESULTS / "obs_kinds_cells"
ENVS = ("postbc/WidowXPickPlace-v0", "postbc/UR5ePush-v0")
DEMOS = (10, 20)
SEEDS = 3
# The budget every obs mode shares (CPU session, 2 shared cores). Policy steps: 3000, a tenth of
# `postbc pretrain`'s 30k default — what fits 24 state/markers cells in ~90 min at the measured
# ~11 ms per step; ensemble: the default 600 steps but K=10 members (the library's image default)
# for every mode, since K=100 measured 0.39 s per ensemble step here (~4 min per cell).
# 30 evaluation episodes per variant and seed: marker evaluation renders and detects every frame
# (~2 s per episode measured).
BUDGET = {"steps": 3000, "ensemble_steps": 600, "ensemble_size": 10, "eval_episodes": 30,
          "variants": ["bc", "postbc:alpha=auto"], "alpha": 1.0, "horizon": 4, "n_action_steps": 4,
          "batch_size": 256, "hidden": [256, 256, 256], "coverage_states": 100, "coverage_samples": 16}
# image-cost measurement: steps timed per phase (enough to amortise the first-step set-up)
COST_POLICY_STEPS = 60
COST_ENSEMBLE_STEPS = 5
COST_EVAL_EPISODES = 2


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def cmd_run(args) -> None:
    import torch

    from postbc_ros.benchmarks.obs_kinds import grid, run_grid

    torch.set_num_threads(1)
    stop_at = None if args.stop_after_min is None else time.time() + 60 * args.stop_after_min
    cells = grid(args.envs, args.modes, args.demos, args.seeds)
    run_grid(cells, BUDGET, Path(args.cells), stop_at=stop_at, log=log)


def cmd_summary(args) -> None:
    from postbc_ros.benchmarks.obs_kinds import (combine, grid, load_cells, markdown_report, missing_cells,
                                                 plot_obs_kinds, table_rows)
    from postbc_ros.benchmarks.output import write_result

    cells = load_cells(sorted(Path(args.cells).glob("obs_kinds_*.json")))
    result = combine(cells, args.seeds)
    result["machine"] = {"cpu": platform.machine(), "cores": os.cpu_count(),
                         "note": "CPU only; shared with other jobs, every process at nice 19"}
    result["command"] = "OMP_NUM_THREADS=1 MUJOCO_GL=egl nice -n 19 python bench/obs_kinds.py run " \
                        "--modes state markers && python bench/obs_kinds.py summary"
    markers_path = RESULTS / "markers_twin.json"  # marker pose error / perception time (bench_markers.py)
    result["markers_twin"] = json.loads(markers_path.read_text()) if markers_path.exists() else None
    cost_path = RESULTS / "obs_kinds_image_cost.json"
    if cost_path.exists():
        result["image_cost"] = json.loads(cost_path.read_text())
    out = Path(args.out)
    plot_obs_kinds(result, out.with_suffix(".png"))
    missing = missing_cells(grid(ENVS, ["state", "markers", "image"], DEMOS, args.seeds), cells)
    result["not_run"] = [c.name for c in missing]
    write_result(result, out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown_report(result, missing))
    print("\n".join(table_rows(result)))
    print(f"wrote {out.with_suffix('.json')} and .png ({len(cells)} cells)")


def cmd_image_cost(args) -> None:
    """Time one image cell's phases on a small recording (the costs scale linearly in steps and
    episodes): seconds per policy step, per ensemble step and per evaluation episode."""
    import dataclasses
    import tempfile

    import torch

    from postbc_ros.benchmarks.demos import demo_seed, eval_seed, make_bench_env, record_demos
    from postbc_ros.benchmarks.obs_kinds import Cell, bench_config
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.evaluate import evaluate_policy
    from postbc_ros.learning.training_data import load_training_data

    torch.set_num_threads(1)
    out = {"budget": BUDGET, "per_env": {}}
    for env_id in args.envs:
        cfg = bench_config(Cell(env_id, "image", args.demos, 0), BUDGET)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            root = record_demos(cfg, 0, Path(tmp) / "demos")
            record_s = time.time() - t0
            data = load_training_data(root, cfg.train.obs_history, cfg.train.horizon)
            bc = dataclasses.replace(cfg.train_config("bc", 0, "cpu"), steps=COST_POLICY_STEPS)
            t0 = time.time()
            res = pretrain(data, bc, progress=False)
            step_s = (time.time() - t0) / COST_POLICY_STEPS
            pb = dataclasses.replace(cfg.train_config("postbc:alpha=auto", 0, "cpu"), steps=1,
                                     ensemble_steps=COST_ENSEMBLE_STEPS)
            t0 = time.time()
            pretrain(data, pb, progress=False)
            ens_s = (time.time() - t0 - step_s) / COST_ENSEMBLE_STEPS
            env = make_bench_env(cfg, eval_seed(0))
            t0 = time.time()
            evaluate_policy(res.ema.model.eval(), env, COST_EVAL_EPISODES, seed=eval_seed(0),
                            device=torch.device("cpu"), progress=False)
            ep_s = (time.time() - t0) / COST_EVAL_EPISODES
            env.close()
        n_var = len(BUDGET["variants"])
        cell_s = (record_s * args.full_demos / args.demos + n_var * BUDGET["steps"] * step_s
                  + BUDGET["ensemble_steps"] * ens_s + n_var * BUDGET["eval_episodes"] * ep_s)
        out["per_env"][env_id] = {"demo_seed": demo_seed(0), "demos_recorded": args.demos,
                                  "record_seconds_per_demo": record_s / args.demos,
                                  "policy_seconds_per_step": step_s, "ensemble_seconds_per_step": ens_s,
                                  "eval_seconds_per_episode": ep_s,
                                  f"estimated_cell_seconds_{args.full_demos}demos": cell_s}
        log(f"{env_id}: {json.dumps(out['per_env'][env_id])}")
    out["estimate"] = ("cell = record + variants·steps·policy_step + ensemble_steps·ensemble_step + "
                       "variants·eval_episodes·episode, at BUDGET")
    out["machine"] = {"cpu": platform.machine(), "cores": os.cpu_count(), "torch_threads": 1,
                      "note": "CPU only, shared with other jobs, nice 19"}
    (RESULTS / "obs_kinds_image_cost.json").write_text(json.dumps(out, indent=1))
    log(f"wrote {RESULTS / 'obs_kinds_image_cost.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the grid's missing cells")
    r.add_argument("--envs", nargs="+", default=list(ENVS))
    r.add_argument("--modes", nargs="+", default=["state", "markers", "image"], choices=["state", "markers", "image"])
    r.add_argument("--demos", nargs="+", type=int, default=list(DEMOS))
    r.add_argument("--seeds", type=int, default=SEEDS)
    r.add_argument("--cells", default=str(CELLS))
    r.add_argument("--stop-after-min", type=float, default=None, help="start no cell after this many minutes")
    s = sub.add_parser("summary", help="combine the cell files into obs_kinds.json/.png")
    s.add_argument("--cells", default=str(CELLS))
    s.add_argument("--seeds", type=int, default=SEEDS, help="seeds a complete condition has")
    s.add_argument("--out", default=str(RESULTS / "obs_kinds.json"))
    c = sub.add_parser("image-cost", help="measure one image cell's cost per step / episode")
    c.add_argument("--envs", nargs="+", default=list(ENVS))
    c.add_argument("--demos", type=int, default=2, help="demos recorded for the measurement")
    c.add_argument("--full-demos", type=int, default=10, help="demos of the cell the estimate is for")
    args = ap.parse_args()
    {"run": cmd_run, "summary": cmd_summary, "image-cost": cmd_image_cost}[args.cmd](args)


if __name__ == "__main__":
    main()
