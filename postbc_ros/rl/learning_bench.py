"""Learning benchmark: pretrain BC / σ-BC / PostBC with one budget, finetune online, compare.

Pipeline per seed (all methods see the same demonstrations, the same env seeds and the same
pretraining budget; only the pretraining target differs):

1. Record `demos` successful demonstrations through THE recording path
   (`postbc_ros.data.collect_episodes` into a LeRobot-layout dataset) with the twin's scripted
   operator (`scripted` teleop device) or Meta-World's scripted expert.
2. Pretrain each method with `postbc_ros.learning.pretrain` (same TrainConfig but `method`).
3. Finetune with DSRL / DSRL-NA / Best-of-N for `budget_episodes` online episodes, evaluating
   every `eval_every` episodes on held-out env seeds (Meta-World: positions checked unseen).

Seeds are disjoint by construction: demonstrations use env seeds 10_000·(s+1)+k, online
episodes 20_000·(s+1)+k, evaluation 30_000·(s+1)+k.

Output JSON per method: curve (online episodes, mean env steps → eval success mean and 95% CI over
seeds, plus the success rate of the exploration episodes since the previous point),
pretrained_success, final_success, episodes_to_threshold (first evaluated episode count
whose success ≥ threshold; seeds that never reach it count as the budget and are reported).
"""
from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

FINETUNERS = ("dsrl", "dsrl_na", "best_of_n")


