"""Writer -> reader round trip: floats bit-exact, images pixel-exact, LeRobot v3 metadata layout."""
import json

import numpy as np
import pyarrow.parquet as pq
from dataset_synth import FEATURES, features, make_episode

from postbc_ros.data import DatasetWriter, DemoDataset


def _write(root, lengths, images=True, **kw):
    w = DatasetWriter(root, features(images), fps=10, robot_type="widowx", **kw)
    eps = []
    for i, n in enumerate(lengths):
        frames = make_episode(i, n, images)
        for f in frames:
            w.add_frame(f)
        w.save_episode("pick up the block" if i % 2 == 0 else "push the block", success=(i % 2 == 0))
        eps.append(frames)
    w.close()
    return eps


def test_values_round_trip_exactly(tmp_path):
    eps = _write(tmp_path, [5, 1, 7])
    ds = DemoDataset(tmp_path)
    assert ds.num_episodes == 3 and ds.num_frames == 13 and ds.fps == 10 and ds.robot_type == "widowx"
    start = 0
    for i, frames in enumerate(eps):
        ep = ds.episode(i)
        for key in FEATURES:
            want = np.stack([np.asarray(f[key]) for f in frames])
            got = ep[key]
            assert got.dtype == want.dtype, key
            assert got.shape == want.shape, key
            if want.dtype.kind == "f":  # bit-exact, not just close
                assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), key
            else:
                assert np.array_equal(got, want), key
        n = len(frames)
        assert np.array_equal(ep["frame_index"], np.arange(n))
        assert np.array_equal(ep["index"], np.arange(start, start + n))
        assert np.array_equal(ep["episode_index"], np.full(n, i))
        np.testing.assert_allclose(ep["timestamp"], np.arange(n, dtype=np.float32) / np.float32(10), rtol=0, atol=1e-7)
        assert ds.episode_task(i) == ("pick up the block" if i % 2 == 0 else "push the block")
        assert ds.episode_success(i) is (i % 2 == 0)
        start += n
    assert ds.tasks == ["pick up the block", "push the block"]
    assert np.array_equal(ds.episode(2)["task_index"], np.zeros(7))


