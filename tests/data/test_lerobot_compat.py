"""Compatibility with the official LeRobot reader/writer (lerobot-dataset 0.4.4, LeRobotDataset v3.0).

The official package pins numpy 2.2 and needs torchvision, so it lives in a separate venv; set
LEROBOT_PYTHON to that venv's python (scripts/test.sh does) to run these tests:
  - datasets written by DatasetWriter load in `LeRobotDataset(repo_id, root=DIR)` with identical
    values (floats bit-exact, images pixel-exact, tasks, stats) and identical training windows
    (delta_timestamps padding == chunk_windows padding);
  - datasets written by LeRobot's own writer load in DemoDataset with identical values.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from dataset_synth import FEATURES, features, make_episode

from postbc_ros.data import DatasetWriter, DemoDataset, chunk_windows

HERE = Path(__file__).resolve().parent
LEROBOT_PYTHON = os.environ.get("LEROBOT_PYTHON")
pytestmark = pytest.mark.skipif(
    not LEROBOT_PYTHON, reason="set LEROBOT_PYTHON to a venv with lerobot-dataset==0.4.4 (see scripts/test.sh)"
)


def _official(script: str, *args, tmp_path) -> None:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TQDM_DISABLE": "1"}
    env.pop("PYTHONPATH", None)
    res = subprocess.run([LEROBOT_PYTHON, str(HERE / script), *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]


def test_official_reader_loads_our_dataset(tmp_path):
    root = tmp_path / "ours"
    lengths = [5, 1, 4]
    w = DatasetWriter(root, features(), fps=10, robot_type="widowx")
    eps = []
    for i, n in enumerate(lengths):
        frames = make_episode(i, n)
        for f in frames:
            w.add_frame(f)
        w.save_episode("pick" if i != 1 else "push", success=True)
        eps.append(frames)
        if i == 1:  # resume in between: the official reader must see one consistent dataset
            w.close()
            w = DatasetWriter(root, features(), fps=10, robot_type="widowx")
    _official("lerobot_official_dump.py", root, tmp_path / "dump.npz", 3, 2, tmp_path=tmp_path)
    d = np.load(tmp_path / "dump.npz")
    assert int(d["meta.num_episodes"]) == 3 and int(d["meta.num_frames"]) == sum(lengths)
    # the observation contract rides in meta/info.json under a key the official reader ignores
    assert str(d["meta.robot_type"]) == "widowx"
    assert DemoDataset(root).info["observation_contract"]["robot_type"] == "widowx"
    for key in FEATURES:
        want = np.concatenate([np.stack([np.asarray(f[key]) for f in e]) for e in eps])
        got = d[key].reshape(want.shape)
        assert got.dtype == want.dtype, key
        if want.dtype.kind == "f":
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), key
        else:
            assert np.array_equal(got, want), key
    assert d["task"].tolist() == ["pick"] * 5 + ["push"] + ["pick"] * 4
    ours = DemoDataset(root)
    assert np.array_equal(d["index"], np.arange(10)) and np.array_equal(d["episode_index"], [0] * 5 + [1] + [2] * 4)
    np.testing.assert_array_equal(d["timestamp"], ours.frames()["timestamp"])
    np.testing.assert_allclose(d["stats/action/mean"], ours.stats["action"]["mean"])
    # LeRobot's delta_timestamps windows == chunk_windows
    win = chunk_windows(ours, obs_history=2, horizon=3)
    assert np.array_equal(d["win.action"], win["action"])
    assert np.array_equal(d["win.action_is_pad"], win["action_is_pad"])
    assert np.array_equal(d["win.observation.state"], win["obs.observation.state"])


def test_we_read_a_dataset_written_by_lerobot(tmp_path):
    root = tmp_path / "official"
    _official("lerobot_official_write.py", root, tmp_path / "written.npz", tmp_path=tmp_path)
    w = np.load(tmp_path / "written.npz")
    ds = DemoDataset(root)
    assert ds.num_episodes == 3 and ds.num_frames == 12 and ds.robot_type == "ur5e"
    assert ds.tasks == ["pick the cube", "open the drawer"]
    assert [ds.episode_task(i) for i in range(3)] == ["pick the cube", "open the drawer", "pick the cube"]
    got = ds.frames()
    for key in ("observation.state", "observation.images.scene", "action", "next.success"):
        assert got[key].dtype == w[key].dtype, key
        assert np.array_equal(got[key], w[key]), key
    assert ds.stats["observation.images.scene"]["mean"].shape == (3, 1, 1)
    win = chunk_windows(ds, obs_history=2, horizon=4)
    assert win["obs.observation.images.scene"].shape == (12, 2, 10, 14, 3)
    # and we can resume recording into it
    wr = DatasetWriter(root)
    frame = {"observation.state": np.ones(5, np.float32),
             "observation.images.scene": np.zeros((10, 14, 3), np.uint8),
             "action": np.zeros(4, np.float32), "next.success": True}
    wr.add_frame(frame)
    wr.save_episode("open the drawer", success=True)
    ds2 = DemoDataset(root)
    assert ds2.num_episodes == 4 and ds2.episode(3)["task_index"].tolist() == [1]


def test_official_reader_loads_a_dataset_recorded_by_postbc_collect(tmp_path):
    """`postbc collect` (images, markers-free twin) writes robot_type and the observation contract;
    LeRobot's reader still loads it, with the same frames."""
    import argparse

    from postbc_ros.cli import collect_cmd

    root = tmp_path / "collected"
    parser = argparse.ArgumentParser(prog="postbc")
    collect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["collect", "--robot", "ur5e", "--task", "reach", "--episodes", "1", "--scripted",
                              "--obs-mode", "image", "--image-size", "24", "--max-steps", "6", "--out", str(root),
                              "--no-progress"])
    assert args.func(args) == 0
    ours = DemoDataset(root)
    assert ours.robot_type == "ur5e" and ours.contract.derived_from is None
    assert ours.contract.feature("observation.images.scene").source == "camera:scene"
    _official("lerobot_official_dump.py", root, tmp_path / "dump.npz", tmp_path=tmp_path)
    d = np.load(tmp_path / "dump.npz")
    assert str(d["meta.robot_type"]) == "ur5e" and int(d["meta.num_frames"]) == ours.num_frames
    frames = ours.frames()
    assert np.array_equal(d["observation.state"], frames["observation.state"])
    assert np.array_equal(d["observation.images.scene"], frames["observation.images.scene"])
