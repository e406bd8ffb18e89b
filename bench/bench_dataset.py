#!/usr/bin/env python3
"""Dataset I/O speed: frames/s written (DatasetWriter, crash-safe per episode) and read back
(DemoDataset.episode, PNG decoding included), state-only vs state + one camera image.

Prints one JSON object. Baselines measured in the same run:
  * `write_vs_plain_parquet`: our state-only write rate / one plain pyarrow.parquet.write_table of
    the same columns (the cost of per-episode atomic files, validation and stats);
  * `image_vs_state`: image-dataset rates / state-only rates.

    python bench/bench_dataset.py [--episodes 20] [--length 100] [--image-size 96]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _features(image_size: int | None) -> dict:
    f = {
        "observation.state": {"dtype": "float32", "shape": [13], "names": None},
        "action": {"dtype": "float32", "shape": [4], "names": None},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
    }
    if image_size:
        f["observation.images.scene"] = {"dtype": "image", "shape": [image_size, image_size, 3], "names": None}
    return f


def _frames(n: int, image_size: int | None, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:image_size or 1, 0:image_size or 1]
    out = []
    for t in range(n):
        f = {"observation.state": rng.standard_normal(13).astype(np.float32),
             "action": rng.uniform(-1, 1, 4).astype(np.float32), "next.success": t == n - 1}
        if image_size:  # a smooth rendered-like scene plus sensor noise (PNG-compressible like a camera frame)
            base = np.stack([(xx + t) % 256, (yy * 2) % 256, (xx + yy) % 256], -1)
            f["observation.images.scene"] = (base + rng.integers(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
        out.append(f)
    return out


def run(episodes: int, length: int, image_size: int | None) -> dict:
    import numpy as np

    from postbc_ros.data import DatasetWriter, DemoDataset

    eps = [_frames(length, image_size, s) for s in range(episodes)]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        w = DatasetWriter(d, _features(image_size), fps=10)
        for frames in eps:
            for f in frames:
                w.add_frame(f)
            w.save_episode("bench", success=True)
        t_write = time.perf_counter() - t0
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
        t0 = time.perf_counter()
        ds = DemoDataset(d)
        n = 0
        for i in range(ds.num_episodes):
            n += len(ds.episode(i)["action"])
        t_read = time.perf_counter() - t0
        assert n == episodes * length
        assert np.array_equal(ds.episode(0)["action"], np.stack([f["action"] for f in eps[0]]))
    frames = episodes * length
    return {"write_fps": frames / t_write, "read_fps": frames / t_read, "bytes_per_frame": size / frames}


def plain_parquet_fps(episodes: int, length: int) -> float:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    eps = [_frames(length, None, s) for s in range(episodes)]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        frames = [f for e in eps for f in e]
        st = np.stack([f["observation.state"] for f in frames])
        ac = np.stack([f["action"] for f in frames])
        table = pa.table({
            "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(st.reshape(-1)), 13),
            "action": pa.FixedSizeListArray.from_arrays(pa.array(ac.reshape(-1)), 4),
            "next.success": pa.array([f["next.success"] for f in frames]),
        })
        pq.write_table(table, os.path.join(d, "plain.parquet"))
        return len(frames) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--image-size", type=int, default=96)
    a = ap.parse_args()
    state = run(a.episodes, a.length, None)
    image = run(a.episodes, a.length, a.image_size)
    plain = plain_parquet_fps(a.episodes, a.length)
    print(json.dumps({
        "episodes": a.episodes,
        "frames_per_episode": a.length,
        "image_size": a.image_size,
        "state": {k: round(v, 1) for k, v in state.items()},
        "image": {k: round(v, 1) for k, v in image.items()},
        "plain_parquet_write_fps_state": round(plain, 1),
        "write_vs_plain_parquet": round(state["write_fps"] / plain, 4),
        "image_vs_state": {"write": round(image["write_fps"] / state["write_fps"], 4),
                           "read": round(image["read_fps"] / state["read_fps"], 4)},
    }, indent=2))


if __name__ == "__main__":
    main()
