"""Observation-kinds benchmark (issue 11): BC and PostBC pretrained success when the policy observes
(a) the twin's privileged state, (b) proprioception + marker poses, (c) proprioception + images.

The grid is env × obs mode × demos × seed; one *cell* is one seed of one (env, obs mode, demos)
and runs `benchmarks.pretrain.run_seed` — the pretrain benchmark's own recording, training and
evaluation path, with the same disjoint demo / evaluation seeds — for every variant, and is
written to its own JSON file so an interrupted grid resumes where it stopped (`run_grid` skips
cells whose file exists). `combine` reads the cell files back into one result: per (env, obs
mode, demos, variant) the success per seed, its mean, the 95 % t-interval over seeds and the
Wilson interval over the pooled episodes (benchmarks.stats), and the paired difference to BC.
Cells of an older budget never mix with newer ones: `combine` refuses cells whose budget differs.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, run_seed
from postbc_ros.benchmarks.stats import INTERVALS, difference_stats, success_stats
from postbc_ros.learning.train_config import POLICY_STEPS, STATE_ENSEMBLE_SIZE, TrainConfig

#: the issue's observation kinds, in plotting order, with the label the figure and table use
OBS_KINDS = {"state": "privileged state", "markers": "proprio + markers", "image": "proprio + image"}
#: the budget keys every cell records and `combine` requires to agree across cells
BUDGET_KEYS = ("steps", "ensemble_steps", "ensemble_size", "eval_episodes", "variants", "alpha", "horizon",
               "n_action_steps", "batch_size", "hidden", "coverage_states", "coverage_samples")
CELL_BENCHMARK = "obs_kinds_cell"


@dataclasses.dataclass(frozen=True)
class Cell:
    env: str
    obs_mode: str
    demos: int
    seed: int

    @property
    def name(self) -> str:
        env = self.env.split("/")[-1].replace("-", "_")
        return f"obs_kinds_{env}_{self.obs_mode}_{self.demos}demos_seed{self.seed}"


def grid(envs: Iterable[str], obs_modes: Iterable[str], demos: Iterable[int], seeds: int) -> list[Cell]:
    """Seed-major order: every (env, obs mode, demos) gets seed 0 before any gets seed 1, so a grid
    cut short still covers every condition."""
    envs, obs_modes, demos = list(envs), list(obs_modes), list(demos)
    return [Cell(e, m, d, s) for s in range(seeds) for e in envs for d in demos for m in obs_modes]


def bench_config(cell: Cell, budget: dict[str, Any]) -> PretrainBenchConfig:
    """The pretrain benchmark's config for one cell under `budget` (BUDGET_KEYS)."""
    train = dataclasses.replace(TrainConfig(), steps=budget["steps"], ensemble_steps=budget["ensemble_steps"],
                                ensemble_size=budget["ensemble_size"], alpha=budget["alpha"],
                                horizon=budget["horizon"], n_action_steps=budget["n_action_steps"],
                                batch_size=budget["batch_size"], hidden=list(budget["hidden"]), device="cpu")
    cfg = PretrainBenchConfig(env=cell.env, demos=cell.demos, seeds=1, eval_episodes=budget["eval_episodes"],
                              variants=list(budget["variants"]), coverage_states=budget["coverage_states"],
                              coverage_samples=budget["coverage_samples"], obs_mode=cell.obs_mode, train=train,
                              progress=False)
    cfg.validate()
    return cfg


