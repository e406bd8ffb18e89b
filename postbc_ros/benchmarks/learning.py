"""Learning benchmark (`postbc bench learning`): pretrain BC / σ-BC / PostBC with one budget,
finetune online, compare.

Pipeline per seed (all methods see the same demonstrations, the same env seeds and the same
pretraining budget; only the pretraining target differs):

1. Record `demos` successful demonstrations (`benchmarks.demos.record_demos`: the twin's scripted
   operator or Meta-World's scripted expert, through THE recording path).
2. Pretrain each method with `postbc_ros.learning.pretrain` (`cfg.train` but `method` and `seed`).
3. Finetune with DSRL / DSRL-NA / Best-of-N for `budget_episodes` online episodes, evaluating
   every `eval_every` episodes on held-out env seeds (Meta-World: positions checked unseen).
   DSRL / DSRL-NA run their reference's settings (rl.dsrl.DSRLConfig) but for the sizes named
   below (BENCH_RL_HIDDEN, BENCH_WARMUP_ENV_STEPS), and evaluate the stochastic actor (`eval_mode`).

The curve's ends (the pretrained policy and the final point) are evaluated with
`final_eval_episodes` episodes, the points between with `eval_episodes`.

Output JSON per method: curve (online episodes, mean env steps and gradient steps → eval success: mean, per-seed
values, the 95 % t-interval over seeds `ci95_seeds` and the pooled Wilson interval `ci95_wilson`
(benchmarks.stats; `intervals` in the JSON says which is which), plus the success rate of the
exploration episodes since the previous point with the same), pretrained, final,
final_minus_pretrained (paired by seed), episodes_to_threshold (first evaluated episode count
whose success ≥ threshold; seeds that never reach it count as the budget and are reported).
Top level: `comparisons` (every pair of methods at the pretrained and final point: paired
difference, its intervals and `min_detectable_difference`) and `headline` (whether the run has
the seeds and episodes a headline needs).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from postbc_ros.benchmarks.demos import (demo_transitions, eval_seed, make_bench_env, online_seed, seed_demos,
                                         seed_ranges)
from postbc_ros.benchmarks.output import save_png
from postbc_ros.benchmarks.stats import INTERVALS, difference_stats, headline_check, success_ci95, success_stats
from postbc_ros.core.chunk_transitions import REWARDS
from postbc_ros.core.params import param
from postbc_ros.learning.train_config import METHODS, TrainConfig
from postbc_ros.rl.dsrl_config import ACTIVATION_NAMES, REFERENCE_WARMUP_ENV_STEPS, DSRLConfig
from postbc_ros.rl.registry import FINETUNERS

#: PostBC's α in the learning bench, half of `postbc pretrain`'s PRETRAIN_ALPHA = 1. Every
#: finetuning result in bench/results/learning_*.md ran with it: at α = 1 PostBC starts finetuning
#: 20-35 points of pretrained success below BC on 10 pick-and-place demos, at 0.5 about 8 points
#: (bench/results/pretrain_widowx_pick_place.md), so the curves compare how methods finetune rather
#: than how far behind PostBC starts.
BENCH_ALPHA = 0.5
#: PostBC's ensemble size K in the learning bench (paper: 100), sized for 2 CPU cores
BENCH_ENSEMBLE_SIZE = 20
#: the finetuners' network width in the learning bench. DSRL's reference uses 3×2048; at that width
#: one DSRL gradient step (batch 256) took 1.8 s on one shared CPU core here, against 0.065 s at 256
#: (bench/dsrl_step_time.py), so 50k env steps at the reference's UTD (62.5k gradient steps) would take
#: about 32 hours (bench/results/learning_widowx_reach_dsrl_reference.md)
BENCH_RL_HIDDEN = 256
#: DSRL / DSRL-NA's warm start in the learning bench, in env steps. The reference's is 24 016 (1501
#: vectorised steps × 4 envs × 4-step chunks), more than a CPU-sized budget of episodes holds: the
#: default 30 WidowX reach episodes are about 600 env steps, of which this is a third. Set
#: --warmup-env-steps 24016 with a budget to match
BENCH_WARMUP_ENV_STEPS = 200
#: DSRL / DSRL-NA's own defaults (the reference's), the bench's defaults for everything else
DSRL = DSRLConfig()
#: Best-of-N's sizes in the learning bench (every Best-of-N result in bench/results ran with them)
BON_BENCH_UTD, BON_BENCH_BATCH = 4, 128
#: how evaluation acts: sample — the learned policy sampled (DSRL's actor is stochastic; the
#: reference evaluates it so, deterministic_eval False); mean — the actor's mean noise (act mode eval)
EVAL_MODES = {"sample": "sample", "mean": "eval"}

#: the pretraining settings `postbc bench learning` exposes (the rest: TrainConfig's defaults)
TRAIN_OPTIONS = ("steps", "epochs", "ensemble_steps", "ensemble_epochs", "ensemble_size", "alpha", "sigma", "horizon",
                 "n_action_steps", "state_exclude", "device")


def bench_train_config() -> TrainConfig:
    """The learning bench's pretraining: TrainConfig's defaults but K and α (named above)."""
    return TrainConfig(ensemble_size=BENCH_ENSEMBLE_SIZE, alpha=BENCH_ALPHA)


@dataclass
class BenchConfig:
    env: str = param("postbc/WidowXReach-v0", "postbc/<Robot><Task>-v0 or metaworld/<task>-v3")
    demos: int = param(5, "demonstrations recorded per seed")
    keep_failures: bool = param(False, "record the demonstrator's failed episodes too (counted in --demos): the "
                                       "learner then imitates the demonstrator as it is, not its successes")
    methods: list[str] = param(list(METHODS), "pretraining methods, comma list of " + ",".join(METHODS))
    finetune: str = param("dsrl", "online finetuner", choices=FINETUNERS)
    seeds: int = param(5, "independent seeds (demos, pretraining, RL) per method (a headline: >= 5)")
    budget_episodes: int = param(30, "online finetuning episodes per run")
    eval_every: int = param(5, "evaluate every N online episodes")
    eval_episodes: int = param(50, "evaluation episodes per curve point (a headline: >= 50)")
    final_eval_episodes: int = param(100, "evaluation episodes at the curve's ends, the pretrained policy and the "
                                          "final point (a headline: >= 100)")
    threshold: float = param(0.8, "success rate defining episodes_to_threshold")
    # finetuning: DSRL / DSRL-NA as their reference (DSRLConfig) but for the width and the warm start
    rl_hidden: int = param(BENCH_RL_HIDDEN, f"critic/actor width (DSRL's reference: {DSRL.hidden}; CPU-sized here)")
    rl_layers: int = param(DSRL.layers, "DSRL / DSRL-NA: hidden layers of the critics and the actor")
    activation: str = param(DSRL.activation, "DSRL / DSRL-NA: hidden-layer activation (after LayerNorm)",
                            choices=ACTIVATION_NAMES)
    layer_norm: bool = param(DSRL.layer_norm, "DSRL / DSRL-NA: LayerNorm after every hidden Linear")
    utd: int | None = param(None, f"gradient steps per RL step (default: DSRL / DSRL-NA {DSRL.utd}, the reference's "
                                  f"20 per step of its 4 envs; Best-of-N {BON_BENCH_UTD})")
    batch_size: int | None = param(None, f"RL minibatch size (default: DSRL / DSRL-NA {DSRL.batch_size}; "
                                         f"Best-of-N {BON_BENCH_BATCH})")
    warmup_env_steps: int = param(BENCH_WARMUP_ENV_STEPS, "DSRL / DSRL-NA: env steps acting with w ~ N(0, I) "
                                  f"before learning (CPU-sized; the reference: {REFERENCE_WARMUP_ENV_STEPS})")
    backup_entropy: bool = param(DSRL.backup_entropy, "DSRL / DSRL-NA: SAC's soft target, the entropy bonus in the "
                                                      "critics' TD target (off: they regress onto returns)")
    init_alpha: float = param(DSRL.init_alpha, "DSRL / DSRL-NA: SAC temperature at the start (then learned)")
    target_entropy: float = param(DSRL.target_entropy, "DSRL / DSRL-NA: target entropy of the squashed noise "
                                                       "w / bound")
    noise_bound: float = param(DSRL.noise_bound, "DSRL / DSRL-NA: bound of the steered noise (action_magnitude)")
    n_critics: int = param(DSRL.n_critics, "DSRL / DSRL-NA: critics (min over them)")
    reward: str = param(DSRL.reward, "DSRL / DSRL-NA transition reward: minus_one (the reference: -1 per env step, "
                                     "0 on success, summed within the chunk) | zero_one (1 on the success step, "
                                     "Σ γ^i r_i); Best-of-N keeps zero_one", choices=REWARDS)
    eval_mode: str = param("sample", "how evaluation points act: sample (the actor's samples, the reference's "
                                     "evaluation) | mean (the actor's mean noise); Best-of-N: both take the argmax",
                           choices=tuple(EVAL_MODES))
    offline_steps: int = param(500, "Best-of-N: IQL steps on the demos before going online")
    n_samples: int = param(8, "Best-of-N: N")
    max_episode_steps: int | None = param(None, "Meta-World episode cap (<= 500); twins use their task horizon")
    # pretraining: TrainConfig's step budget (30 000 policy steps) with K = 20 and α = BENCH_ALPHA.
    # Budgets in epochs underfit: with 10 demos an epoch is ~2 gradient steps, and 1000 / 3000 epochs
    # left WidowX pick-and-place BC at 0.05 / 0.37 (bench/results/learning_best_of_n.md). Every method
    # runs this config with its own `method` and the run's seed.
    train: TrainConfig = dataclasses.field(default_factory=bench_train_config)
    progress: bool = True

    def validate(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"--methods {bad or self.methods} not in {METHODS}")
        if self.finetune not in FINETUNERS:
            raise ValueError(f"--finetune {self.finetune!r} is not one of {FINETUNERS}")
        for name in ("demos", "seeds", "budget_episodes", "eval_every", "eval_episodes", "final_eval_episodes",
                     "rl_hidden", "rl_layers", "n_critics"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        for name in ("utd", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if self.warmup_env_steps < 0 or not self.init_alpha > 0 or not self.noise_bound > 0:
            raise ValueError("--warmup-env-steps must be >= 0, --init-alpha and --noise-bound > 0")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("--threshold must be in (0, 1]")
        for method in self.methods:
            dataclasses.replace(self.train, method=method).validate()


# ---------------------------------------------------------------- agents
#: BenchConfig fields passed to DSRL / DSRL-NA's config under the same name
DSRL_FIELDS = ("activation", "layer_norm", "warmup_env_steps", "backup_entropy", "init_alpha", "target_entropy",
               "noise_bound", "n_critics", "reward")


def agent_config(cfg: BenchConfig) -> dict[str, Any]:
    """The bench's overrides of the `cfg.finetune` agent's config dataclass."""
    if cfg.finetune == "best_of_n":
        return {"utd": BON_BENCH_UTD if cfg.utd is None else cfg.utd,
                "batch_size": BON_BENCH_BATCH if cfg.batch_size is None else cfg.batch_size,
                "n_samples": cfg.n_samples, "iql": {"hidden": cfg.rl_hidden}}
    config = {k: getattr(cfg, k) for k in DSRL_FIELDS}
    config.update(hidden=cfg.rl_hidden, layers=cfg.rl_layers)
    config.update({k: getattr(cfg, k) for k in ("utd", "batch_size") if getattr(cfg, k) is not None})
    if cfg.finetune == "dsrl_na" and cfg.batch_size is not None:
        config["distill_batch"] = cfg.batch_size
    return config


def make_agent(cfg: BenchConfig, policy, seed: int, device):
    """The `cfg.finetune` agent over `policy`, from the finetuner registry with the bench's sizes."""
    from postbc_ros.rl.registry import make_agent as make_registered_agent

    return make_registered_agent(cfg.finetune, policy, agent_config(cfg), device=device, seed=seed)


