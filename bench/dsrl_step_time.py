"""Seconds per DSRL / DSRL-NA gradient step at a given network width (not a test): prints one JSON object.

What a run at DSRL's reference size costs on this machine: a WidowX reach policy (16-D state, 4-D
actions, chunk 4, so the noise is 16-D) pretrained briefly on recorded demonstrations, the agent's
replay filled with base-policy chunks from the twin, then `--steps` gradient steps timed per width
(the reference's other settings: batch 256, 3 layers, Tanh + LayerNorm, 2 critics, soft target).

    OMP_NUM_THREADS=1 .venv/bin/python bench/dsrl_step_time.py --widths 256,2048 --steps 100
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="postbc/WidowXReach-v0")
    ap.add_argument("--widths", default="256,2048", help="comma list of hidden widths")
    ap.add_argument("--kinds", default="dsrl", help="comma list of dsrl, dsrl_na")
    ap.add_argument("--steps", type=int, default=100, help="gradient steps timed per width")
    ap.add_argument("--chunks", type=int, default=512, help="base-policy chunks in the replay before timing")
    a = ap.parse_args()

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    from postbc_ros.benchmarks.demos import make_bench_env, record_demos
    from postbc_ros.benchmarks.learning import BenchConfig, bench_train_config
    from postbc_ros.benchmarks.rollout import run_episode
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.training_data import load_training_data
    from postbc_ros.rl.registry import make_agent

    train = dataclasses.replace(bench_train_config(), method="bc", epochs=20, seed=0, device="cpu")
    cfg = BenchConfig(env=a.env, demos=2, methods=["bc"], seeds=1, train=train, progress=False)
    with tempfile.TemporaryDirectory(prefix="postbc_dsrl_time_") as tmp:
        root = record_demos(cfg, 0, Path(tmp) / "demos")
        data = load_training_data(root, train.obs_history, train.horizon)
    policy = pretrain(data, train, progress=False).ema.model.eval()
    env = make_bench_env(cfg, seed=1)
    out: dict = {"env": a.env, "threads": torch.get_num_threads(), "steps": a.steps, "runs": []}
    for kind in [k.strip() for k in a.kinds.split(",") if k.strip()]:
        for width in [int(w) for w in a.widths.split(",") if w.strip()]:
            agent = make_agent(kind, policy, {"hidden": width, "warmup_env_steps": 10**9}, device="cpu", seed=0)
            ep = 0
            while agent.rl_steps < a.chunks:  # the warm start: w ~ N(0, I), no gradient step
                run_episode(env, agent, "explore", seed=100 + ep, learn=True)
                ep += 1
            agent.cfg.warmup_env_steps = 0
            agent.update(n_steps=1)  # builds the networks and warms the allocator
            t = time.perf_counter()
            agent.update(n_steps=a.steps)
            s = (time.perf_counter() - t) / a.steps
            params = sum(p.numel() for n, m in agent.modules.items() if not n.endswith("_target") for p in m.parameters())
            out["runs"].append({"kind": kind, "hidden": width, "layers": agent.cfg.layers,
                                "batch_size": agent.cfg.batch_size, "trainable_params": params,
                                "seconds_per_grad_step": s, "feat_dim": agent.feat_dim, "noise_dim": agent.fp.noise_dim})
            print(json.dumps(out["runs"][-1]), flush=True)
    env.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
