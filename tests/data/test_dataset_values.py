"""Datasets with non-finite values, or actions outside the arm's action space, are refused before
anything trains on them (data.reader.check_values; `postbc pretrain`'s pipeline), with the
episode, its frame, the feature and the fix named. The writer refuses such frames itself, so the
bad values are written into the data file afterwards, as a foreign tool or a damaged copy would."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from postbc_ros.data import DatasetError, DatasetWriter, DemoDataset
from postbc_ros.data.reader import ACTION_BOUND, action_bound, check_values

FEATS = {"observation.state": {"dtype": "float32", "shape": [3], "names": None},
         "action": {"dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "gripper"]}}
EPISODES, FRAMES = 3, 6


def dataset(root: Path, robot_type: str = "widowx") -> Path:
    rng = np.random.default_rng(0)
    with DatasetWriter(root, FEATS, fps=10.0, robot_type=robot_type) as w:
        for _ in range(EPISODES):
            for _ in range(FRAMES):
                w.add_frame({"observation.state": rng.normal(size=3).astype(np.float32),
                             "action": rng.uniform(-1, 1, 4).astype(np.float32)})
            w.save_episode(task="reach", success=True)
    return root


def set_value(root: Path, feature: str, row: int, entry: int, value: float) -> None:
    (f,) = sorted((root / "data").rglob("*.parquet"))
    table = pq.read_table(f)
    col = table.column(feature).to_pylist()
    col[row][entry] = value
    i = table.column_names.index(feature)
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(col, type=table.schema.field(i).type)), f)


def test_a_clean_dataset_passes(tmp_path):
    check_values(DemoDataset(dataset(tmp_path / "ds")))


@pytest.mark.parametrize("feature, value", [("observation.state", float("nan")), ("action", float("inf"))])
def test_a_non_finite_value_is_named_by_episode_and_frame(tmp_path, feature, value):
    root = dataset(tmp_path / "ds")
    set_value(root, feature, FRAMES + 4, 2, value)  # episode 1, frame 4
    with pytest.raises(DatasetError, match=rf"episode 1 frame 4 \(dataset frame 10\): feature '{feature}' entry 2 "
                                           r"is (nan|inf), not a finite number; re-record that episode"):
        check_values(DemoDataset(root))


def test_an_action_outside_the_arms_action_space_is_refused(tmp_path):
    root = dataset(tmp_path / "ds")
    set_value(root, "action", 2 * FRAMES + 1, 3, 1.5)
    ds = DemoDataset(root)
    assert action_bound(ds) == ACTION_BOUND
    with pytest.raises(DatasetError, match=r"episode 2 frame 1 \(dataset frame 13\): action entry 3 is 1.5, outside "
                                           r"the widowx action space \[-1, 1\]"):
        check_values(ds)
    check_values(ds, bound=None)  # finite: only the bound is broken


def test_a_dataset_recorded_elsewhere_is_checked_for_finite_values_only(tmp_path):
    root = dataset(tmp_path / "ds", robot_type="so100")
    set_value(root, "action", 0, 0, 42.0)  # its own action space (e.g. joint positions in degrees)
    ds = DemoDataset(root)
    assert action_bound(ds) is None
    check_values(ds)


def test_pretraining_refuses_the_dataset_before_training(tmp_path):
    from postbc_ros.learning.pipeline import PretrainError, pretrain_dataset
    from postbc_ros.learning.train_config import TrainConfig

    root = dataset(tmp_path / "ds")
    set_value(root, "action", 5, 0, float("nan"))
    cfg = TrainConfig(method="bc", epochs=1, hidden=[16], horizon=4, n_action_steps=2, obs_history=1,
                      batch_size=8, seed=0, device="cpu")
    with pytest.raises(PretrainError, match=r"episode 0 frame 5 \(dataset frame 5\): feature 'action' entry 0 is nan"):
        pretrain_dataset(root, tmp_path / "out", cfg, progress=False)
    assert not (tmp_path / "out").exists()
