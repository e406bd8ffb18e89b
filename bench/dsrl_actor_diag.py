#!/usr/bin/env python3
"""Where DSRL's deterministic actor steers early in finetuning, against the pretrained policy's
two reference behaviours measured in the same run: sampled noise (w ~ N(0, I), `base`) and the
deterministic chunk (w = 0, `zero`).

Records the same demonstrations and pretrains the same policy as `postbc bench learning` (same
seeds and defaults), then runs DSRL online and, after selected episodes, evaluates the actor
(`eval`) and measures the noise it outputs along one evaluation episode: mean |w_i|, the fraction
of entries within 0.1 of the bound, and ||w||² (N(0, I) gives noise_dim, w = 0 gives 0), and
what the critics predict there for the actor's noise, for w = 0 and for draws of N(0, I).
Prints one JSON object.

    python bench/dsrl_actor_diag.py [--env postbc/UR5ePush-v0] [--method bc] [--seed 0] \
        [--episodes 30] [--eval-episodes 20] [--check 5,10,20,30] [--warmup-episodes 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")


def noise_stats(agent, env, seed: int, steps: int = 30) -> dict[str, float]:
    import numpy as np
    import torch

    obs, _ = env.reset(seed=seed)
    hist = agent.new_history()
    s = hist.reset(obs)
    ws, feats = [], []
    for _ in range(steps):
        chunk, w = agent.act(s, mode="eval")
        ws.append(w.ravel())
        feats.append(agent.fp.features(agent.fp.to_torch(s, batched=False)))
        obs, _r, term, trunc, _i = env.step(chunk[0])
        s = hist.push(obs)
        if term or trunc:
            break
    ws = np.array(ws)
    bound = float(agent.cfg.noise_bound)
    out = {"mean_abs_w": float(np.abs(ws).mean()), "frac_near_bound": float((np.abs(ws) > bound - 0.1).mean()),
           "sq_norm_w": float((ws ** 2).sum(1).mean()), "noise_dim": int(ws.shape[1])}
    if getattr(agent, "critic", None) is not None and feats:
        # the critics' view at the same states (min over critics, as the actor sees it): the actor's
        # noise, w = 0 and 64 draws of N(0, I) clipped to the bound. Returns are <= 1 (0/1 reward)
        f = torch.cat(feats)
        q = lambda w: agent.critic(f, w).min(dim=0).values  # noqa: E731
        with torch.no_grad():
            w_actor = torch.as_tensor(ws, dtype=torch.float32)
            draws = torch.stack([q(agent.base_noise(len(f), clip=True)) for _ in range(64)])
            out.update(q_actor=float(q(w_actor).mean()), q_zero=float(q(torch.zeros_like(w_actor)).mean()),
                       q_random_mean=float(draws.mean()), q_random_max=float(draws.max(0).values.mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="postbc/UR5ePush-v0")
    ap.add_argument("--method", default="bc", choices=["bc", "sigma_bc", "postbc"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--check", default="5,10,20,30", help="episodes after which the actor is evaluated")
    ap.add_argument("--warmup-episodes", type=int, default=2, help="episodes acting with w ~ N(0, I) first")
    ap.add_argument("--init-alpha", type=float, default=None, help="SAC temperature at the start (default: DSRLConfig's)")
    ap.add_argument("--step-reward", type=float, default=0.0,
                    help="added to every env step's 0/1 reward before the agent stores it (-1: the paper's -1/0 DSRL reward)")
    ap.add_argument("--backup-entropy", choices=["on", "off"], default=None,
                    help="include the entropy bonus in the critic's TD target (default: BenchConfig's, off)")
    a = ap.parse_args()
    if a.init_alpha is not None and not a.init_alpha > 0:
        ap.error(f"--init-alpha must be > 0 (the SAC temperature is learned in log space), got {a.init_alpha}")

    import torch

    from postbc_ros.benchmarks.demos import eval_seed, make_bench_env, online_seed, record_demos
    from postbc_ros.benchmarks.learning import BenchConfig, bench_train_config, make_agent
    from postbc_ros.benchmarks.rollout import evaluate, run_episode
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.training_data import load_training_data

    torch.set_num_threads(1)
    t0 = time.time()
    seed = a.seed
    train = dataclasses.replace(bench_train_config(), method=a.method, epochs=a.epochs, seed=seed, device="cpu")
    cfg = BenchConfig(env=a.env, demos=a.demos, methods=[a.method], finetune="dsrl", seeds=1,
                      budget_episodes=a.episodes, eval_episodes=a.eval_episodes, train=train, progress=False,
                      **({} if a.backup_entropy is None else {"backup_entropy": a.backup_entropy == "on"}))
    with tempfile.TemporaryDirectory(prefix="postbc_dsrl_diag_") as tmp:
        root = record_demos(cfg, seed, Path(tmp) / "demos")
        data = load_training_data(root, train.obs_history, train.horizon)
    torch.manual_seed(seed)
    res = pretrain(data, train, progress=False)
    agent = make_agent(cfg, res.ema.model.eval(), seed, torch.device("cpu"))
    # warm start = the first --warmup-episodes episodes, learning through them (as when this ran)
    agent.cfg.warmup_env_steps, agent.cfg.train_during_warmup = (10**9 if a.warmup_episodes else 0), True
    if a.init_alpha is not None:  # before the first act builds the networks
        agent.cfg.init_alpha = a.init_alpha
    if a.step_reward:
        observe, g = agent.observe, agent.discount

        def shifted(tr):  # chunk reward sum_i g^i (r_i + c) over the k executed steps (discount = g^k)
            return observe({**tr, "reward": tr["reward"] + a.step_reward * (1 - tr["discount"]) / (1 - g)})
        agent.observe = shifted
    ev_seed = eval_seed(seed)
    ev, train_env = make_bench_env(cfg, ev_seed), make_bench_env(cfg, online_seed(seed))
    out = {"config": vars(a), "pretrained": {
        "base": evaluate(ev, agent, a.eval_episodes, "base", ev_seed),
        "zero": evaluate(ev, agent, a.eval_episodes, "zero", ev_seed)}}
    checks = sorted({int(x) for x in a.check.split(",") if x.strip()})
    actor = [{"episodes": 0, "success": evaluate(ev, agent, a.eval_episodes, "eval", ev_seed),
              **noise_stats(agent, ev, seed=123)}]
    steps = 0
    for ep in range(1, a.episodes + 1):
        steps += run_episode(train_env, agent, "explore", seed=online_seed(seed) + ep, learn=True).env_steps
        if ep == a.warmup_episodes:
            agent.cfg.warmup_env_steps = steps  # as the learning bench: warm start = the first episodes
        if ep in checks:
            with torch.no_grad():
                actor.append({"episodes": ep, "env_steps": steps,
                              "success": evaluate(ev, agent, a.eval_episodes, "eval", ev_seed),
                              **noise_stats(agent, ev, seed=123)})
    ev.close()
    train_env.close()
    out["actor"] = actor
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
