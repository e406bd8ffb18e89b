"""Bad datasets and bad frames fail with errors that name the file/field and the fix."""
import json

import numpy as np
import pytest
from dataset_synth import features, make_episode

from postbc_ros.data import DatasetError, DatasetWriter, DemoDataset


@pytest.fixture
def ds_root(tmp_path):
    root = tmp_path / "ds"
    w = DatasetWriter(root, features(), fps=10)
    for i in range(2):
        for f in make_episode(i, 4):
            w.add_frame(f)
        w.save_episode("t", success=True)
    return root


def test_missing_info(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"meta/info.json: missing.*dataset root"):
        DemoDataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist; record one with `postbc collect"):
        DemoDataset(tmp_path / "nope")


def test_dataset_one_level_down_is_pointed_out(ds_root):
    with pytest.raises(DatasetError, match=r"found one in .*ds: point to that folder"):
        DemoDataset(ds_root.parent)


def test_wrong_codebase_version(ds_root):
    p = ds_root / "meta/info.json"
    info = json.loads(p.read_text())
    info["codebase_version"] = "v2.1"
    p.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"codebase_version is 'v2.1'.*convert_dataset_v21_to_v30"):
        DemoDataset(ds_root)


def test_broken_info_json(ds_root):
    (ds_root / "meta/info.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"info.json: not valid JSON"):
        DemoDataset(ds_root)


def test_feature_shape_mismatch(ds_root):
    p = ds_root / "meta/info.json"
    info = json.loads(p.read_text())
    info["features"]["observation.state"]["shape"] = [7]
    p.write_text(json.dumps(info))
    ds = DemoDataset(ds_root)
    with pytest.raises(DatasetError, match=r"file-000.parquet: column 'observation.state' has vectors of length 6.*shape \(7,\)"):
        ds.episode(0)
    info["features"]["observation.state"]["shape"] = [6]
    info["features"]["observation.images.scene"]["shape"] = [12, 17, 3]
    p.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"image shape \(12, 16, 3\) does not match meta/info.json shape \(12, 17, 3\)"):
        DemoDataset(ds_root).episode(1)
    with pytest.raises(DatasetError, match=r"feature 'observation.state' has shape \(6,\), expected \(9,\)"):
        DemoDataset(ds_root).check_features({"observation.state": (9,)})


def test_truncated_data_parquet(ds_root):
    f = ds_root / "data/chunk-000/file-000.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    ds = DemoDataset(ds_root)  # metadata is intact
    with pytest.raises(DatasetError, match=r"data/chunk-000/file-000.parquet: not a readable parquet file.*truncated or corrupt"):
        ds.episode(0)


def test_corrupt_episode_index(ds_root):
    f = ds_root / "meta/episodes/chunk-000/file-000.parquet"
    f.write_bytes(b"garbage" * 10)
    with pytest.raises(DatasetError, match=r"meta/episodes/chunk-000/file-000.parquet: not a readable parquet"):
        DemoDataset(ds_root)


def test_missing_data_file(ds_root):
    (ds_root / "data/chunk-000/file-000.parquet").unlink()
    with pytest.raises(DatasetError, match=r"file-000.parquet: file is missing but the dataset metadata references it"):
        DemoDataset(ds_root).episode(1)


def test_bad_frames_are_rejected(tmp_path):
    w = DatasetWriter(tmp_path, features(), fps=10)
    good = make_episode(0, 1)[0]
    with pytest.raises(DatasetError, match=r"missing feature 'action'"):
        w.add_frame({k: v for k, v in good.items() if k != "action"})
    with pytest.raises(DatasetError, match=r"'observation.state': expected shape \(6,\), got \(5,\)"):
        w.add_frame({**good, "observation.state": np.zeros(5, np.float32)})
    with pytest.raises(DatasetError, match=r"'action' contains NaN"):
        w.add_frame({**good, "action": np.array([0, np.nan, 0, 0], np.float32)})
    with pytest.raises(DatasetError, match=r"expected uint8 image \(12, 16, 3\), got float64"):
        w.add_frame({**good, "observation.images.scene": np.zeros((12, 16, 3))})
    with pytest.raises(DatasetError, match="no frames"):
        w.save_episode("t")
    with pytest.raises(DatasetError, match="needs `features` and `fps`"):
        DatasetWriter(tmp_path / "new")
    with pytest.raises(DatasetError, match="only 1-D numeric"):
        DatasetWriter(tmp_path / "x", {"a": {"dtype": "float32", "shape": [2, 2]}}, fps=10)


def test_reopen_with_other_features_is_refused(ds_root):
    with pytest.raises(DatasetError, match=r"existing dataset has feature 'observation.state'.*new --out folder"):
        DatasetWriter(ds_root, {**features(), "observation.state": {"dtype": "float32", "shape": [8]}}, fps=10)
    with pytest.raises(DatasetError, match="recorded at 10 fps, not 20"):
        DatasetWriter(ds_root, features(), fps=20)
