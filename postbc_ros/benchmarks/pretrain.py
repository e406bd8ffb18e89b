"""Pretraining benchmark (`postbc bench pretrain`): BC / σ-BC / PostBC variants on the same demos,
no finetuning.

Per seed, record `demos` demonstrations (`benchmarks.demos`: the learning benchmark's recording
path and disjoint seeds), pretrain every variant with the same network and budget, evaluate each
for `eval_episodes` episodes, and measure the coverage diagnostic (`postbc coverage`) at the
demonstration states.

A *variant* is a method with optional overrides, e.g. `bc`, `postbc`, `postbc:alpha=0.25`,
`postbc:alpha=auto`, `postbc:posterior_mix=0.5`, `postbc:bootstrap=state_action,covariance=diag`,
`bc:state_exclude=none` (every state entry; `q_*|ee_z`: patterns joined by '|'),
`postbc:alpha=auto,posterior_exclude=gripper` (no posterior noise on the gripper), `bc:train_seed=1000` (seed
s's demonstrations and evaluation episodes, the training draw of seed s + 1000: initialisation, minibatches,
diffusion noise; how far a result moves with the training randomness alone). PostBC variants with the
same bootstrap and state entries share one ensemble per seed (α and the covariance kind only
change how Σ is used).

Where the demonstrations disagree is read from one reference ensemble per seed — the first
PostBC variant's — so every variant (BC included) is scored against the same tr Σ(s).

Output: per variant, success per seed / mean / the 95 % t-interval over seeds (`ci95_seeds`) and
the Wilson interval over all evaluation episodes (`ci95_wilson`; benchmarks.stats, `intervals` in
the JSON says which is which), the paired difference to BC (mean, t-interval over seeds, Newcombe
interval of the pooled rates, `min_detectable_difference`), tr Σ of its posterior, and the
coverage numbers; `headline`: whether the run has the seeds and episodes a headline needs; plus a PNG.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from postbc_ros.benchmarks.demos import eval_seed, make_bench_env, seed_demos, seed_ranges
from postbc_ros.benchmarks.output import save_png
from postbc_ros.benchmarks.stats import INTERVALS, difference_stats, headline_check, mean_ci95, success_stats
from postbc_ros.core.params import param
from postbc_ros.learning.train_config import METHODS, TrainConfig

def _float_or_auto(value: str) -> float | str:
    return value if value == "auto" else float(value)


def _patterns(value: str) -> list[str] | None:
    """state_exclude in a variant: patterns joined by '|' ('q_*|ee_z'), 'none' (every entry) or
    'default' (TrainConfig's rule)."""
    if value == "default":
        return None
    return [] if value in ("", "none") else value.split("|")


_float_or_auto.__name__ = "float or 'auto'"  # named in parse_variant's errors
_patterns.__name__ = "'|'-joined patterns, none or default"
VARIANT_KEYS = {"alpha": _float_or_auto, "sigma": float, "bootstrap": str, "covariance": str, "posterior_mix": float,
                "state_exclude": _patterns, "posterior_exclude": _patterns, "train_seed": int}


def parse_overrides(spec: str, rest: str, keys: dict[str, Callable[[str], Any]], what: str = "variant") -> dict[str, Any]:
    """'k1=v1,k2=v2' (the part of `spec` after its name) -> {k1: keys[k1](v1), ...}; ValueError naming
    the item, the allowed keys or the expected type."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in keys:
            raise ValueError(f"{what} {spec!r}: {item!r} is not KEY=VALUE with KEY in {sorted(keys)}")
        try:
            overrides[key] = keys[key](value)
        except ValueError:
            raise ValueError(f"{what} {spec!r}: {key}={value!r} is not a {keys[key].__name__}") from None
    return overrides


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """'postbc:alpha=0.25,bootstrap=state_action' -> ('postbc', {'alpha': 0.25, 'bootstrap': ...})."""
    method, _, rest = spec.strip().partition(":")
    if method not in METHODS:
        raise ValueError(f"variant {spec!r}: method {method!r} is not one of {METHODS}")
    return method, parse_overrides(spec, rest, VARIANT_KEYS)


#: the pretraining settings `postbc bench pretrain` exposes (the rest: TrainConfig's defaults)
TRAIN_OPTIONS = ("steps", "epochs", "ensemble_steps", "ensemble_epochs", "ensemble_size", "alpha", "alpha_rule",
                 "posterior_mix", "sigma", "bootstrap", "covariance", "hidden", "horizon", "n_action_steps",
                 "obs_history", "state_exclude", "posterior_exclude", "batch_size", "device")


@dataclass
class PretrainBenchConfig:
    env: str = param("postbc/WidowXPickPlace-v0", "postbc/<Robot><Task>-v0 or metaworld/<task>-v3")
    demos: int = param(10, "demonstrations recorded per seed")
    seeds: int = param(5, "independent seeds (demos, pretraining, evaluation) (a headline: >= 5)")
    eval_episodes: int = param(100, "evaluation episodes per variant and seed (a headline: >= 100)")
    variants: list[str] = param(["bc", "sigma_bc", "postbc", "postbc:alpha=0.25", "postbc:bootstrap=state_action"],
                                "variants METHOD[:KEY=VALUE,...]")
    coverage_states: int = param(400, "demonstration states for the coverage numbers")
    coverage_samples: int = param(32, "policy samples per state for the coverage numbers")
    max_episode_steps: int | None = param(None, "Meta-World episode cap (<= 500)")
    obs_mode: str = param("state", "what the policy observes, in the demos and the evaluation: state (privileged, "
                          "simulation only), markers (proprioception + marker poses from the rendered camera), image "
                          "(proprioception + the scene camera), image_wrist", choices=("state", "markers", "image",
                                                                                       "image_wrist"))
    # the settings every variant shares = `postbc pretrain`'s defaults; a variant overrides its keys
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    progress: bool = True

    def validate(self) -> None:
        for name in ("demos", "seeds", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if self.train.ensemble_epochs is not None and self.train.ensemble_epochs < 1:
            raise ValueError("--ensemble-epochs must be >= 1")
        if not self.variants:
            raise ValueError("--variants: give at least one variant (e.g. bc postbc)")
        names = [v.strip() for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"--variants has duplicates: {names}")
        for v in names:
            self.train_config(v, 0, "cpu")  # unknown keys or values fail here, before any demo is recorded

    def train_config(self, spec: str, seed: int, device: str) -> TrainConfig:
        """The shared settings with `spec`'s method and overrides, for one seed."""
        method, over = parse_variant(spec)
        seed += over.pop("train_seed", 0)  # the training draw only: demos and evaluation keep the bench seed
        tcfg = dataclasses.replace(self.train, method=method, seed=seed, device=device, **over)
        tcfg.validate()
        return tcfg


def _coverage(policy, ensemble, data, cfg: PretrainBenchConfig, seed: int, device) -> dict[str, float | None]:
    from postbc_ros.learning.coverage import coverage_report

    rep = coverage_report(policy, ensemble, data, n_samples=cfg.coverage_samples, max_states=cfg.coverage_states,
                          seed=seed, device=device, progress=False)
    return {"pearson": rep["correlation"]["pearson"], "spearman": rep["correlation"]["spearman"],
            "spread_mean": rep["policy_spread"]["mean"], "spread_high": rep["spread_high_disagreement"],
            "spread_low": rep["spread_low_disagreement"], "spread_ratio": rep["spread_ratio_high_over_low"],
            "reference_trace_sigma_mean": rep["trace_sigma"]["mean"]}


def run_seed(cfg: PretrainBenchConfig, seed: int, device, log: Callable[[str], None], bar=None) -> dict[str, dict]:
    """All variants on one seed's demonstrations -> {variant: per-seed record}."""
    import torch

    from postbc_ros.learning import pretrain
    from postbc_ros.learning.evaluate import evaluate_policy

    out: dict[str, dict] = {}
    with seed_demos(cfg, seed) as (_root, data):
        ensembles: dict[Any, Any] = {}  # (bootstrap, state_exclude) -> trained ensemble (shared by α / covariance variants)
        trained = []
        for spec in cfg.variants:
            tcfg = cfg.train_config(spec, seed, str(device))
            torch.manual_seed(seed)
            t0 = time.time()
            key = (tcfg.bootstrap, None if tcfg.state_exclude is None else tuple(tcfg.state_exclude))
            res = pretrain(data, tcfg, progress=False, ensemble=ensembles.get(key))
            if res.ensemble is not None:
                ensembles.setdefault(key, res.ensemble)
            policy = res.ema.model.eval()
            env = make_bench_env(cfg, eval_seed(seed))  # the recorded demos' observations (cfg.obs_mode)
            try:
                ev = evaluate_policy(policy, env, cfg.eval_episodes, seed=eval_seed(seed), device=device,
                                     progress=False)
            finally:
                env.close()
            rec = {"success": ev["success_rate"], "successes": ev["successes"], "seconds": time.time() - t0,
                   "trace_sigma_mean": res.info.get("trace_sigma_mean"), "final_loss": res.info.get("final_loss"),
                   "posterior_noise_fraction": res.info.get("posterior_noise_fraction"),
                   "state_excluded": res.as_run.get("state_excluded", [])}
            out[spec] = rec
            trained.append((spec, policy))
            log(f"  seed {seed} {spec}: success {ev['success_rate']:.2f} ({ev['successes']}/{cfg.eval_episodes})")
            if bar is not None:
                bar.update(1)
        reference = next(iter(ensembles.values()), None)  # the first PostBC variant's (insertion order)
        if reference is not None:
            for spec, policy in trained:
                out[spec]["coverage"] = _coverage(policy, reference, data, cfg, seed, device)
    return out


def aggregate(cfg: PretrainBenchConfig, per_seed: list[dict[str, dict]]) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    bc = np.array([s["bc"]["success"] for s in per_seed]) if "bc" in cfg.variants else None
    n = cfg.eval_episodes
    for spec in cfg.variants:
        succ = np.array([s[spec]["success"] for s in per_seed])
        st = success_stats(succ, n)
        lo, hi = st["ci95_seeds"] or (st["mean"], st["mean"])
        # success: mean, ci95_low/high (= ci95_seeds, read by pretrain_scaling), ci95_seeds, ci95_wilson, counts
        v: dict[str, Any] = {"success_per_seed": succ.tolist(),
                             "success": {"mean": st["mean"], "ci95_low": lo, "ci95_high": hi,
                                         **{k: x for k, x in st.items() if k not in ("mean", "per_seed")}}}
        if bc is not None and spec != "bc":
            # paired by seed (same demos, same evaluation env seeds)
            v["minus_bc"] = mean_ci95(succ - bc) | difference_stats(succ, bc, n, n)
        tr = [s[spec]["trace_sigma_mean"] for s in per_seed if s[spec]["trace_sigma_mean"] is not None]
        if tr:
            v["trace_sigma_mean"] = float(np.mean(tr))
            v["posterior_noise_fraction"] = float(np.mean([s[spec]["posterior_noise_fraction"] for s in per_seed]))
        covs = [s[spec]["coverage"] for s in per_seed if "coverage" in s[spec]]
        if covs:
            v["coverage"] = {k: (float(np.mean([c[k] for c in covs if c[k] is not None]))
                                 if any(c[k] is not None for c in covs) else None) for k in covs[0]}
            v["coverage"]["per_seed"] = covs
        v["seconds_mean"] = float(np.mean([s[spec]["seconds"] for s in per_seed]))
        v["state_excluded"] = per_seed[0][spec].get("state_excluded", [])  # the same demos' names every seed
        variants[spec] = v
    return variants


def run_pretrain_benchmark(cfg: PretrainBenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    import torch
    from tqdm.auto import tqdm

    from postbc_ros.learning.train import resolve_device

    cfg.validate()
    device = resolve_device(cfg.train.device)
    t0 = time.time()
    bar = tqdm(total=cfg.seeds * len(cfg.variants), desc="bench pretrain", disable=not cfg.progress)
    per_seed = [run_seed(cfg, seed, device, log, bar) for seed in range(cfg.seeds)]
    bar.close()
    return {
        "benchmark": "pretrain",
        "config": dataclasses.asdict(cfg),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": time.time() - t0,
        "seeds_disjoint": seed_ranges("demos", "eval"),
        "coverage_reference": "tr Σ(s) of the first PostBC variant's ensemble (same for every variant)",
        "intervals": INTERVALS,
        "headline": headline_check(cfg.seeds, cfg.eval_episodes),
        "variants": aggregate(cfg, per_seed),
    }


def plot_pretrain(result: dict, path: str | Path) -> Path:
    """Left: success per variant (mean; 95 % t-interval over seeds and the pooled Wilson interval
    as error bars; seeds as dots; the paired difference to BC ± its half-width). Right: the
    policy's action spread at the quarter of demonstration states with the most / least ensemble
    disagreement. Reads results written before the Wilson interval existed too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, vs = result["config"], result["variants"]
    names = list(vs)
    x = np.arange(len(names))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    means = np.array([vs[n]["success"]["mean"] for n in names])
    seeds_ci = np.array([vs[n]["success"].get("ci95_seeds") or [vs[n]["success"]["ci95_low"],
                                                                 vs[n]["success"]["ci95_high"]] for n in names])
    a1.bar(x, means, color="tab:blue", alpha=0.6)
    a1.errorbar(x - 0.06, means, yerr=[means - seeds_ci[:, 0], seeds_ci[:, 1] - means], fmt="none", ecolor="k",
                capsize=4, label="95 % t-CI over seeds")
    if all(vs[n]["success"].get("ci95_wilson") is not None for n in names):  # (older results lack it)
        w = np.array([vs[n]["success"]["ci95_wilson"] for n in names])
        a1.errorbar(x + 0.06, means, yerr=[means - w[:, 0], w[:, 1] - means], fmt="none", ecolor="tab:red",
                    capsize=3, label="95 % Wilson CI, pooled episodes")
    for i, n in enumerate(names):
        ps = vs[n]["success_per_seed"]
        a1.scatter(np.full(len(ps), i) + np.linspace(-0.15, 0.15, len(ps)), ps, color="k", s=12, zorder=3)
        mdd = vs[n].get("minus_bc", {}).get("min_detectable_difference")
        if mdd is not None:
            a1.annotate(f"{vs[n]['minus_bc']['mean']:+.2f}±{mdd:.2f}\nvs BC", (i, 0.02), ha="center", fontsize=6)
    if "bc" in vs:
        a1.axhspan(vs["bc"]["success"]["mean"] - 0.05, vs["bc"]["success"]["mean"], color="grey", alpha=0.15,
                   label="within 5 points of BC")
    a1.legend(fontsize=7, loc="upper right")
    a1.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    a1.set_ylabel(f"pretrained success ({cfg['eval_episodes']} episodes / seed)")
    a1.set_ylim(0, 1)
    headline = result.get("headline")
    tag = "" if headline is None else (" · headline-sized" if headline["meets"] else " · not headline-sized")
    a1.set_title(f"{cfg['env']} · {cfg['demos']} demos · {cfg['seeds']} seeds{tag}", fontsize=9)
    hi = [vs[n].get("coverage", {}).get("spread_high") or 0.0 for n in names]
    lo = [vs[n].get("coverage", {}).get("spread_low") or 0.0 for n in names]
    a2.bar(x - 0.2, hi, 0.4, label="high-disagreement states (top 25 % tr Σ)", color="tab:red", alpha=0.7)
    a2.bar(x + 0.2, lo, 0.4, label="low-disagreement states (bottom 25 %)", color="tab:green", alpha=0.7)
    a2.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    a2.set_ylabel("policy action spread (tr Cov, normalised chunk)")
    a2.set_title("spread where the demonstrations disagree", fontsize=9)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)
