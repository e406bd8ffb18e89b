"""Benchmark: batched bootstrap-ensemble training vs K independently trained members.

Setting from the issue: K members on 10 state demonstrations (synthetic, ~40 steps each,
16-D state, 4-step chunks of 4-D actions), MLP members of the policy's size. Both variants run
the same number of optimiser steps on the same minibatches in this process; the baseline is
a Python loop over K single-member networks (what one would write without batching).
Prints one JSON object: seconds per epoch for each, the speed ratio, and the projected time
of a full ensemble run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_learning.py [--k 100] [--epochs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from postbc_ros.learning.bootstrap import bootstrap_weights
from postbc_ros.learning.ensemble import PosteriorEnsemble, member_losses, train_ensemble


def synthetic_demos(n_demos: int, length: int, state_dim: int, flat_dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_demos * length
    obs = {"state": torch.as_tensor(rng.normal(size=(n, 1, state_dim)).astype(np.float32))}
    y = torch.as_tensor(np.tanh(rng.normal(size=(n, flat_dim))).astype(np.float32))
    return obs, y, np.repeat(np.arange(n_demos), length)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed for the batched ensemble")
    ap.add_argument("--baseline-members", type=int, default=10,
                    help="members timed for the sequential baseline (time scales linearly in K)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--full-epochs", type=int, default=300, help="epochs used for the projected full-run time")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    obs, y, ep = synthetic_demos(args.demos, args.length, 16, 16)
    n = y.shape[0]
    w = torch.as_tensor(bootstrap_weights(ep, args.k, "trajectory", np.random.default_rng(0)))
    hidden = [args.hidden] * 3

    ens = PosteriorEnsemble({"state": [16]}, 1, 16, args.k, hidden)
    train_ensemble(ens, obs, y, w, epochs=1, batch_size=args.batch_size, progress=False)  # warm-up
    t0 = time.perf_counter()
    train_ensemble(ens, obs, y, w, epochs=args.epochs, batch_size=args.batch_size, progress=False)
    batched_epoch = (time.perf_counter() - t0) / args.epochs

    # baseline: members one after another, each a K=1 network with its own optimiser
    m = min(args.baseline_members, args.k)
    feats = ens.encoder(obs)
    t0 = time.perf_counter()
    for i in range(m):
        single = PosteriorEnsemble({"state": [16]}, 1, 16, 2, hidden).heads.member(0)
        opt = torch.optim.AdamW(single.parameters(), lr=1e-3, weight_decay=0.0)
        perm = torch.randperm(n)
        for s in range(0, n, args.batch_size):
            idx = perm[s : s + args.batch_size]
            loss = member_losses(single(feats[idx]), y[idx], w[i : i + 1, idx]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    sequential_epoch = (time.perf_counter() - t0) / m * args.k
    print(json.dumps({
        "benchmark": "posterior_ensemble_training",
        "k": args.k, "samples": n, "demos": args.demos, "hidden": hidden, "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "batched_seconds_per_epoch": batched_epoch,
        "sequential_seconds_per_epoch": sequential_epoch,
        "speedup_batched_over_sequential": sequential_epoch / batched_epoch,
        "projected_batched_seconds_full_run": batched_epoch * args.full_epochs,
        "full_run_epochs": args.full_epochs,
    }))


if __name__ == "__main__":
    main()