@dataclasses.dataclass
class BenchConfig:
    env: str = "postbc/WidowXReach-v0"
    demos: int = 5
    methods: list[str] = dataclasses.field(default_factory=lambda: ["bc", "sigma_bc", "postbc"])
    finetune: str = "dsrl"
    seeds: int = 3
    budget_episodes: int = 30
    eval_every: int = 5
    eval_episodes: int = 10
    threshold: float = 0.8
    # pretraining (paper: 3000 epochs, K = 100, 3×512-1024 MLP; here K = 20, 3×256). With 10
    # demos an epoch is ~2 gradient steps: 1000 epochs left WidowX pick-and-place BC at 0.05
    # pretrained success, 3000 at 0.37 (bench/results/learning_best_of_n.md).
    epochs: int = 3000
    ensemble_size: int = 20
    ensemble_epochs: int | None = 300
    alpha: float = 0.5
    sigma: float = 0.1
    policy_hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256, 256])
    horizon: int = 4
    n_action_steps: int = 4
    obs_history: int = 1
    # finetuning (CPU-sized; paper: 3×2048 nets, UTD 20, batch 256)
    rl_hidden: int = 256
    utd: int = 4
    batch_size: int = 128
    warmup_episodes: int = 2
    backup_entropy: bool = False  # DSRL/DSRL-NA: entropy bonus in the critics' TD target (DSRLConfig)
    offline_steps: int = 500  # Best-of-N: IQL steps on the demos before going online
    n_samples: int = 8  # Best-of-N N
    max_episode_steps: int | None = None  # Meta-World cap (≤ 500); twins use their task horizon
    device: str = "auto"
    progress: bool = True

    def validate(self) -> None:
        from postbc_ros.learning import METHODS

        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"--methods {bad or self.methods} not in {METHODS}")
        if self.finetune not in FINETUNERS:
            raise ValueError(f"--finetune {self.finetune!r} is not one of {FINETUNERS}")
        for name in ("demos", "seeds", "budget_episodes", "eval_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("--threshold must be in (0, 1]")


# ---------------------------------------------------------------- envs and demonstrations
def make_bench_env(cfg: BenchConfig, seed: int):
    from postbc_ros.sim import make_env_from_id

    kw: dict[str, Any] = {"seed": seed}
    if cfg.env.startswith("metaworld/") and cfg.max_episode_steps:
        kw["max_episode_steps"] = cfg.max_episode_steps
    return make_env_from_id(cfg.env, **kw)


class _ExpertTeleop:
    """Meta-World scripted expert behind the TeleopDevice interface used by collect_episodes."""

    name = "metaworld_expert"
    requires_start = False
    realtime = False
    gripper = -1.0

    def __init__(self, task: str):
        from postbc_ros.sim.metaworld_env import make_metaworld_expert

        self.expert = make_metaworld_expert(task)
        self.mode = "expert"

    def reset(self) -> None:
        self.expert.reset()

    def read(self, obs):
        from postbc_ros.drivers.teleop import TeleopCommand

        return TeleopCommand(action=self.expert(obs))


def record_demos(cfg: BenchConfig, seed: int, root: Path) -> Path:
    """Record cfg.demos successful demonstrations into `root` (LeRobot layout)."""
    from postbc_ros.data import DatasetWriter, collect_episodes
    from postbc_ros.data.collect import env_fps, features_from_env

    env = make_bench_env(cfg, seed=10_000 * (seed + 1))
    if cfg.env.startswith("metaworld/"):
        device = _ExpertTeleop(cfg.env)
        robot = "sawyer"
    else:
        from postbc_ros.drivers.teleop import make_teleop_device

        device = make_teleop_device("scripted", env=env, seed=seed)
        robot = cfg.env.split("/")[1].split("-")[0].lower()
    writer = DatasetWriter(root, features_from_env(env), env_fps(env), robot)
    try:
        collect_episodes(env, device, writer, cfg.demos, cfg.env, seed=10_000 * (seed + 1),
                         keep_failures=False, progress=False)
    finally:
        writer.close()
        env.close()
    return root


def check_eval_unseen(cfg: BenchConfig, seed: int) -> None:
    """Meta-World: the evaluation task positions must not coincide with demonstrated ones."""
    if not cfg.env.startswith("metaworld/"):
        return
    from postbc_ros.sim.metaworld_env import check_unseen

    env = make_bench_env(cfg, seed=0)
    demo = [env.reset(seed=10_000 * (seed + 1) + k)[1]["task_position"] for k in range(cfg.demos * 3)]
    ev = [env.reset(seed=30_000 * (seed + 1) + k)[1]["task_position"] for k in range(cfg.eval_episodes)]
    env.close()
    check_unseen(demo, ev)


def demo_transitions(root: Path, policy, gamma: float) -> list[dict]:
    from postbc_ros.data import DemoDataset
    from postbc_ros.rl.rollout import episode_to_transitions

    ds = DemoDataset(root)
    out = []
    cfg = policy.cfg
    for i in range(ds.num_episodes):
        out += episode_to_transitions(ds.episode(i), list(cfg.obs_keys), cfg.obs_history, cfg.n_action_steps,
                                      gamma, success=ds.episode_success(i))
    return out


# ---------------------------------------------------------------- agents
def make_agent(cfg: BenchConfig, policy, seed: int, device):
    from postbc_ros.rl import (BestOfNAgent, BestOfNConfig, DSRLAgent, DSRLConfig, DSRLNAAgent, DSRLNAConfig,
                               IQLConfig)

    warm = 10**9 if cfg.warmup_episodes > 0 else 0  # warm start until `warmup_episodes` episodes ran; then fixed in env steps
    if cfg.finetune == "dsrl":
        return DSRLAgent(policy, DSRLConfig(hidden=cfg.rl_hidden, utd=cfg.utd, batch_size=cfg.batch_size,
                                            warmup_env_steps=warm, backup_entropy=cfg.backup_entropy),
                         device=device, seed=seed)
    if cfg.finetune == "dsrl_na":
        return DSRLNAAgent(policy, DSRLNAConfig(hidden=cfg.rl_hidden, utd=cfg.utd, batch_size=cfg.batch_size,
                                                warmup_env_steps=warm, distill_batch=cfg.batch_size,
                                                backup_entropy=cfg.backup_entropy),
                           device=device, seed=seed)
    return BestOfNAgent(policy, BestOfNConfig(n_samples=cfg.n_samples, utd=cfg.utd, batch_size=cfg.batch_size,
                                              iql=IQLConfig(hidden=cfg.rl_hidden)), device=device, seed=seed)


def mean_ci95(x: np.ndarray) -> dict[str, float]:
    """Mean and Student-t 95 % interval over seeds (unclipped: also used for differences)."""
    from scipy.stats import t as student_t

    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return {"mean": m, "ci95_low": m, "ci95_high": m}
    h = float(student_t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": m, "ci95_low": m - h, "ci95_high": m + h}


def _ci95(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of a success rate, the interval clipped to [0, 1]."""
    r = mean_ci95(x)
    return r["mean"], max(0.0, r["ci95_low"]), min(1.0, r["ci95_high"])


# ---------------------------------------------------------------- one run
def finetune_run(cfg: BenchConfig, method: str, seed: int, data, demo_root: Path, device,
                 log: Callable[[str], None]) -> dict:
    """Pretrain `method` on `data`, finetune it online, return its per-seed curve."""
    import torch

    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.rl.rollout import evaluate, run_episode

    tcfg = TrainConfig(method=method, alpha=cfg.alpha, sigma=cfg.sigma, ensemble_size=cfg.ensemble_size,
                       ensemble_epochs=cfg.ensemble_epochs, epochs=cfg.epochs, hidden=list(cfg.policy_hidden),
                       horizon=cfg.horizon, n_action_steps=cfg.n_action_steps, obs_history=cfg.obs_history,
                       seed=seed, device=str(device))
    t0 = time.time()
    res = pretrain(data, tcfg, progress=False)
    policy = res.ema.model.eval()
    pre_s = time.time() - t0
    agent = make_agent(cfg, policy, seed, device)
    train_env, eval_env = make_bench_env(cfg, 20_000 * (seed + 1)), make_bench_env(cfg, 30_000 * (seed + 1))
    ev_seed = 30_000 * (seed + 1)
    if cfg.finetune in ("dsrl_na", "best_of_n"):
        agent.add_demos(demo_transitions(demo_root, policy, agent.discount))
    if cfg.finetune == "best_of_n" and cfg.offline_steps:
        agent.update(n_steps=cfg.offline_steps)
    pretrained = evaluate(eval_env, agent, cfg.eval_episodes, mode="base", seed0=ev_seed)
    # the same policy decoding w = 0: where a noise-space actor with zero mean starts (and where
    # DSRL's deterministic actor goes while its critic cannot yet rank noises)
    pretrained_zero = evaluate(eval_env, agent, cfg.eval_episodes, mode="zero", seed0=ev_seed)
    points = [{"episodes": 0, "env_steps": 0, "success": pretrained, "online_success": None}]
    env_steps, window = 0, []
    for ep in range(1, cfg.budget_episodes + 1):
        st = run_episode(train_env, agent, "explore", seed=20_000 * (seed + 1) + ep, learn=True)
        env_steps += st.env_steps
        window.append(st.success)
        if ep == cfg.warmup_episodes and hasattr(agent.cfg, "warmup_env_steps"):
            # warm start (w ~ N(0, I)) = the first `warmup_episodes` episodes, counted in env steps
            agent.cfg.warmup_env_steps = env_steps
        if ep % cfg.eval_every == 0 or ep == cfg.budget_episodes:
            with torch.no_grad():
                sr = evaluate(eval_env, agent, cfg.eval_episodes, mode="eval", seed0=ev_seed)
            points.append({"episodes": ep, "env_steps": env_steps, "success": sr,
                           "online_success": float(np.mean(window))})  # exploration episodes since last point
            window = []
            log(f"  {method} seed {seed} ep {ep}: success {sr:.2f} (env steps {env_steps})")
    train_env.close()
    eval_env.close()
    return {"points": points, "pretrained_success": pretrained, "pretrained_zero_noise_success": pretrained_zero,
            "pretrain_seconds": pre_s,
            "pretrain_info": {k: v for k, v in res.info.items() if isinstance(v, (int, float))}}


def aggregate(cfg: BenchConfig, runs: dict[str, list[dict]]) -> dict:
    out: dict[str, Any] = {}
    for method, seed_runs in runs.items():
        n_pts = min(len(r["points"]) for r in seed_runs)
        curve = []
        for i in range(n_pts):
            succ = np.array([r["points"][i]["success"] for r in seed_runs])
            m, lo, hi = _ci95(succ)
            curve.append({"episodes": seed_runs[0]["points"][i]["episodes"],
                          "env_steps": float(np.mean([r["points"][i]["env_steps"] for r in seed_runs])),
                          "success_mean": m, "ci95_low": lo, "ci95_high": hi, "per_seed": succ.tolist(),
                          "online_success_mean": None if i == 0 else float(np.mean(
                              [r["points"][i]["online_success"] for r in seed_runs]))})
        ett = []
        for r in seed_runs:
            hit = next((p["episodes"] for p in r["points"] if p["success"] >= cfg.threshold), None)
            ett.append(hit)
        reached = [e for e in ett if e is not None]
        out[method] = {
            "curve": curve,
            "pretrained_success": _ci95(np.array([r["pretrained_success"] for r in seed_runs]))[0],
            "pretrained_zero_noise_success": float(np.mean([r["pretrained_zero_noise_success"] for r in seed_runs])),
            "pretrained_zero_noise_per_seed": [r["pretrained_zero_noise_success"] for r in seed_runs],
            "final_success": curve[-1]["success_mean"],
            "final_success_ci95": [curve[-1]["ci95_low"], curve[-1]["ci95_high"]],
            "episodes_to_threshold": {
                "threshold": cfg.threshold,
                "per_seed": ett,
                "mean_censored": float(np.mean([cfg.budget_episodes if e is None else e for e in ett])),
                "seeds_reached": len(reached),
            },
            "pretrain_seconds_mean": float(np.mean([r["pretrain_seconds"] for r in seed_runs])),
            "pretrain_info": [r["pretrain_info"] for r in seed_runs],
        }
    if "bc" in out and "postbc" in out:
        b, p = out["bc"]["episodes_to_threshold"]["mean_censored"], out["postbc"]["episodes_to_threshold"]["mean_censored"]
        out["_ratios"] = {"episodes_to_threshold_postbc_over_bc": (p / b) if b > 0 else None,
                          "final_success_postbc_minus_bc": out["postbc"]["final_success"] - out["bc"]["final_success"]}
    return out


def run_learning_benchmark(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Run the whole benchmark; returns the JSON-able result."""
    import torch

    from postbc_ros.learning.train import resolve_device
    from postbc_ros.learning.training_data import load_training_data

    cfg.validate()
    device = resolve_device(cfg.device)
    t_start = time.time()
    runs: dict[str, list[dict]] = {m: [] for m in cfg.methods}
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.seeds * len(cfg.methods), desc=f"bench {cfg.finetune}", disable=not cfg.progress)
    for seed in range(cfg.seeds):
        check_eval_unseen(cfg, seed)
        with tempfile.TemporaryDirectory(prefix="postbc_bench_") as tmp:
            root = record_demos(cfg, seed, Path(tmp) / "demos")
            data = load_training_data(root, cfg.obs_history, cfg.horizon)
            for method in cfg.methods:
                torch.manual_seed(seed)
                runs[method].append(finetune_run(cfg, method, seed, data, root, device, log))
                bar.update(1)
    bar.close()
    result = {
        "benchmark": "learning",
        "config": dataclasses.asdict(cfg),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": time.time() - t_start,
        "seeds_disjoint": {"demos": "10000*(s+1)+k", "online": "20000*(s+1)+k", "eval": "30000*(s+1)+k"},
        "methods": aggregate(cfg, runs),
    }
    return result


def plot_learning(result: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result["config"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, r in result["methods"].items():
        if method.startswith("_"):
            continue
        x = [p["episodes"] for p in r["curve"]]
        line, = ax.plot(x, [p["success_mean"] for p in r["curve"]], marker="o", label=method)
        ax.fill_between(x, [p["ci95_low"] for p in r["curve"]], [p["ci95_high"] for p in r["curve"]], alpha=0.2)
        if "pretrained_zero_noise_success" in r:  # (results written before it existed lack it)
            ax.plot([0], [r["pretrained_zero_noise_success"]], marker="D", mfc="none", color=line.get_color(), ls="",
                    label=f"{method} pretrained, w = 0")
    ax.axhline(cfg["threshold"], color="grey", ls="--", lw=0.8, label=f"threshold {cfg['threshold']}")
    ax.set_xlabel("online episodes")
    ax.set_ylabel("success rate (eval)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{cfg['env']} · {cfg['demos']} demos · {cfg['finetune']} · {cfg['seeds']} seeds (95% CI)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)


def save_png(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG (creating the folder) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_result(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path
