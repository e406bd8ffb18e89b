"""Demonstrations record the arm arriving and settling: after the first success frame the operator
goes on for `settle_steps` more steps, with `next.success` kept per frame."""
import numpy as np
import pytest

from postbc_ros.data import DatasetWriter, DemoDataset
from postbc_ros.data.collect import SETTLE_STEPS, collect_episodes, env_fps, features_from_env
from postbc_ros.drivers.teleop import make_teleop_device
from postbc_ros.sim import make_env


def _collect(tmp_path, task, settle_steps, name):
    env = make_env("widowx", task, seed=0)
    writer = DatasetWriter(tmp_path / name, features_from_env(env), fps=env_fps(env), robot_type="widowx")
    res = collect_episodes(env, make_teleop_device("scripted", env=env, seed=1), writer, 3, task, seed=5,
                           progress=False, settle_steps=settle_steps)
    writer.close()
    env.close()
    return res, DemoDataset(tmp_path / name)


@pytest.mark.parametrize("task", ["reach", "push"])
def test_episodes_go_on_settle_steps_after_the_first_success(tmp_path, task):
    cut, ds_cut = _collect(tmp_path, task, 0, "cut")
    settled, ds = _collect(tmp_path, task, 5, "settled")
    for i, (a, b) in enumerate(zip(cut, settled)):
        assert a.success and b.success  # the scripted operator succeeds on these layouts
        succ_cut = ds_cut.episode(i)["next.success"].reshape(-1)
        succ = ds.episode(i)["next.success"].reshape(-1)
        first = int(np.argmax(succ))
        assert succ_cut[-1] and not succ_cut[:-1].any()  # settle 0: ends at the first success frame
        assert b.length == first + 1 + 5  # 5 frames after the first success
        assert succ[first:].all()  # the operator holds the success while settling
    # the first episodes start from the same operator state: the same episode, 5 frames longer
    assert settled[0].length == cut[0].length + 5


def test_settle_is_on_by_default_and_rejects_negative(tmp_path):
    assert SETTLE_STEPS > 0
    env = make_env("widowx", "reach", seed=0)
    writer = DatasetWriter(tmp_path / "d", features_from_env(env), fps=env_fps(env), robot_type="widowx")
    with pytest.raises(ValueError, match="settle_steps must be >= 0"):
        collect_episodes(env, make_teleop_device("scripted", env=env, seed=1), writer, 1, "reach",
                         progress=False, settle_steps=-1)
