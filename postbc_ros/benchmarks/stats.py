"""Means and 95 % confidence intervals of benchmark success rates, and what a comparison resolves.

Every success rate a benchmark reports comes with two intervals (`success_stats`):

- `ci95_seeds`: Student-t 95 % interval of the mean over seeds (scipy.stats.t, n_seeds − 1
  degrees of freedom), clipped to [0, 1]; None with one seed. It carries the variation between
  seeds (demonstrations, training, RL) and is the interval a claim about a method rests on.
- `ci95_wilson`: Wilson score 95 % interval of the success rate pooled over all evaluation episodes
  of all seeds (scipy.stats.binomtest(...).proportion_ci("wilson")). It treats the episodes as one
  binomial sample, so it ignores the variation between seeds: a lower bound on the uncertainty.

A difference between two rates (`difference_stats`) gets the t-interval of the per-seed (paired)
differences and Newcombe's hybrid score interval (from the two Wilson intervals) of the difference
of the pooled rates; `min_detectable_difference` is the half-width of the former — a difference
smaller than it is not resolved at the 95 % level.

The headline rule (`headline_check`): at least HEADLINE_SEEDS seeds and HEADLINE_EPISODES evaluation
episodes per point, HEADLINE_FINAL_EPISODES at the final point.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

# two-sided 95 % interval: the Student-t quantile at 1 - 0.05 / 2
CI95_QUANTILE = 0.975
CONFIDENCE = 0.95

#: a headline result: >= 5 seeds, >= 50 evaluation episodes per point, >= 100 at the final point
HEADLINE_SEEDS = 5
HEADLINE_EPISODES = 50
HEADLINE_FINAL_EPISODES = 100

#: what the interval keys in the results mean (written into every result JSON)
INTERVALS = {
    "ci95_seeds": "95 % Student-t interval of the mean over seeds (scipy.stats.t, n_seeds-1 dof; clipped to [0, 1] "
                  "for rates, unclipped for differences); null with one seed",
    "ci95_wilson": "95 % Wilson score interval of the success rate pooled over all n_episodes evaluation episodes "
                   "(all seeds as one binomial sample: ignores the variation between seeds)",
    "ci95_newcombe": "95 % Newcombe hybrid score interval of a difference of two pooled rates (from their Wilson "
                     "intervals; episodes independent)",
    "ci95_low/ci95_high": "the ci95_seeds bounds (the mean itself with one seed), kept for older readers",
    "min_detectable_difference": "half-width of the ci95_seeds interval of the paired per-seed difference: a "
                                 "difference smaller than this is not resolved; "
                                 "min_detectable_difference_pooled: the same for ci95_newcombe",
}


def _t_half_width(x: np.ndarray) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(CI95_QUANTILE, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def mean_ci95(x: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean and Student-t 95 % interval over seeds (unclipped: also used for differences)."""
    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return {"mean": m, "ci95_low": m, "ci95_high": m}
    h = _t_half_width(x)
    return {"mean": m, "ci95_low": m - h, "ci95_high": m + h}


