"""Means and 95 % confidence intervals over benchmark seeds."""
from __future__ import annotations

import math

import numpy as np

# two-sided 95 % interval: the Student-t quantile at 1 - 0.05 / 2
CI95_QUANTILE = 0.975


def mean_ci95(x: np.ndarray) -> dict[str, float]:
    """Mean and Student-t 95 % interval over seeds (unclipped: also used for differences)."""
    from scipy.stats import t as student_t

    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return {"mean": m, "ci95_low": m, "ci95_high": m}
    h = float(student_t.ppf(CI95_QUANTILE, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": m, "ci95_low": m - h, "ci95_high": m + h}


def success_ci95(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of a success rate, the interval clipped to [0, 1]."""
    r = mean_ci95(x)
    return r["mean"], max(0.0, r["ci95_low"]), min(1.0, r["ci95_high"])
