"""CPU thread count for the torch-heavy commands."""
from __future__ import annotations


def set_cpu_threads() -> None:
    """On CPU, torch uses OMP_NUM_THREADS threads (default 1: the commands here share 2 cores)."""
    import os

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
