"""Merge `postbc bench learning` results of the same benchmark run method by method in separate
processes (`--methods bc` here, `--methods postbc` there, e.g. on two cores or two GPUs) into the
result one run with `--methods bc,postbc` would have written: the per-method curves unchanged,
the PostBC/BC ratios and the paired comparisons recomputed.

The runs pair by seed only if they saw the same demonstrations and evaluation seeds, so every
setting but `methods` must match; a mismatch is an error naming the setting."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from postbc_ros.benchmarks.learning import compare_methods, with_ratios

#: result keys that may differ between the parts (what each part ran and how long it took)
_PER_PART = ("methods", "wall_seconds", "comparisons")


class MergeError(ValueError):
    """The results cannot be merged (different settings, a method twice, not a learning result)."""


def load_learning_results(paths: list[str | Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        try:
            res = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MergeError(f"{path}: not readable as a JSON result ({e})") from e
        if res.get("benchmark") != "learning":
            raise MergeError(f"{path}: not a `postbc bench learning` result (benchmark = {res.get('benchmark')!r})")
        res["_path"] = str(path)
        out.append(res)
    return out


def merge_learning(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One learning result from parts that differ only in their methods."""
    if len(results) < 2:
        raise MergeError("give at least two results to merge")
    first = results[0]
    methods: dict[str, Any] = {}
    for res in results:
        for key in sorted(set(first) | set(res)):
            if key in _PER_PART or key.startswith("_"):
                continue
            if key == "config":
                a = {k: v for k, v in first["config"].items() if k != "methods"}
                b = {k: v for k, v in res["config"].items() if k != "methods"}
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                if diff:
                    raise MergeError(f"{res['_path']} differs from {first['_path']} in config {diff}: "
                                     "only --methods may differ between the parts")
            elif key not in ("torch_threads", "device") and first.get(key) != res.get(key):
                raise MergeError(f"{res['_path']} differs from {first['_path']} in {key!r}")
        for name, r in res["methods"].items():
            if name.startswith("_"):
                continue
            if name in methods:
                raise MergeError(f"method {name!r} is in more than one result ({res['_path']})")
            methods[name] = r
    methods = with_ratios(methods)
    merged = {k: v for k, v in first.items() if not k.startswith("_")}
    merged["config"] = dict(first["config"], methods=[m for m in methods if not m.startswith("_")])
    merged["methods"] = methods
    merged["comparisons"] = compare_methods(methods)
    merged["wall_seconds"] = sum(r["wall_seconds"] for r in results)
    merged["merged_from"] = [{"path": r["_path"], "methods": r["config"]["methods"], "wall_seconds": r["wall_seconds"],
                              "device": r.get("device"), "torch_threads": r.get("torch_threads")} for r in results]
    return merged
