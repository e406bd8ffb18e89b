"""A reader of a dataset that a live recorder is rewriting must see whole files, never a torn one:
the writer replaces metadata atomically, and read_parquet must read a single version of the file."""
import multiprocessing as mp
import time

import numpy as np
import pyarrow as pa
import pytest

from postbc_ros.data.lerobot_format import atomic_write_parquet, read_parquet


def _rewrite(path, stop):
    i = 0
    while not stop.is_set():
        n = 1 + i % 50
        atomic_write_parquet(path, pa.table({"x": np.arange(n), "s": [str(j) * (1 + i % 7) for j in range(n)]}))
        i += 1


def test_read_parquet_during_atomic_rewrites(tmp_path):
    path = tmp_path / "meta" / "episodes.parquet"
    atomic_write_parquet(path, pa.table({"x": [0], "s": ["0"]}))
    stop = mp.get_context("fork").Event()
    proc = mp.get_context("fork").Process(target=_rewrite, args=(path, stop))
    proc.start()
    reads = 0
    try:
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:  # reading by path failed ~1 in 10 here before the fix
            t = read_parquet(path)
            assert t.num_rows == len(t.column("s"))
            reads += 1
    finally:
        stop.set()
        proc.join(10)
    assert reads > 100


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    from postbc_ros.data.lerobot_format import atomic_write_bytes, atomic_write_json

    path = tmp_path / "meta" / "info.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(Exception):
        atomic_write_parquet(path, "not a table")  # pyarrow refuses: raised inside the temp-file write
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "text, not bytes")
    assert path.read_text() == '{\n    "v": 1\n}\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["info.json"]
    table = pa.table({"x": [1, 2]})
    atomic_write_parquet(path.with_suffix(".parquet"), table)
    assert read_parquet(path.with_suffix(".parquet")).equals(table)