# ---------------------------------------------------------------- one run
def finetune_run(cfg: BenchConfig, method: str, seed: int, data, demo_root: Path, device,
                 log: Callable[[str], None]) -> dict:
    """Pretrain `method` on `data`, finetune it online, return its per-seed curve."""
    import torch

    from postbc_ros.benchmarks.rollout import evaluate, run_episode
    from postbc_ros.learning import pretrain

    tcfg = dataclasses.replace(cfg.train, method=method, seed=seed, device=str(device))
    t0 = time.time()
    res = pretrain(data, tcfg, progress=False)
    policy = res.ema.model.eval()
    pre_s = time.time() - t0
    agent = make_agent(cfg, policy, seed, device)
    train_env, eval_env = make_bench_env(cfg, online_seed(seed)), make_bench_env(cfg, eval_seed(seed))
    ev_seed = eval_seed(seed)
    if cfg.finetune in ("dsrl_na", "best_of_n"):
        agent.add_demos(demo_transitions(demo_root, policy, agent.discount, agent.reward_convention))
    if cfg.finetune == "best_of_n" and cfg.offline_steps:
        agent.update(n_steps=cfg.offline_steps)
    pretrained = evaluate(eval_env, agent, cfg.final_eval_episodes, mode="base", seed0=ev_seed)
    # the same policy decoding w = 0: where a noise-space actor with zero mean starts (and where
    # DSRL's deterministic actor goes while its critic cannot yet rank noises)
    pretrained_zero = evaluate(eval_env, agent, cfg.eval_episodes, mode="zero", seed0=ev_seed)
    points = [{"episodes": 0, "env_steps": 0, "grad_steps": agent.grad_steps, "success": pretrained,
               "eval_episodes": cfg.final_eval_episodes, "online_success": None, "online_episodes": 0}]
    env_steps, window = 0, []
    for ep in range(1, cfg.budget_episodes + 1):
        st = run_episode(train_env, agent, "explore", seed=online_seed(seed) + ep, learn=True)
        env_steps += st.env_steps
        window.append(st.success)
        if ep % cfg.eval_every == 0 or ep == cfg.budget_episodes:
            n_eval = cfg.final_eval_episodes if ep == cfg.budget_episodes else cfg.eval_episodes
            with torch.no_grad():
                sr = evaluate(eval_env, agent, n_eval, mode=EVAL_MODES[cfg.eval_mode], seed0=ev_seed)
            points.append({"episodes": ep, "env_steps": env_steps, "grad_steps": agent.grad_steps, "success": sr,
                           "eval_episodes": n_eval,
                           "online_success": float(np.mean(window)),  # exploration episodes since last point
                           "online_episodes": len(window)})
            window = []
            log(f"  {method} seed {seed} ep {ep}: success {sr:.2f} (env steps {env_steps})")
    train_env.close()
    eval_env.close()
    return {"points": points, "pretrained_success": pretrained, "pretrained_zero_noise_success": pretrained_zero,
            "pretrain_seconds": pre_s,
            "pretrain_info": {k: v for k, v in res.info.items() if isinstance(v, (int, float))}
            | {"state_excluded": res.as_run.get("state_excluded", [])}}


