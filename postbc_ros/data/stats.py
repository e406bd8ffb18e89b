"""Per-episode and dataset statistics in LeRobot's layout (meta/stats.json, stats/<feature>/<stat>).

Each feature gets min, max, mean, std, count and the quantiles q01/q10/q50/q90/q99. Vectors get
per-dimension values ([n]); scalars [1]; images per channel ([3, 1, 1], scaled to [0, 1]) as
LeRobot's normalisers expect. Dataset stats aggregate the episode stats exactly for mean/std
(parallel variance) and count-weighted for quantiles, which is what LeRobot does too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from postbc_ros.data.lerobot_format import QUANTILE_KEYS, QUANTILES, is_image

MAX_IMAGE_STATS_SIDE = 150  # images larger than this are strided down for stats (like LeRobot)


def _vector_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """x: [T, n] -> stats of shape [n]."""
    xf = x.astype(np.float64)
    out: dict[str, np.ndarray] = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": xf.mean(axis=0),
        "std": xf.std(axis=0),
        "count": np.array([x.shape[0]], dtype=np.int64),
    }
    qs = np.quantile(xf, QUANTILES, axis=0)
    for key, q in zip(QUANTILE_KEYS, qs):
        out[key] = q
    return out


def _hist_quantile(cum: np.ndarray, n: int, q: float) -> float:
    """numpy's default ('linear') quantile of uint8 data given its cumulative 256-bin histogram."""
    pos = q * (n - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    v_lo = float(np.searchsorted(cum, lo, side="right"))
    v_hi = float(np.searchsorted(cum, hi, side="right"))
    return v_lo + (v_hi - v_lo) * (pos - lo)


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """frames: [T, H, W, 3] uint8 -> per-channel stats [3, 1, 1] in [0, 1].

    Exact, from one 256-bin histogram per channel (uint8 pixels), which is ~50x faster than
    sorting every pixel for the quantiles.
    """
    h, w = frames.shape[1:3]
    s = max(1, int(np.ceil(max(h, w) / MAX_IMAGE_STATS_SIDE)))
    px = np.ascontiguousarray(frames[:, ::s, ::s, :]).reshape(-1, 3)
    levels = np.arange(256, dtype=np.float64)
    acc: dict[str, list[float]] = {k: [] for k in ("min", "max", "mean", "std", *QUANTILE_KEYS)}
    for c in range(3):
        hist = np.bincount(px[:, c], minlength=256).astype(np.float64)
        n = int(hist.sum())
        nz = np.flatnonzero(hist)
        mean = float((hist * levels).sum() / n)
        acc["min"].append(float(nz[0]))
        acc["max"].append(float(nz[-1]))
        acc["mean"].append(mean)
        acc["std"].append(float(np.sqrt((hist * (levels - mean) ** 2).sum() / n)))
        cum = np.cumsum(hist)
        for key, q in zip(QUANTILE_KEYS, QUANTILES):
            acc[key].append(_hist_quantile(cum, n, q))
    out = {k: (np.asarray(v) / 255.0).reshape(3, 1, 1) for k, v in acc.items()}
    out["count"] = np.array([frames.shape[0]], dtype=np.int64)
    return out


def episode_stats(columns: dict[str, np.ndarray], features: dict[str, dict]) -> dict[str, dict[str, np.ndarray]]:
    """Stats of one episode: columns[name] is [T, ...] (scalars [T]; images [T, H, W, 3] uint8)."""
    out = {}
    for name, ft in features.items():
        if name not in columns:
            continue
        x = np.asarray(columns[name])
        if is_image(ft):
            out[name] = image_stats(x)
        else:
            out[name] = _vector_stats(x.reshape(x.shape[0], -1))
    return out


def aggregate_stats(per_episode: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Combine episode stats: exact mean/std/min/max/count, count-weighted quantiles."""
    keys = sorted({k for st in per_episode for k in st})
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in keys:
        parts = [st[key] for st in per_episode if key in st]
        counts = np.stack([np.asarray(p["count"], dtype=np.float64) for p in parts])  # [E, 1]
        means = np.stack([np.asarray(p["mean"], dtype=np.float64) for p in parts])
        var = np.stack([np.asarray(p["std"], dtype=np.float64) ** 2 for p in parts])
        w = counts.reshape((-1,) + (1,) * (means.ndim - 1))
        total = counts.sum()
        mean = (means * w).sum(axis=0) / total
        variance = ((var + (means - mean) ** 2) * w).sum(axis=0) / total
        agg = {
            "min": np.min(np.stack([np.asarray(p["min"]) for p in parts]), axis=0),
            "max": np.max(np.stack([np.asarray(p["max"]) for p in parts]), axis=0),
            "mean": mean,
            "std": np.sqrt(variance),
            "count": np.array([int(total)], dtype=np.int64),
        }
        for q in QUANTILE_KEYS:
            if all(q in p for p in parts):
                agg[q] = (np.stack([np.asarray(p[q], dtype=np.float64) for p in parts]) * w).sum(axis=0) / total
        out[key] = agg
    return out


def stats_to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    return {k: {s: np.asarray(v).tolist() for s, v in st.items()} for k, st in stats.items()}


def stats_from_json(obj: dict[str, dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    return {k: {s: np.asarray(v) for s, v in st.items()} for k, st in obj.items()}


def flatten_stats(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """{'stats/<feature>/<stat>': list} for one episode row in meta/episodes."""
    return {f"stats/{k}/{s}": np.asarray(v).tolist() for k, st in stats.items() for s, v in st.items()}


def unflatten_stats(row: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for col, v in row.items():
        if not col.startswith("stats/") or v is None:
            continue
        _, rest = col.split("/", 1)
        feature, stat = rest.rsplit("/", 1)
        out.setdefault(feature, {})[stat] = np.asarray(v)
    return out
