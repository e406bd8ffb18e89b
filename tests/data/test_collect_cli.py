"""`postbc collect --scripted` on the MuJoCo twin: the dataset reads back with exactly the values the
env and the operator produced (checked by replaying the same seeds), and re-running appends."""
import argparse
import json

import numpy as np
import pytest

from postbc_ros.cli import collect_cmd
from postbc_ros.data import DemoDataset, chunk_windows
from postbc_ros.data.collect import SETTLE_STEPS
from postbc_ros.drivers.teleop import make_teleop_device
from postbc_ros.sim import make_env


def _postbc(argv):
    parser = argparse.ArgumentParser(prog="postbc")
    sub = parser.add_subparsers(dest="command", required=True)
    collect_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _replay(robot, task, obs_mode, image_size, seed, n_episodes):
    """Re-run the scripted operator with the seeds `postbc collect` used."""
    env = make_env(robot, task, obs_mode=obs_mode, image_size=image_size, control="ee_delta", seed=seed)
    dev = make_teleop_device("scripted", env=env, seed=seed)
    episodes = []
    for k in range(n_episodes):
        obs, _ = env.reset(seed=seed + k)
        dev.reset()
        frames = []
        settle = None  # steps still to record after the first success (collect's settle phase)
        while True:
            a = dev.read(obs).action
            nxt, _, term, trunc, info = env.step(a)
            frames.append((obs, a, info["success"]))
            obs = nxt
            if info["success"] and settle is None:
                settle = SETTLE_STEPS
            elif settle is not None:
                settle -= 1
            if trunc or settle == 0 or (term and settle is None):
                break
        episodes.append(frames)
    env.close()
    return episodes


def test_scripted_collect_state_reads_back_identical(tmp_path, capsys):
    out = tmp_path / "demos"
    rc = _postbc(["collect", "--robot", "widowx", "--task", "reach", "--episodes", "3", "--scripted",
                  "--out", str(out), "--seed", "5", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes_recorded"] == 3 and summary["total_episodes"] == 3
    ds = DemoDataset(out)
    assert ds.robot_type == "widowx" and ds.fps == 10 and ds.tasks == ["reach"]
    assert ds.features["action"]["names"] == ["dx", "dy", "dz", "gripper"]
    ref = _replay("widowx", "reach", "markers", 96, 5, 3)  # the default: joints + perceived marker poses
    for i, frames in enumerate(ref):
        ep = ds.episode(i)
        state = np.stack([o["state"] for o, _, _ in frames])
        act = np.stack([a for _, a, _ in frames])
        assert np.array_equal(ep["observation.state"].view(np.uint32), state.view(np.uint32))
        assert np.array_equal(ep["action"].view(np.uint32), act.view(np.uint32))
        assert ep["next.success"].tolist() == [bool(s) for _, _, s in frames]
        assert ds.episode_success(i) == bool(frames[-1][2])
        assert not ep["intervention"].any()
    assert sum(ds.episode_success(i) for i in range(3)) == summary["successes"]
    win = chunk_windows(ds, obs_history=2, horizon=4)
    assert win["action"].shape == (ds.num_frames, 4, 4)

    # resume: a second run appends, and the first episodes are untouched
    before = ds.episode(2)
    assert _postbc(["collect", "--robot", "widowx", "--task", "reach", "--episodes", "1", "--scripted",
                    "--out", str(out), "--seed", "5", "--no-progress"]) == 0
    ds2 = DemoDataset(out)
    assert ds2.num_episodes == 4
    assert all(np.array_equal(before[k], ds2.episode(2)[k]) for k in before)


def test_scripted_collect_images_pixel_exact(tmp_path):
    out = tmp_path / "img"
    assert _postbc(["collect", "--robot", "widowx", "--task", "reach", "--episodes", "2", "--scripted",
                    "--out", str(out), "--obs-mode", "image", "--image-size", "32", "--seed", "1",
                    "--no-progress"]) == 0
    ds = DemoDataset(out)
    assert ds.features["observation.images.scene"]["shape"] == (32, 32, 3)
    ref = _replay("widowx", "reach", "image", 32, 1, 2)
    for i, frames in enumerate(ref):
        ep = ds.episode(i)
        scene = np.stack([o["scene"] for o, _, _ in frames])
        assert scene.std() > 0  # a real rendered image, not a blank
        assert np.array_equal(ep["observation.images.scene"], scene)
        assert np.array_equal(ep["observation.state"], np.stack([o["state"] for o, _, _ in frames]))
    assert ds.stats["observation.images.scene"]["mean"].shape == (3, 1, 1)


def test_collect_help_and_bad_args(capsys):
    with pytest.raises(SystemExit) as e:
        _postbc(["collect", "--help"])
    assert e.value.code == 0
    assert "--scripted" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _postbc(["collect", "--robot", "widowx", "--task", "reach", "--episodes", "1", "--out", "x"])
