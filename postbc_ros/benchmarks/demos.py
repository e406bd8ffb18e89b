"""What every benchmark shares: its envs, its disjoint env seeds and its recorded demonstrations.

Seeds are disjoint by construction: for benchmark seed s, demonstrations reset the env with
10_000·(s+1)+k, online episodes with 20_000·(s+1)+k and evaluation episodes with 30_000·(s+1)+k.
Demonstrations go through THE recording path (`postbc_ros.data.collect_episodes` into a
LeRobot-layout dataset) with the twin's scripted operator or Meta-World's scripted expert.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# env seed bases per benchmark seed s (base·(s+1) + k, k < 10_000: the three ranges never meet)
DEMO_SEED_BASE = 10_000
ONLINE_SEED_BASE = 20_000
EVAL_SEED_BASE = 30_000
# Meta-World: recording may skip failed attempts, so the positions of the first 3 seeds per
# demonstration are checked against the evaluation positions
DEMO_SEEDS_CHECKED_PER_DEMO = 3
# robot_type written into Meta-World datasets (its arm)
METAWORLD_ROBOT = "sawyer"


def demo_seed(seed: int) -> int:
    return DEMO_SEED_BASE * (seed + 1)


def online_seed(seed: int) -> int:
    return ONLINE_SEED_BASE * (seed + 1)


def eval_seed(seed: int) -> int:
    return EVAL_SEED_BASE * (seed + 1)


def seed_ranges(*kinds: str) -> dict[str, str]:
    """The seed formulas of `kinds` (demos, online, eval) as written into a result."""
    bases = {"demos": DEMO_SEED_BASE, "online": ONLINE_SEED_BASE, "eval": EVAL_SEED_BASE}
    return {k: f"{bases[k]}*(s+1)+k" for k in kinds}


def is_metaworld(env_id: str) -> bool:
    return env_id.startswith("metaworld/")


def make_bench_env(cfg, seed: int):
    """The env `cfg.env` (seeded; Meta-World capped at `cfg.max_episode_steps` when given)."""
    from postbc_ros.sim import make_env_from_id

    kw: dict[str, Any] = {"seed": seed}
    if is_metaworld(cfg.env) and cfg.max_episode_steps:
        kw["max_episode_steps"] = cfg.max_episode_steps
    obs_mode = getattr(cfg, "obs_mode", "state")
    if obs_mode != "state":  # the twin's deployable observations (markers, images); Meta-World has only state
        if is_metaworld(cfg.env):
            raise ValueError(f"--obs-mode {obs_mode}: Meta-World envs observe their state only; use a postbc/ twin env")
        kw["obs_mode"] = obs_mode
    return make_env_from_id(cfg.env, **kw)


class ExpertTeleop:
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


def record_demos(cfg, seed: int, root: Path) -> Path:
    """Record cfg.demos demonstrations of cfg.env into `root` (LeRobot layout): successful ones only,
    unless the config keeps failures (`keep_failures`, the learning bench's option)."""
    from postbc_ros.data import DatasetWriter, collect_episodes
    from postbc_ros.data.collect import env_fps, features_from_env

    env = make_bench_env(cfg, seed=demo_seed(seed))
    if is_metaworld(cfg.env):
        device = ExpertTeleop(cfg.env)
        robot = METAWORLD_ROBOT
    else:
        from postbc_ros.drivers.teleop import make_teleop_device

        device = make_teleop_device("scripted", env=env, seed=seed)
        robot = cfg.env.split("/")[1].split("-")[0].lower()
    writer = DatasetWriter(root, features_from_env(env), env_fps(env), robot)
    try:
        collect_episodes(env, device, writer, cfg.demos, cfg.env, seed=demo_seed(seed),
                         keep_failures=bool(getattr(cfg, "keep_failures", False)), progress=False)
    finally:
        writer.close()
        env.close()
    return root


def check_eval_unseen(cfg, seed: int) -> None:
    """Meta-World: the evaluation task positions must not coincide with demonstrated ones."""
    if not is_metaworld(cfg.env):
        return
    from postbc_ros.sim.metaworld_env import check_unseen

    env = make_bench_env(cfg, seed=0)
    demo = [env.reset(seed=demo_seed(seed) + k)[1]["task_position"]
            for k in range(cfg.demos * DEMO_SEEDS_CHECKED_PER_DEMO)]
    n_eval = max(cfg.eval_episodes, getattr(cfg, "final_eval_episodes", 0))  # the learning bench's ends
    ev = [env.reset(seed=eval_seed(seed) + k)[1]["task_position"] for k in range(n_eval)]
    env.close()
    check_unseen(demo, ev)


@contextmanager
def seed_demos(cfg, seed: int) -> Iterator[tuple[Path, Any]]:
    """One benchmark seed's demonstrations, recorded into a temporary directory (removed on exit), and
    their training windows for `cfg.train`: yields (dataset root, TrainingData). Meta-World's
    evaluation positions are checked unseen first (check_eval_unseen)."""
    from postbc_ros.learning.training_data import load_training_data

    check_eval_unseen(cfg, seed)
    with tempfile.TemporaryDirectory(prefix="postbc_bench_") as tmp:
        root = record_demos(cfg, seed, Path(tmp) / "demos")
        yield root, load_training_data(root, cfg.train.obs_history, cfg.train.horizon)


def pretrained_runners(cfg, seeds: int, train_configs, runner_seed=eval_seed) -> Iterator[tuple[int, str, Any, Any]]:
    """For each seed's demonstrations (seed_demos) and each `name: TrainConfig` of
    `train_configs(seed)`: pretrain on CPU, then yield (seed, name, PolicyRunner of the EMA policy
    seeded runner_seed(seed), the evaluation env seeded eval_seed(seed)); the env is closed after."""
    import torch

    from postbc_ros.learning import pretrain
    from postbc_ros.learning.runner import PolicyRunner

    for seed in range(seeds):
        with seed_demos(cfg, seed) as (_root, data):
            for name, tcfg in train_configs(seed).items():
                torch.manual_seed(seed)
                res = pretrain(data, tcfg, progress=False)
                runner = PolicyRunner(res.ema.model.eval(), "cpu", seed=runner_seed(seed))
                env = make_bench_env(cfg, eval_seed(seed))
                try:
                    yield seed, name, runner, env
                finally:
                    env.close()


def demo_transitions(root: Path, policy, gamma: float, reward: str = "zero_one") -> list[dict]:
    """The recorded demonstrations in `root` as chunk transitions for `policy`'s agent."""
    from postbc_ros.data import DemoDataset
    from postbc_ros.rl.rollout import episode_to_transitions

    ds = DemoDataset(root)
    out = []
    cfg = policy.cfg
    for i in range(ds.num_episodes):
        out += episode_to_transitions(ds.episode(i), list(cfg.obs_keys), cfg.obs_history, cfg.n_action_steps,
                                      gamma, success=ds.episode_success(i), reward=reward)
    return out
