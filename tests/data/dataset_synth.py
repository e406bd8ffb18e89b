"""Deterministic synthetic episodes for the dataset tests (also imported by crash_recorder.py)."""
from __future__ import annotations

import numpy as np

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [6], "names": None},
    "observation.images.scene": {"dtype": "image", "shape": [12, 16, 3], "names": ["height", "width", "channel"]},
    "action": {"dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "gripper"]},
    "next.success": {"dtype": "bool", "shape": [1], "names": None},
    "intervention": {"dtype": "bool", "shape": [1], "names": None},
}


def make_episode(seed: int, length: int, images: bool = True) -> list[dict]:
    """Frames with full-range float32 values (incl. subnormals/extremes) and random pixels."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(length):
        state = rng.standard_normal(6).astype(np.float32) * np.float32(10.0) ** rng.integers(-30, 30, 6)
        f = {
            "observation.state": state.astype(np.float32),
            "action": rng.uniform(-1, 1, 4).astype(np.float32),
            "next.success": bool(t == length - 1 and seed % 2 == 0),
            "intervention": bool(rng.random() < 0.3),
        }
        if images:
            f["observation.images.scene"] = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        frames.append(f)
    return frames


def features(images: bool = True) -> dict:
    return {k: v for k, v in FEATURES.items() if images or v["dtype"] != "image"}
