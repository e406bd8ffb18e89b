"""Fixtures of the ROS 2 integration tests: a tiny PostBC checkpoint trained on the fly."""
from __future__ import annotations

import argparse
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Scripted reach demos recorded through the teleop/recorder path + a few PostBC epochs."""
    from postbc_ros.cli import collect_cmd, pretrain_cmd

    root = tmp_path_factory.mktemp("tiny_ck")
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    collect_cmd.register(sub)
    pretrain_cmd.register(sub)
    for argv in (
        ["collect", "--robot", "widowx", "--task", "reach", "--episodes", "3", "--scripted",
         "--out", str(root / "demos"), "--no-progress"],
        ["pretrain", "--dataset", str(root / "demos"), "--method", "postbc", "--ensemble-size", "2",
         "--epochs", "20", "--hidden", "32,32", "--out", str(root / "policy"), "--quiet"],
    ):
        a = p.parse_args(argv)
        assert a.func(a) == 0, argv
    return root
