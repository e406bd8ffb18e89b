"""Fixtures of the ROS 2 integration tests: a tiny PostBC checkpoint trained on the fly."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Scripted reach demos recorded through the teleop/recorder path + a few PostBC epochs
    (the fault suite's own checkpoint: `root/policy`)."""
    from postbc_ros.benchmarks.faults import tiny_checkpoint as build

    root = tmp_path_factory.mktemp("tiny_ck")
    build(root)
    return root


@pytest.fixture(scope="session")
def tiny_privileged_checkpoint(tmp_path_factory):
    """The same, observing the twin's privileged state (`postbc collect --obs-mode state`)."""
    from postbc_ros.benchmarks.faults import tiny_checkpoint as build

    root = tmp_path_factory.mktemp("tiny_ck_privileged")
    return build(root, obs_mode="state").parent


@pytest.fixture(scope="session")
def tiny_image_checkpoint(tmp_path_factory):
    """The same, observing proprioception + the scene camera (the twin's image mode: what a cell
    without markers records with observation:=proprio)."""
    from postbc_ros.benchmarks.faults import tiny_checkpoint as build

    root = tmp_path_factory.mktemp("tiny_ck_image")
    return build(root, obs_mode="image").parent