def run_cell(cell: Cell, budget: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Record, pretrain every variant and evaluate one cell -> its JSON record."""
    import torch

    cfg = bench_config(cell, budget)
    t0 = time.time()
    variants = run_seed(cfg, cell.seed, torch.device("cpu"), log)
    return {"benchmark": CELL_BENCHMARK, **dataclasses.asdict(cell), "budget": dict(budget),
            "variants": variants, "wall_seconds": time.time() - t0, "device": "cpu",
            "torch_threads": torch.get_num_threads()}


def run_grid(cells: list[Cell], budget: dict[str, Any], out_dir: Path, stop_at: float | None = None,
             log: Callable[[str], None] = print) -> list[Path]:
    """Run the cells whose JSON is not in `out_dir` yet; start no cell after the epoch time
    `stop_at`. Returns the files written."""
    written = []
    for cell in cells:
        path = out_dir / f"{cell.name}.json"
        if path.exists():
            log(f"skip {cell.name} (exists)")
            continue
        if stop_at is not None and time.time() >= stop_at:
            log(f"stop: deadline reached before {cell.name}")
            break
        log(f"run {cell.name}")
        rec = run_cell(cell, budget, log)
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rec, indent=1))
        tmp.replace(path)  # a cell file exists only once complete
        log(f"wrote {path} ({rec['wall_seconds']:.0f} s)")
        written.append(path)
    return written


def load_cells(paths: Iterable[Path]) -> list[dict[str, Any]]:
    cells = []
    for p in paths:
        rec = json.loads(Path(p).read_text())
        if rec.get("benchmark") != CELL_BENCHMARK:
            raise ValueError(f"{p}: not an obs-kinds cell (benchmark={rec.get('benchmark')!r}); "
                             f"pass only {CELL_BENCHMARK} files written by bench/obs_kinds.py")
        rec["_path"] = str(p)
        cells.append(rec)
    return cells


def combine(cells: list[dict[str, Any]], expected_seeds: int) -> dict[str, Any]:
    """Cell records -> {budget, conditions: [...]}: one condition per (env, obs mode, demos) with,
    per variant, success stats over the seeds present and the paired difference to BC."""
    if not cells:
        raise ValueError("no obs-kinds cells to combine: run bench/obs_kinds.py run first")
    budget = cells[0]["budget"]
    for c in cells[1:]:
        diff = sorted(k for k in set(budget) | set(c["budget"]) if budget.get(k) != c["budget"].get(k))
        if diff:
            raise ValueError(f"{c.get('_path', 'a cell')}: budget differs from {cells[0].get('_path', 'the first')} "
                             f"in {diff}; combine cells of one budget only (move the others out of the folder)")
    groups: dict[tuple, dict[int, dict]] = {}
    for c in cells:
        seeds = groups.setdefault((c["env"], c["obs_mode"], c["demos"]), {})
        if c["seed"] in seeds:
            raise ValueError(f"{c.get('_path')}: seed {c['seed']} of {c['env']} {c['obs_mode']} {c['demos']} demos "
                             "appears twice")
        seeds[c["seed"]] = c
    n = budget["eval_episodes"]
    mode_order = {m: i for i, m in enumerate(OBS_KINDS)}
    conditions = []
    for (env, mode, demos) in sorted(groups, key=lambda k: (k[0], k[2], mode_order.get(k[1], len(mode_order)))):
        by_seed = groups[(env, mode, demos)]
        seeds = sorted(by_seed)
        variants: dict[str, Any] = {}
        for spec in budget["variants"]:
            succ = [by_seed[s]["variants"][spec]["success"] for s in seeds]
            v: dict[str, Any] = {"success": success_stats(succ, n),
                                 "train_eval_seconds_mean": float(np.mean(
                                     [by_seed[s]["variants"][spec]["seconds"] for s in seeds]))}
            if spec != "bc" and "bc" in budget["variants"]:
                bc = [by_seed[s]["variants"]["bc"]["success"] for s in seeds]
                v["minus_bc"] = difference_stats(succ, bc, n, n)
            variants[spec] = v
        conditions.append({"env": env, "obs_mode": mode, "obs_kind": OBS_KINDS.get(mode, mode), "demos": demos,
                           "seeds": seeds, "complete": len(seeds) >= expected_seeds,
                           "cell_wall_seconds_mean": float(np.mean([by_seed[s]["wall_seconds"] for s in seeds])),
                           "variants": variants})
    return {"benchmark": "obs_kinds", "budget": budget, "expected_seeds": expected_seeds, "intervals": INTERVALS,
            "cells": len(cells), "cell_wall_seconds_total": float(sum(c["wall_seconds"] for c in cells)),
            "conditions": conditions}


def table_rows(result: dict[str, Any]) -> list[str]:
    """Markdown table: one row per condition × variant."""
    rows = ["| env | obs kind | demos | method | seeds | success (mean) | 95 % t-CI seeds | 95 % Wilson | per seed "
            "| − BC |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in result["conditions"]:
        for spec, v in c["variants"].items():
            s = v["success"]
            t = "–" if s["ci95_seeds"] is None else f"[{s['ci95_seeds'][0]:.2f}, {s['ci95_seeds'][1]:.2f}]"
            w = f"[{s['ci95_wilson'][0]:.2f}, {s['ci95_wilson'][1]:.2f}]"
            d = "" if "minus_bc" not in v else f"{v['minus_bc']['mean']:+.2f}"
            per = ", ".join(f"{x:.2f}" for x in s["per_seed"])
            rows.append(f"| {c['env']} | {c['obs_kind']} | {c['demos']} | {spec} | {len(c['seeds'])} "
                        f"| {s['mean']:.2f} | {t} | {w} | {per} | {d} |")
    return rows


def plot_obs_kinds(result: dict[str, Any], path: str | Path) -> Path:
    """One panel per env: grouped bars (obs kind × demos) per method, mean success with the
    Wilson interval (pooled episodes) as error bars and the seeds as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from postbc_ros.benchmarks.output import save_png

    envs = sorted({c["env"] for c in result["conditions"]})
    specs = list(result["budget"]["variants"])
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / max(1, len(specs))
    for ax, env in zip(axes[0], envs):
        conds = [c for c in result["conditions"] if c["env"] == env]
        x = np.arange(len(conds))
        for j, spec in enumerate(specs):
            xs = x - 0.4 + width * (j + 0.5)
            m = np.array([c["variants"][spec]["success"]["mean"] for c in conds])
            w = np.array([c["variants"][spec]["success"]["ci95_wilson"] for c in conds])
            ax.bar(xs, m, width, color=colors[j % len(colors)], alpha=0.7, label=spec)
            ax.errorbar(xs, m, yerr=[m - w[:, 0], w[:, 1] - m], fmt="none", ecolor="k", capsize=3)
            for xi, c in zip(xs, conds):
                ps = c["variants"][spec]["success"]["per_seed"]
                ax.scatter(np.full(len(ps), xi), ps, color="k", s=8, zorder=3)
        labels = [f"{c['obs_kind']}\n{c['demos']} demos · {len(c['seeds'])} seed(s)" for c in conds]
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"pretrained success ({result['budget']['eval_episodes']} episodes / seed)")
        ax.set_title(env, fontsize=9)
        ax.legend(fontsize=7, title="error bars: 95 % Wilson, pooled episodes", title_fontsize=6)
    b = result["budget"]
    fig.suptitle(f"policy {b['steps']} steps · ensemble {b['ensemble_steps']} steps × K={b['ensemble_size']} · CPU",
                 fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def missing_cells(expected: list[Cell], cells: list[dict[str, Any]]) -> list[Cell]:
    """The expected cells that have no record among `cells`."""
    have = {(c["env"], c["obs_mode"], c["demos"], c["seed"]) for c in cells}
    return [c for c in expected if (c.env, c.obs_mode, c.demos, c.seed) not in have]


def _cell_seconds(result: dict[str, Any]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for c in result["conditions"]:
        out.setdefault(c["obs_mode"], []).append(c["cell_wall_seconds_mean"])
    return out


def markdown_report(result: dict[str, Any], missing: list[Cell]) -> str:
    """bench/results/obs_kinds.md: command, budget, wall time, the table, what did not run and
    (from the image-cost measurement, when present) what it would cost."""
    b = result["budget"]
    lines = ["# Observation kinds: pretrained success (issue 11)", "",
             f"Command: `{result.get('command', 'bench/obs_kinds.py run && bench/obs_kinds.py summary')}`", "",
             f"Budget (identical for every obs kind and cell): policy {b['steps']} gradient steps, PostBC "
             f"ensemble {b['ensemble_steps']} steps × K={b['ensemble_size']} members, batch {b['batch_size']}, "
             f"MLP {b['hidden']}, chunk H={b['horizon']} / k={b['n_action_steps']}, variants {b['variants']}, "
             f"{b['eval_episodes']} evaluation episodes per variant and seed.", "",
             f"Reduced budget: {b['steps'] / POLICY_STEPS:.0%} of `postbc pretrain`'s {POLICY_STEPS} policy steps"
             + (f", K={b['ensemble_size']} instead of the state default K={STATE_ENSEMBLE_SIZE}"
                if b["ensemble_size"] != STATE_ENSEMBLE_SIZE else "")
             + "; compare obs kinds and methods within this table, not with full-budget results.", "",
             f"Cells: {result['cells']} ({result['cell_wall_seconds_total'] / 60:.0f} min of cell wall time, "
             f"CPU, nice 19 on a shared 2-core machine). Seeds expected per condition: {result['expected_seeds']}.",
             "", "Intervals: " + "; ".join(f"{k}: {v}" for k, v in result["intervals"].items()), "",
             *table_rows(result), ""]
    lines += ["Mean wall time of one cell (record demos, train both variants, evaluate), per obs kind: "
              + "; ".join(f"{OBS_KINDS.get(m, m)} {np.mean(ts):.0f} s" for m, ts in _cell_seconds(result).items()), ""]
    markers = result.get("markers_twin")
    if isinstance(markers, dict):
        lines += ["Marker pose error on twin-rendered frames vs ground truth and perception time per frame "
                  "(bench/results/markers_twin.json, bench/bench_markers.py):", "",
                  "| robot | task | frames | pos error mean [mm] | p95 [mm] | perception [ms/frame] | "
                  "visible rate |", "|---|---|---|---|---|---|---|"]
        for c in markers["cases"]:
            vis = ", ".join(f"{k} {v:.2f}" for k, v in c["visible_rate"].items())
            lines.append(f"| {c['robot']} | {c['task']} | {c['frames']} | {c['pos_error_mm']['mean']:.2f} "
                         f"| {c['pos_error_mm']['p95']:.2f} | {c['perception_ms_per_frame']:.1f} | {vis} |")
        lines.append("")
    if missing:
        lines += ["## Not run", ""]
        by_mode: dict[str, list[Cell]] = {}
        for c in missing:
            by_mode.setdefault(c.obs_mode, []).append(c)
        for mode, cs in by_mode.items():
            lines.append(f"- {OBS_KINDS.get(mode, mode)}: {len(cs)} cells: "
                         + ", ".join(f"{c.env.split('/')[-1]} {c.demos} demos seed {c.seed}" for c in cs))
        cost = result.get("image_cost")
        if cost and any(c.obs_mode == "image" for c in missing):
            lines += ["", "Measured cost of one image cell at this budget (bench/results/obs_kinds_image_cost.json):", ""]
            for env, m in cost["per_env"].items():
                est = next(v for k, v in m.items() if k.startswith("estimated_cell_seconds"))
                lines.append(f"- {env}: {m['policy_seconds_per_step']:.2f} s per policy step, "
                             f"{m['ensemble_seconds_per_step']:.2f} s per ensemble step, "
                             f"{m['eval_seconds_per_episode']:.2f} s per evaluation episode -> "
                             f"~{est / 3600:.1f} h per cell")
            n_img = sum(c.obs_mode == "image" for c in missing)
            lines.append(f"\nThe {n_img} image cells need the CUDA machine (`bench/obs_kinds.py run --modes image` "
                         "resumes into the same cell folder).")
    return "\n".join(lines) + "\n"