def test_lerobot_v3_metadata_layout(tmp_path):
    eps = _write(tmp_path, [4, 3])
    info = json.loads((tmp_path / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["total_episodes"] == 2 and info["total_frames"] == 7 and info["total_tasks"] == 2
    assert info["splits"] == {"train": "0:2"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["chunks_size"] == 1000 and info["fps"] == 10 and info["robot_type"] == "widowx"
    for k in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert info["features"][k]["shape"] == [1]
    assert info["features"]["observation.images.scene"] == FEATURES["observation.images.scene"]
    # data file: LeRobot/HF types (fixed-size lists, image struct, scalar columns)
    table = pq.read_table(tmp_path / "data/chunk-000/file-000.parquet")
    schema = table.schema
    assert str(schema.field("observation.state").type) == "fixed_size_list<element: float>[6]"
    assert str(schema.field("observation.images.scene").type) == "struct<bytes: binary, path: string>"
    assert str(schema.field("next.success").type) == "bool"
    assert str(schema.field("timestamp").type) == "float"
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["observation.images.scene"] == {"_type": "Image"}
    assert table.column("observation.images.scene")[0].as_py()["bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    # episode index
    rows = pq.read_table(tmp_path / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(r["episode_index"], r["length"], r["dataset_from_index"], r["dataset_to_index"]) for r in rows] == [
        (0, 4, 0, 4), (1, 3, 4, 7)]
    assert rows[0]["tasks"] == ["pick up the block"] and rows[0]["data/chunk_index"] == 0
    assert rows[0]["success"] is True and rows[1]["success"] is False
    assert np.asarray(rows[0]["stats/observation.images.scene/mean"]).shape == (3, 1, 1)
    # tasks as pandas writes them (index column)
    tasks = pq.read_table(tmp_path / "meta/tasks.parquet")
    assert tasks.column("__index_level_0__").to_pylist() == ["pick up the block", "push the block"]
    assert b"pandas" in tasks.schema.metadata
    # dataset stats: exact aggregate of all frames
    ds = DemoDataset(tmp_path)
    act = np.concatenate([np.stack([f["action"] for f in e]) for e in eps]).astype(np.float64)
    st = ds.stats["action"]
    np.testing.assert_allclose(st["mean"], act.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st["std"], act.std(0), rtol=1e-9)
    np.testing.assert_array_equal(st["min"], act.min(0))
    np.testing.assert_array_equal(st["max"], act.max(0))
    assert st["count"].tolist() == [7] and "q50" in st
    img = np.concatenate([np.stack([f["observation.images.scene"] for f in e]) for e in eps]).astype(np.float64)
    np.testing.assert_allclose(ds.stats["observation.images.scene"]["mean"].reshape(3),
                               img.reshape(-1, 3).mean(0) / 255, rtol=1e-12)


def test_state_only_and_file_rollover(tmp_path):
    # a tiny file-size limit forces several data files; episodes still map to the right file
    eps = _write(tmp_path, [6, 6, 6, 6], images=True, data_files_size_in_mb=0.005)
    files = sorted((tmp_path / "data/chunk-000").glob("file-*.parquet"))
    assert len(files) >= 2
    ds = DemoDataset(tmp_path)
    for i, frames in enumerate(eps):
        assert np.array_equal(ds.episode(i)["observation.images.scene"],
                              np.stack([f["observation.images.scene"] for f in frames]))
    assert len({ds.episode_meta(i)["data/file_index"] for i in range(4)}) == len(files)
    s = tmp_path / "state"
    _write(s, [3], images=False)
    assert "observation.images.scene" not in DemoDataset(s).episode(0)


def test_resume_appends_and_keeps_old_episodes(tmp_path):
    eps = _write(tmp_path, [4, 2])
    before = DemoDataset(tmp_path).episode(1)
    w = DatasetWriter(tmp_path, features(), fps=10, robot_type="widowx")
    assert w.num_episodes == 2 and w.num_frames == 6
    for f in make_episode(99, 3):
        w.add_frame(f)
    assert w.save_episode("pick up the block", success=True) == 2
    ds = DemoDataset(tmp_path)
    assert ds.num_episodes == 3 and ds.num_frames == 9 and ds.tasks == ["pick up the block", "push the block"]
    after = ds.episode(1)
    for k in before:
        assert np.array_equal(before[k], after[k])
    assert np.array_equal(ds.episode(2)["index"], [6, 7, 8])
    assert np.array_equal(ds.episode(0)["observation.state"], np.stack([f["observation.state"] for f in eps[0]]))


def test_clear_episode_discards_in_flight_frames(tmp_path):
    w = DatasetWriter(tmp_path, features(False), fps=5)
    for f in make_episode(0, 3, images=False):
        w.add_frame(f)
    w.clear_episode()
    for f in make_episode(1, 2, images=False):
        w.add_frame(f)
    w.save_episode("t")
    ds = DemoDataset(tmp_path)
    assert ds.num_frames == 2 and ds.episode_success(0) is None


def test_image_stats_match_numpy_exactly():
    from postbc_ros.data.stats import _vector_stats, image_stats

    rng = np.random.default_rng(3)
    for shape in [(7, 12, 16, 3), (2, 5, 3, 3), (1, 1, 1, 3)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        fast, ref = image_stats(x), _vector_stats(x.reshape(-1, 3))
        for k in ("min", "max", "mean", "std", "q01", "q10", "q50", "q90", "q99"):
            np.testing.assert_allclose(fast[k].reshape(3), np.asarray(ref[k], float) / 255, rtol=1e-12, atol=1e-15)
        assert fast["count"].tolist() == [shape[0]]
