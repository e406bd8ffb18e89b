"""Shared by the benchmark tests: the scripts under bench/ (not a package) loaded by path."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(name: str):
    """bench/<name>.py as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the script runs
    spec.loader.exec_module(mod)
    return mod
