"""benchmarks.stats: the intervals on known inputs (closed forms written out here, not scipy's),
the headline rule, and the plots reading results written before the intervals existed."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from postbc_ros.benchmarks import stats

Z = 1.959963984540054  # standard normal 0.975 quantile
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def wilson_closed_form(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k,n", [(0, 100), (50, 100), (100, 100), (7, 20), (1, 1)])
def test_wilson_matches_the_closed_form(k, n):
    assert stats.wilson_ci95(k, n) == pytest.approx(wilson_closed_form(k, n), abs=1e-9)


def test_wilson_known_values():
    lo, hi = stats.wilson_ci95(0, 100)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(Z * Z / (100 + Z * Z))  # 0.0370
    assert stats.wilson_ci95(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    with pytest.raises(ValueError):
        stats.wilson_ci95(0, 0)


def test_t_interval_for_five_seeds():
    x = [0.5, 0.6, 0.7, 0.4, 0.3]  # mean 0.5, sd sqrt(0.025); t(4, 0.975) = 2.776445
    h = 2.776445 * math.sqrt(0.025) / math.sqrt(5)  # 0.1963
    r = stats.mean_ci95(x)
    assert (r["mean"], r["ci95_low"], r["ci95_high"]) == pytest.approx((0.5, 0.5 - h, 0.5 + h), abs=1e-6)
    s = stats.success_stats(x, 100)
    assert s["ci95_seeds"] == pytest.approx([0.5 - h, 0.5 + h], abs=1e-6)
    assert (s["n_seeds"], s["episodes_per_seed"], s["n_episodes"], s["successes"]) == (5, 100, 500, 250)
    assert s["ci95_wilson"] == pytest.approx(wilson_closed_form(250, 500), abs=1e-9)
    assert s["per_seed"] == x
    # a rate's t-interval is clipped to [0, 1]; one seed has none, its Wilson interval stays
    assert stats.success_stats([0.0, 0.0, 0.1], 10)["ci95_seeds"][0] == 0.0
    one = stats.success_stats([0.3], 10)
    assert one["ci95_seeds"] is None and one["ci95_wilson"] == pytest.approx(wilson_closed_form(3, 10))


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Stat. Med. 17:873, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339
    assert stats.newcombe_ci95(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_difference_is_paired_over_seeds_and_names_what_it_resolves():
    a, b = [0.6, 0.7, 0.8, 0.65, 0.75], [0.5, 0.62, 0.66, 0.6, 0.6]
    d = stats.difference_stats(a, b, 100, 50)
    diffs = np.subtract(a, b)
    h = 2.776445 * diffs.std(ddof=1) / math.sqrt(5)
    assert d["per_seed"] == pytest.approx(diffs.tolist())
    assert d["ci95_seeds"] == pytest.approx([diffs.mean() - h, diffs.mean() + h], abs=1e-6)
    assert d["min_detectable_difference"] == pytest.approx(h, abs=1e-6)
    assert diffs.mean() - h > 0 and d["resolved"] is True  # a Python bool (JSON)
    assert d["ci95_newcombe"] == pytest.approx(stats.newcombe_ci95(350, 500, 149, 250))
    assert d["min_detectable_difference_pooled"] == pytest.approx((d["ci95_newcombe"][1] - d["ci95_newcombe"][0]) / 2)
    assert stats.difference_stats([0.5], [0.4], 10, 10)["ci95_seeds"] is None
    with pytest.raises(ValueError):
        stats.difference_stats([0.5, 0.4], [0.4], 10, 10)


def test_headline_rule():
    ok = stats.headline_check(5, 50, 100)
    assert ok["meets"] and ok["short_of"] == []
    short = stats.headline_check(3, 20, 20)
    assert not short["meets"] and len(short["short_of"]) == 3
    assert not stats.headline_check(5, 50)["meets"]  # one point: it is the final one, needs 100
    assert stats.headline_check(5, 100)["meets"]


def test_plots_read_results_written_before_the_intervals(tmp_path):
    """The stored results (no ci95_seeds / ci95_wilson / comparisons) still plot."""
    from postbc_ros.benchmarks.learning import plot_learning
    from postbc_ros.benchmarks.pretrain import plot_pretrain

    learning = sorted(RESULTS.glob("learning_*.json"))[:2]
    pretrain = sorted(RESULTS.glob("pretrain_*.json"))
    pretrain = [p for p in pretrain if json.loads(p.read_text()).get("benchmark") == "pretrain"][:2]
    assert learning and pretrain
    for p in learning:
        assert plot_learning(json.loads(p.read_text()), tmp_path / f"{p.stem}.png").read_bytes()[:4] == b"\x89PNG"
    for p in pretrain:
        assert plot_pretrain(json.loads(p.read_text()), tmp_path / f"{p.stem}.png").read_bytes()[:4] == b"\x89PNG"