def _curve_point(pts: list[dict], first: bool) -> dict[str, Any]:
    """One curve point pooled over seeds: mean, both 95 % intervals (benchmarks.stats), per-seed
    values; the exploration episodes since the previous point with theirs."""
    st = success_stats([p["success"] for p in pts], [p["eval_episodes"] for p in pts])
    m, lo, hi = success_ci95(st["per_seed"])
    point = {"episodes": pts[0]["episodes"], "env_steps": float(np.mean([p["env_steps"] for p in pts])),
             "grad_steps": (float(np.mean([p["grad_steps"] for p in pts]))
                            if all("grad_steps" in p for p in pts) else None), "success_mean": m, "ci95_low": lo, "ci95_high": hi, **{k: v for k, v in st.items() if k != "mean"},
             "online_success_mean": None, "online": None}
    if not first:
        point["online_success_mean"] = float(np.mean([p["online_success"] for p in pts]))
        point["online"] = success_stats([p["online_success"] for p in pts], [p["online_episodes"] for p in pts])
    return point


def aggregate(cfg: BenchConfig, runs: dict[str, list[dict]]) -> dict:
    """Per method: the curve (every point with `ci95_seeds` and `ci95_wilson`, see
    benchmarks.stats), the pretrained and final levels, final − pretrained, episodes to threshold."""
    out: dict[str, Any] = {}
    for method, seed_runs in runs.items():
        n_pts = min(len(r["points"]) for r in seed_runs)
        curve = [_curve_point([r["points"][i] for r in seed_runs], i == 0) for i in range(n_pts)]
        first, last = curve[0], curve[-1]
        ett = []
        for r in seed_runs:
            hit = next((p["episodes"] for p in r["points"] if p["success"] >= cfg.threshold), None)
            ett.append(hit)
        reached = [e for e in ett if e is not None]
        zero = [r["pretrained_zero_noise_success"] for r in seed_runs]
        out[method] = {
            "curve": curve,
            "pretrained_success": first["success_mean"],
            "pretrained": {k: first[k] for k in _STATS_KEYS} | {"mean": first["success_mean"]},
            "pretrained_zero_noise_success": float(np.mean(zero)),
            "pretrained_zero_noise_per_seed": zero,
            "pretrained_zero_noise": success_stats(zero, cfg.eval_episodes),
            "final_success": last["success_mean"],
            "final_success_ci95": [last["ci95_low"], last["ci95_high"]],
            "final": {k: last[k] for k in _STATS_KEYS} | {"mean": last["success_mean"]},
            # paired by seed (same demos, same evaluation env seeds)
            "final_minus_pretrained": difference_stats(last["per_seed"], first["per_seed"],
                                                       last["episodes_per_seed"], first["episodes_per_seed"]),
            "episodes_to_threshold": {
                "threshold": cfg.threshold,
                "per_seed": ett,
                "mean_censored": float(np.mean([cfg.budget_episodes if e is None else e for e in ett])),
                "seeds_reached": len(reached),
            },
            "pretrain_seconds_mean": float(np.mean([r["pretrain_seconds"] for r in seed_runs])),
            "pretrain_info": [r["pretrain_info"] for r in seed_runs],
        }
    return with_ratios(out)


