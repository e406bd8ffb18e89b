"""Speed of the RL finetuners (not a test): prints one JSON object.

- act latency: DSRL / DSRL-NA / Best-of-N `act()` vs the baseline of sampling the frozen
  diffusion policy alone (ratio = agent / baseline, measured in this run on this machine);
- update throughput: gradient steps per second of each agent at the paper's batch size.

    .venv/bin/python bench/bench_rl.py [--device auto] [--repeats 50]

The learning benchmark (success vs online episodes) is `postbc bench learning`.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def toy_policy(device: str):
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.training_data import windows_from_episodes

    rng = np.random.default_rng(0)
    eps = []
    for _ in range(5):
        s = rng.uniform(-1, 1, size=(20, 16)).astype(np.float32)
        eps.append({"obs": {"state": s}, "action": np.tanh(s[:, :4])})
    data = windows_from_episodes(eps, obs_history=1, horizon=4)
    cfg = TrainConfig(method="bc", epochs=2, hidden=[256, 256, 256], horizon=4, n_action_steps=4, seed=0, device=device)
    return pretrain(data, cfg, progress=False).ema.model.eval()


def timed(fn, repeats: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    from postbc_ros.learning.train import resolve_device
    from postbc_ros.core.transition import Transition
    from postbc_ros.rl import BestOfNAgent, BestOfNConfig, DSRLAgent, DSRLConfig, DSRLNAAgent, DSRLNAConfig

    device = resolve_device(args.device)
    policy = toy_policy(str(device))
    rng = np.random.default_rng(0)
    obs = {"state": rng.uniform(-1, 1, size=(1, 16)).astype(np.float32)}
    obs_t = {"state": torch.as_tensor(obs["state"])[None].to(device)}
    base = timed(lambda: policy.sample(obs_t), args.repeats)
    agents = {
        "dsrl": DSRLAgent(policy, DSRLConfig(batch_size=args.batch_size, warmup_env_steps=0), device=device),
        "dsrl_na": DSRLNAAgent(policy, DSRLNAConfig(batch_size=args.batch_size, warmup_env_steps=0), device=device),
        "best_of_n": BestOfNAgent(policy, BestOfNConfig(batch_size=args.batch_size, n_samples=16), device=device),
    }
    out: dict = {"device": str(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                 "policy_sample_ms": base * 1e3, "agents": {}}
    for name, ag in agents.items():
        for _ in range(args.batch_size):
            s2 = {"state": rng.uniform(-1, 1, size=(1, 16)).astype(np.float32)}
            chunk, w = ag.act(obs, "explore")
            ag.observe(Transition(obs=obs, noise=w, action=chunk[:4], reward=0.0, discount=0.96, done=False,
                                  next_obs=s2, steps=4))
        act = timed(lambda: ag.act(obs, "eval"), args.repeats)
        upd = timed(lambda: ag.update(n_steps=1), max(5, args.repeats // 5))
        out["agents"][name] = {"act_ms": act * 1e3, "act_over_policy_sample": act / base,
                               "update_steps_per_s": 1.0 / upd}
    out["ratio_dsrl_na_over_dsrl_update_time"] = (out["agents"]["dsrl"]["update_steps_per_s"]
                                                  / out["agents"]["dsrl_na"]["update_steps_per_s"])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
