"""Pretraining results against the number of demonstrations (`postbc bench pretrain-demos`).

Combines `postbc bench pretrain` result files that differ only in `--demos` into one curve per
variant: pretrained success, the paired difference to BC, the posterior's size (mean tr Σ) and the
policy's spread at the high- / low-disagreement states. This is how the method's contraction shows
on a real task: the posterior shrinks as demonstrations accumulate, and PostBC's cost in
pretrained success with it. The demo seeds of the pretrain bench are nested (10_000·(s+1)+k for
k < demos), so the larger datasets contain the smaller ones.

Results that differ in anything else (env, seeds, evaluation episodes, network, budgets, the
variant list's shared settings) are refused with the field named: the curve compares like with like.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from postbc_ros.benchmarks.output import save_png
from postbc_ros.learning.train_config import TrainConfig

# settings that must agree between the combined results: everything but `demos` and run-only knobs
_SAME_BENCH = ("env", "seeds", "eval_episodes", "coverage_states", "coverage_samples", "max_episode_steps")
# of the shared pretraining settings, every variant sets its own method, and the seed is the run's
_SAME_TRAIN = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("method", "seed", "device"))


def compared_settings(config: dict) -> dict[str, Any]:
    """The settings of a result's config that must agree, flat. Results written before the shared
    pretraining settings were nested under "train" hold them at the top level, the denoiser
    widths as "policy_hidden" (settings they did not record read as None)."""
    train = config.get("train")
    if train is None:
        train = {**config, "hidden": config.get("policy_hidden")}
    return {**{k: config.get(k) for k in _SAME_BENCH}, **{k: train.get(k) for k in _SAME_TRAIN}}


class ScalingError(ValueError):
    """The result files cannot form one curve (the message names the file and the field)."""


def load_results(paths: list[str | Path]) -> list[tuple[str, dict]]:
    out = []
    for p in paths:
        p = Path(p)
        try:
            r = json.loads(p.read_text())
        except FileNotFoundError:
            raise ScalingError(f"{p}: no such file (a `postbc bench pretrain --json` output)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ScalingError(f"{p}: not JSON ({e}); expected a `postbc bench pretrain --json` output") from None
        if not isinstance(r, dict) or r.get("benchmark") != "pretrain" or "variants" not in r or "config" not in r:
            raise ScalingError(f"{p}: not a `postbc bench pretrain` result (benchmark != 'pretrain')")
        out.append((str(p), r))
    return out


def combine_by_demos(results: list[tuple[str, dict]]) -> dict[str, Any]:
    """One curve per variant present in every result, ordered by the number of demonstrations."""
    if len(results) < 2:
        raise ScalingError(f"need at least 2 results with different --demos, got {len(results)}")
    results = sorted(results, key=lambda pr: pr[1]["config"]["demos"])
    (p0, r0) = results[0]
    demos = [r["config"]["demos"] for _, r in results]
    for (p, r), (q, s) in zip(results, results[1:]):
        if r["config"]["demos"] == s["config"]["demos"]:
            raise ScalingError(f"{p} and {q} both have demos = {r['config']['demos']}; one result per count")
    same = compared_settings(r0["config"])
    for p, r in results[1:]:
        for k, v in compared_settings(r["config"]).items():
            if v != same[k]:
                raise ScalingError(f"{p}: {k} = {v!r} but {p0} has {same[k]!r}; "
                                   f"only --demos may differ between the combined results")
    variants = [v for v in r0["variants"] if all(v in r["variants"] for _, r in results)]
    if not variants:
        raise ScalingError("no variant is present in every result")
    curves: dict[str, Any] = {}
    for v in variants:
        rows = [r["variants"][v] for _, r in results]
        cov = [row.get("coverage") or {} for row in rows]
        curves[v] = {
            "success_mean": [row["success"]["mean"] for row in rows],
            "success_ci95": [[row["success"]["ci95_low"], row["success"]["ci95_high"]] for row in rows],
            "success_per_seed": [row["success_per_seed"] for row in rows],
            "minus_bc": [({k: row["minus_bc"][k] for k in ("mean", "ci95_low", "ci95_high")}
                          if "minus_bc" in row else None) for row in rows],
            "trace_sigma_mean": [row.get("trace_sigma_mean") for row in rows],
            "posterior_noise_fraction": [row.get("posterior_noise_fraction") for row in rows],
            "spread_high": [c.get("spread_high") for c in cov],
            "spread_low": [c.get("spread_low") for c in cov],
            "pearson": [c.get("pearson") for c in cov],
        }
        if all("ci95_wilson" in row["success"] for row in rows):  # results written before it lack it
            curves[v]["success_ci95_wilson"] = [row["success"]["ci95_wilson"] for row in rows]
            curves[v]["minus_bc_min_detectable_difference"] = [
                row["minus_bc"].get("min_detectable_difference") if "minus_bc" in row else None for row in rows]
    return {"benchmark": "pretrain_by_demos", "env": r0["config"]["env"], "seeds": r0["config"]["seeds"],
            "eval_episodes": r0["config"]["eval_episodes"], "demos": demos,
            "sources": [p for p, _ in results], "variants": curves}


def plot_by_demos(summary: dict, path: str | Path) -> Path:
    """Success, PostBC − BC (paired 95 % CI, the ±5-point band) and mean tr Σ against demos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    d = np.asarray(summary["demos"], float)
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4.2))
    for i, (name, c) in enumerate(summary["variants"].items()):
        col = f"C{i}"
        m = np.asarray(c["success_mean"])
        ci = np.asarray(c["success_ci95"])
        a1.errorbar(d + 0.15 * i, m, yerr=[m - ci[:, 0], ci[:, 1] - m], marker="o", capsize=3, color=col, label=name)
        if "success_ci95_wilson" in c:  # the pooled-episode interval, thin, beside the seeds' one
            w = np.asarray(c["success_ci95_wilson"])
            a1.errorbar(d + 0.15 * i + 0.05, m, yerr=[m - w[:, 0], w[:, 1] - m], fmt="none", capsize=2, lw=0.7,
                        color=col, alpha=0.6)
        rows = [(x, r) for x, r in zip(d, c["minus_bc"]) if r is not None]
        if rows:
            x = np.array([x for x, _ in rows]) + 0.15 * i
            mm = np.array([r["mean"] for _, r in rows])
            a2.errorbar(x, mm, yerr=[mm - [r["ci95_low"] for _, r in rows], [r["ci95_high"] for _, r in rows] - mm],
                        marker="o", capsize=3, color=col, label=name)
        tr = [(x, t) for x, t in zip(d, c["trace_sigma_mean"]) if t is not None]
        if tr:
            a3.plot([x for x, _ in tr], [t for _, t in tr], marker="o", color=col, label=name)
    title = f"{summary['env']} · {summary['seeds']} seeds × {summary['eval_episodes']} episodes"
    a1.set(xlabel="demonstrations", ylabel="pretrained success (95 % t-CI over seeds; thin: Wilson)", ylim=(0, 1),
           title=title)
    a2.axhspan(-0.05, 0.05, color="grey", alpha=0.15, label="within 5 points")
    a2.axhline(0, color="k", lw=0.8)
    a2.set(xlabel="demonstrations", ylabel="success − BC (paired, 95 % CI)", title="cost of the posterior noise")
    a3.set(xlabel="demonstrations", ylabel="mean tr Σ(s) (normalised chunk)", title="posterior size")
    a3.set_ylim(bottom=0)
    for a in (a1, a2, a3):
        a.set_xticks(d)
        a.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, path)