def success_ci95(x: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of a success rate over seeds, the t-interval clipped to [0, 1]."""
    r = mean_ci95(x)
    return r["mean"], max(0.0, r["ci95_low"]), min(1.0, r["ci95_high"])


def wilson_ci95(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95 % interval of `successes` out of `n` (scipy's binomtest)."""
    from scipy.stats import binomtest

    if n < 1:
        raise ValueError("a Wilson interval needs n >= 1 episodes")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_ci95(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Newcombe's hybrid score 95 % interval of p1 − p2 (independent binomial samples), from the
    two Wilson intervals (Newcombe 1998, method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_ci95(k1, n1)
    l2, u2 = wilson_ci95(k2, n2)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def counts(rates: Sequence[float], episodes_per_seed: int | Sequence[int]) -> list[int]:
    """Per-seed success counts from per-seed rates over `episodes_per_seed` episodes."""
    n = np.broadcast_to(np.asarray(episodes_per_seed, dtype=int), (len(rates),))
    return [int(round(r * k)) for r, k in zip(rates, n)]


def success_stats(rates: Sequence[float], episodes_per_seed: int | Sequence[int]) -> dict[str, Any]:
    """Mean success over seeds with both 95 % intervals (module doc), per-seed values kept.

    `rates`: one success rate per seed, each over `episodes_per_seed` evaluation episodes (one
    number for all seeds, or one per seed)."""
    x = np.asarray(rates, dtype=float)
    if x.ndim != 1 or len(x) < 1:
        raise ValueError("success_stats needs one rate per seed (at least one seed)")
    n_each = [int(v) for v in np.broadcast_to(np.asarray(episodes_per_seed, dtype=int), x.shape)]
    k = counts(x.tolist(), n_each)
    n_total = sum(n_each)
    m, lo, hi = success_ci95(x)
    return {
        "mean": m,
        "per_seed": x.tolist(),
        "n_seeds": len(x),
        "episodes_per_seed": n_each[0] if len(set(n_each)) == 1 else n_each,
        "n_episodes": n_total,
        "successes": sum(k),
        "ci95_seeds": [lo, hi] if len(x) >= 2 else None,
        "ci95_wilson": list(wilson_ci95(sum(k), n_total)),
    }


def difference_stats(a: Sequence[float], b: Sequence[float], episodes_a: int | Sequence[int],
                     episodes_b: int | Sequence[int]) -> dict[str, Any]:
    """a − b where a[i] and b[i] come from the same seed (same demos and env seeds): the paired
    t-interval over seeds, Newcombe's interval of the pooled rates, and the half-widths."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 1:
        raise ValueError("difference_stats needs one rate per seed for both, on the same seeds")
    d = a - b
    t = mean_ci95(d)
    ka, kb = counts(a.tolist(), episodes_a), counts(b.tolist(), episodes_b)
    na = int(np.sum(np.broadcast_to(np.asarray(episodes_a, dtype=int), a.shape)))
    nb = int(np.sum(np.broadcast_to(np.asarray(episodes_b, dtype=int), b.shape)))
    nc = newcombe_ci95(sum(ka), na, sum(kb), nb)
    return {
        "mean": t["mean"],
        "per_seed": d.tolist(),
        "n_seeds": len(d),
        "ci95_seeds": [t["ci95_low"], t["ci95_high"]] if len(d) >= 2 else None,
        "ci95_newcombe": list(nc),
        "min_detectable_difference": (t["ci95_high"] - t["ci95_low"]) / 2 if len(d) >= 2 else None,
        "min_detectable_difference_pooled": (nc[1] - nc[0]) / 2,
        "resolved": (t["ci95_low"] > 0 or t["ci95_high"] < 0) if len(d) >= 2 else False,
    }


def headline_check(seeds: int, episodes_per_point: int, final_episodes: int | None = None) -> dict[str, Any]:
    """Whether a result is sized for a headline (module doc); `final_episodes` defaults to the
    per-point count (a benchmark with one point: that point is the final one)."""
    final = episodes_per_point if final_episodes is None else final_episodes
    short = []
    if seeds < HEADLINE_SEEDS:
        short.append(f"seeds {seeds} < {HEADLINE_SEEDS}")
    if episodes_per_point < HEADLINE_EPISODES:
        short.append(f"evaluation episodes per point {episodes_per_point} < {HEADLINE_EPISODES}")
    if final < HEADLINE_FINAL_EPISODES:
        short.append(f"evaluation episodes at the final point {final} < {HEADLINE_FINAL_EPISODES}")
    return {"rule": f">= {HEADLINE_SEEDS} seeds, >= {HEADLINE_EPISODES} evaluation episodes per point, "
                    f">= {HEADLINE_FINAL_EPISODES} at the final point",
            "seeds": seeds, "episodes_per_point": episodes_per_point, "final_episodes": final,
            "meets": not short, "short_of": short}
