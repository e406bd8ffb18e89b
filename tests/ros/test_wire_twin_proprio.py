"""A cell without fiducial markers still records for image policies: the real-robot collect graph
through the WidowX driver against the wire-level twin with `observation:=proprio` records
observation.state = joints, gripper, tool (observation_node layout proprio, no marker perception:
the twin's `image` mode's state names and source) with the scene camera's images, and the dataset's
contract is the twin image mode's -- what `postbc pretrain` then trains an image policy on."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from .harness import run_until_exit, unique_domain

pytest.importorskip("dynamixel_sdk")

ROOT = Path(__file__).resolve().parents[2]
EPISODES = 1
EPISODE_TIME_LIMIT_S = 12.0  # a scripted reach takes ~3 s; a failed one must not run the collect default (60 s)
RUN_TIMEOUT_S = 75.0  # start (~5 s) + one scripted reach episode (~4 s) + reset + shutdown, loaded CI machine
EXIT_TIMEOUT_S = 30.0  # a failed run's Ctrl-C: the arm holds and disconnects, then the rest stop (grace 8 s each)
IMAGE_SIZE = 64  # camera_size:=: the side of the recorded images


# real processes over DDS on a 2-core CI machine: a descheduled process can miss a supervision bound
@pytest.mark.flaky(reruns=2, reruns_delay=5)
def test_collect_with_observation_proprio_records_the_twins_image_mode_observation(tmp_path):
    from postbc_ros.core.observation_contract import SOURCE_PROPRIO
    from postbc_ros.data import DemoDataset
    from postbc_ros.sim.twin_contract import contract_for_twin

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "postbc_ros.cli.main", "launch", "collect", "robot:=widowx", "sim:=false",
           "wire_twin:=true", "device:=scripted", "task:=reach", "observation:=proprio", f"episodes:={EPISODES}",
           f"camera_size:={IMAGE_SIZE}", f"output_dir:={out}", f"episode_time_limit:={EPISODE_TIME_LIMIT_S}",
           f"domain_id:={unique_domain()}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), OMP_NUM_THREADS="1")
    rc, text, seconds = run_until_exit(cmd, env, RUN_TIMEOUT_S, EXIT_TIMEOUT_S)
    assert rc == 0, f"exit {rc} after {seconds:.0f} s:\n" + text[-20000:]
    dataset = out / "demos_robot1"
    assert f"[launch] dataset: {dataset.resolve()} ({EPISODES} episodes)" in text, text[-5000:]
    assert "(layout proprio), paced by camera scene" in text, text[-20000:]
    assert "not detected yet" not in text  # no marker perception runs

    ds = DemoDataset(dataset)
    twin = contract_for_twin("widowx", "reach", obs_mode="image", image_size=IMAGE_SIZE)
    state = ds.contract.feature("observation.state")
    assert state.names == twin.feature("observation.state").names and state.source == SOURCE_PROPRIO
    assert len(state.names) == 10 and not [n for n in state.names if n.startswith("marker_")]
    assert ds.contract.require(twin, "dataset") == []
    ep = ds.episode(0)
    state, images = np.asarray(ep["observation.state"]), np.asarray(ep["observation.images.scene"])
    assert len(state) > 3 and np.ptp(state[:, :6], axis=0).max() > 0.05  # the arm moved (rad)
    assert images.shape == (len(state), IMAGE_SIZE, IMAGE_SIZE, 3) and images.std() > 5  # rendered, not blank
    print(f"\nwire twin, observation:=proprio: {ds.num_episodes} demonstration in {seconds:.0f} s")