def with_ratios(out: dict[str, Any]) -> dict[str, Any]:
    """`out` (aggregate's per-method results) with `_ratios` (PostBC vs BC: episodes to threshold,
    final success) when both methods are there; any earlier `_ratios` replaced."""
    out = {k: v for k, v in out.items() if k != "_ratios"}
    if "bc" in out and "postbc" in out:
        b, p = out["bc"]["episodes_to_threshold"]["mean_censored"], out["postbc"]["episodes_to_threshold"]["mean_censored"]
        out["_ratios"] = {"episodes_to_threshold_postbc_over_bc": (p / b) if b > 0 else None,
                          "final_success_postbc_minus_bc": out["postbc"]["final_success"] - out["bc"]["final_success"]}
    return out


_STATS_KEYS = ("per_seed", "n_seeds", "episodes_per_seed", "n_episodes", "successes", "ci95_seeds", "ci95_wilson")


def compare_methods(methods: dict[str, Any]) -> dict[str, Any]:
    """Every pair of methods (later − earlier in --methods) at the pretrained and the final point:
    the paired difference over seeds with its 95 % intervals and `min_detectable_difference`
    (the half-width of its t-interval: what the curve resolves), from `aggregate`'s output."""
    names = [m for m in methods if not m.startswith("_")]
    out: dict[str, Any] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ca, cb = methods[b]["curve"], methods[a]["curve"]
            out[f"{b} - {a}"] = {
                where: difference_stats(ca[k]["per_seed"], cb[k]["per_seed"], ca[k]["episodes_per_seed"],
                                        cb[k]["episodes_per_seed"]) | {"episodes": ca[k]["episodes"]}
                for where, k in (("pretrained", 0), ("final", -1))}
    return out


