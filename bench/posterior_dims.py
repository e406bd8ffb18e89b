"""Where PostBC's posterior puts its noise: per action dimension, the ensemble's variance Σ_dd (mean over
training windows, summed over the chunk) against the demonstrations' own action variance, both in the
policy's normalised action space. Also the gripper's Σ in windows whose demonstrated chunk switches
the gripper against the others. Uses the pretrain bench's demonstrations and ensemble settings
(postbc_ros.benchmarks.pretrain: K, ensemble steps, state entries), no policy and no rollouts.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/posterior_dims.py --env postbc/WidowXPickPlace-v0 \
        --demos 10 --seeds 5 --json posterior_dims.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SWITCH = 0.5  # a chunk "switches the gripper" when its normalised gripper command spans more than this


def dims_record(cov, actions, names: list[str] | None, alpha: float) -> dict:
    """cov: (n, H·d, H·d) Σ per window; actions: (n, H, d) normalised demonstrated chunks."""
    import torch

    n, h, d = actions.shape
    var = actions.reshape(n, -1).var(0, unbiased=False).reshape(h, d).sum(0)
    diag = torch.diagonal(cov, dim1=-2, dim2=-1).reshape(n, h, d)
    sigma = diag.mean(0).sum(0)
    grip = actions[:, :, -1]
    switching = (grip.max(1).values - grip.min(1).values) > SWITCH
    per_dim = {}
    for i in range(d):
        name = names[i] if names and len(names) == d else f"a{i}"
        per_dim[name] = {"action_variance": float(var[i]), "sigma": float(sigma[i]),
                         "sigma_over_variance": float(sigma[i] / var[i]) if var[i] > 0 else None,
                         "share_of_trace": float(sigma[i] / sigma.sum()),
                         "noise_std_per_step": float(alpha * (sigma[i] / h) ** 0.5)}
    rec = {"per_dim": per_dim, "alpha_auto": alpha, "windows": n, "switching_fraction": float(switching.float().mean())}
    if switching.any() and (~switching).any():
        rec["last_dim_sigma_switching"] = float(diag[switching, :, -1].sum(1).mean())
        rec["last_dim_sigma_other"] = float(diag[~switching, :, -1].sum(1).mean())
    return rec


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _mean(xs: list[float | None]) -> float | None:
    """Mean over the seeds that define it (a dimension the demos never vary has no ratio)."""
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def run(env: str, demos: int, seeds: int, max_episode_steps: int | None = None) -> dict:
    import torch

    from postbc_ros.benchmarks.demos import seed_demos
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig
    from postbc_ros.learning.normalization import MinMaxNormalizer
    from postbc_ros.learning.posterior import trace_cov
    from postbc_ros.learning.train import build_policy_config, fit_posterior, posterior_alpha

    spec = "postbc:alpha=auto"
    cfg = PretrainBenchConfig(env=env, demos=demos, seeds=seeds, eval_episodes=1, variants=[spec], progress=False,
                              max_episode_steps=max_episode_steps)
    out = {"env": env, "demos": demos, "seeds": seeds, "max_episode_steps": max_episode_steps, "per_seed": []}
    for seed in range(seeds):
        tcfg = cfg.train_config(spec, seed, "cpu")
        with seed_demos(cfg, seed) as (_root, data):
            pcfg = build_policy_config(data, tcfg)
            norm = MinMaxNormalizer.fit(data.actions)
            ens, cov, _f, _l = fit_posterior(data, pcfg, tcfg, norm, torch.device("cpu"), progress=False)
            alpha = posterior_alpha(tcfg, trace_cov(cov), data, norm)  # the α pretrain would use
            names = (data.features.get("action") or {}).get("names")
            rec = dims_record(cov, norm.normalize(torch.as_tensor(data.actions)), names, alpha)
            out["per_seed"].append({"seed": seed, "ensemble_size": ens.k, **rec})
            print(f"seed {seed}: " + ", ".join(f"{k} Σ/var {_fmt(v['sigma_over_variance'])} share {v['share_of_trace']:.2f}"
                                                for k, v in rec["per_dim"].items()), file=sys.stderr)
    dims = out["per_seed"][0]["per_dim"].keys()
    out["mean"] = {k: {m: _mean([s["per_dim"][k][m] for s in out["per_seed"]])
                       for m in ("sigma_over_variance", "share_of_trace", "noise_std_per_step")} for k in dims}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="postbc/WidowXPickPlace-v0")
    p.add_argument("--demos", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--max-episode-steps", type=int, default=None, help="episode cap (as the pretrain bench's)")
    p.add_argument("--json", dest="json_out", required=True)
    a = p.parse_args(argv)
    t0 = time.time()
    out = run(a.env, a.demos, a.seeds, a.max_episode_steps)
    out["wall_seconds"] = time.time() - t0
    Path(a.json_out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out["mean"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