def run_learning_benchmark(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Run the whole benchmark; returns the JSON-able result."""
    import torch
    from tqdm.auto import tqdm

    from postbc_ros.learning.train import resolve_device
    from postbc_ros.rl.registry import make_config

    cfg.validate()
    device = resolve_device(cfg.train.device)
    t_start = time.time()
    runs: dict[str, list[dict]] = {m: [] for m in cfg.methods}
    bar = tqdm(total=cfg.seeds * len(cfg.methods), desc=f"bench {cfg.finetune}", disable=not cfg.progress)
    for seed in range(cfg.seeds):
        with seed_demos(cfg, seed) as (root, data):
            for method in cfg.methods:
                torch.manual_seed(seed)
                runs[method].append(finetune_run(cfg, method, seed, data, root, device, log))
                bar.update(1)
    bar.close()
    methods = aggregate(cfg, runs)
    return {
        "benchmark": "learning",
        "config": dataclasses.asdict(cfg),
        "agent_config": dataclasses.asdict(make_config(cfg.finetune, agent_config(cfg))),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": time.time() - t_start,
        "seeds_disjoint": seed_ranges("demos", "online", "eval"),
        "intervals": INTERVALS,
        "headline": headline_check(cfg.seeds, cfg.eval_episodes, cfg.final_eval_episodes),
        "methods": methods,
        "comparisons": compare_methods(methods),
    }


def _band(p: dict) -> tuple[float, float]:
    """The shaded interval of a curve point: the t-interval over seeds; with one seed the pooled
    Wilson interval; results written before both existed: their ci95_low/ci95_high."""
    if p.get("ci95_seeds") is not None:
        return tuple(p["ci95_seeds"])
    if p.get("ci95_wilson") is not None:
        return tuple(p["ci95_wilson"])
    return p["ci95_low"], p["ci95_high"]


def plot_learning(result: dict, path: str | Path) -> Path:
    """Success against online episodes per method: mean over seeds, its 95 % t-interval over seeds
    shaded, the pooled Wilson interval as bars, the pretrained level as a dotted line; the final
    point's resolution (min detectable difference between methods) in the corner. Reads results
    written before the intervals existed too (band = their ci95_low/high, no bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result["config"]
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for method, r in result["methods"].items():
        if method.startswith("_"):
            continue
        curve = r["curve"]
        x = np.array([p["episodes"] for p in curve], dtype=float)
        y = np.array([p["success_mean"] for p in curve])
        line, = ax.plot(x, y, marker="o", ms=4, label=method)
        col = line.get_color()
        band = np.array([_band(p) for p in curve])
        ax.fill_between(x, band[:, 0], band[:, 1], color=col, alpha=0.18, lw=0)
        if all(p.get("ci95_wilson") is not None for p in curve):
            w = np.array([p["ci95_wilson"] for p in curve])
            ax.errorbar(x, y, yerr=[y - w[:, 0], w[:, 1] - y], fmt="none", ecolor=col, elinewidth=0.8, capsize=2,
                        alpha=0.8)
        ax.axhline(curve[0]["success_mean"], color=col, ls=":", lw=1.2,
                   label=f"{method} pretrained {curve[0]['success_mean']:.2f}")
        if "pretrained_zero_noise_success" in r:  # (results written before it existed lack it)
            ax.plot([0], [r["pretrained_zero_noise_success"]], marker="D", mfc="none", color=col, ls="",
                    label=f"{method} pretrained, w = 0")
    ax.axhline(cfg["threshold"], color="grey", ls="--", lw=0.8, label=f"threshold {cfg['threshold']}")
    lines = []
    for name, c in (result.get("comparisons") or {}).items():
        f = c["final"]
        if f.get("min_detectable_difference") is not None:
            lines.append(f"{name}: {f['mean']:+.2f} ± {f['min_detectable_difference']:.2f}")
    if lines:
        ax.text(0.01, 0.99, "final point, paired 95 % CI over seeds\n" + "\n".join(lines), transform=ax.transAxes,
                va="top", fontsize=7, bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
    ax.set_xlabel("online episodes")
    ax.set_ylabel("success rate (eval)")
    ax.set_ylim(-0.02, 1.02)
    episodes = f"{cfg['eval_episodes']} eval episodes / point"
    if cfg.get("final_eval_episodes") is not None:
        episodes += f", {cfg['final_eval_episodes']} at the ends"
    headline = result.get("headline")
    tag = "" if headline is None else (" · headline-sized" if headline["meets"] else " · not headline-sized")
    ax.set_title(f"{cfg['env']} · {cfg['demos']} demos · {cfg['finetune']} · {cfg['seeds']} seeds\n"
                 f"{episodes}{tag}; band: 95 % t-CI over seeds"
                 + ("; bars: 95 % Wilson CI over episodes" if "intervals" in result else ""), fontsize=8)
    ax.legend(loc="lower right", fontsize=7, ncol=2 if len(ax.get_lines()) > 6 else 1)
    fig.tight_layout()
    return save_png(fig, path)
