"""The observation contract of a dataset: recorded in meta/info.json by the writer (given, or
derived from robot + features), filled in by `postbc collect` from the env, read back by
DemoDataset / read_contract, derived with a warning for datasets recorded without one, and
checked when a recording resumes."""
from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pytest
from dataset_synth import features, make_episode

from postbc_ros.core.observation_contract import INFO_KEY, ObservationContract
from postbc_ros.data import DatasetError, DatasetWriter, DemoDataset
from postbc_ros.data.collect import contract_for_env, features_from_env
from postbc_ros.data.reader import read_contract
from postbc_ros.sim import make_env


def _write(root, n=2, **kw):
    w = DatasetWriter(root, features(), fps=10, robot_type="widowx", **kw)
    for f in make_episode(0, n):
        w.add_frame(f)
    w.save_episode("pick", success=True)
    w.close()


def test_writer_records_robot_type_and_a_contract_from_the_features(tmp_path):
    _write(tmp_path / "ds")
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["robot_type"] == "widowx" and info["features"]["observation.state"]["shape"] == [6]
    c = ObservationContract.from_json(info[INFO_KEY])
    assert c.robot_type == "widowx" and c.joint_names[0] == "waist" and c.control_rate_hz == 10.0
    assert c.action.kind == "end_effector" and c.action.mode == "delta" and c.action.scale == 0.02
    assert c.feature("observation.images.scene").shape == (12, 16, 3)
    assert c.feature("observation.images.scene").source == "camera:scene"
    assert DemoDataset(tmp_path / "ds").contract == c == read_contract(tmp_path / "ds")


def test_collect_records_the_envs_contract(tmp_path):
    from postbc_ros.cli import collect_cmd

    parser = argparse.ArgumentParser(prog="postbc")
    collect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["collect", "--robot", "widowx", "--task", "push", "--episodes", "1", "--scripted",
                              "--max-steps", "4", "--out", str(tmp_path / "d"), "--no-progress"])
    assert args.func(args) == 0
    ds = DemoDataset(tmp_path / "d")
    env = make_env("widowx", "push", control="ee_delta", obs_mode="markers")  # collect's default observation
    try:
        assert ds.contract == contract_for_env(env)
        # the teleop recorder's writer call (robot + features, no contract) derives the same one
        w = DatasetWriter(tmp_path / "t", features_from_env(env), fps=10, robot_type="widowx")
        assert w.contract == ds.contract
        w.close()
    finally:
        env.close()
    state = ds.contract.feature("observation.state")
    assert ds.robot_type == "widowx" and state.source == "proprio+markers:object,goal"
    assert state.names[:2] == ("q_waist", "q_shoulder") and state.shape == (len(state.names),)


def test_dataset_without_contract_gets_a_derived_one_with_a_warning(tmp_path, caplog):
    _write(tmp_path / "old")
    path = tmp_path / "old" / "meta" / "info.json"
    info = json.loads(path.read_text())
    del info[INFO_KEY]
    path.write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING):
        c = DemoDataset(tmp_path / "old").contract
    assert c.robot_type == "widowx" and c.feature("observation.state").source is None
    assert "without 'observation_contract'" in c.derived_from
    assert "observation contract derived" in caplog.text
    # resuming such a dataset works and does not invent a contract for the episodes already there
    _write(tmp_path / "old")
    assert INFO_KEY not in json.loads(path.read_text())
    assert DemoDataset(tmp_path / "old").num_episodes == 2


def test_malformed_contract_names_the_file_and_field(tmp_path):
    _write(tmp_path / "bad")
    path = tmp_path / "bad" / "meta" / "info.json"
    info = json.loads(path.read_text())
    info[INFO_KEY]["action"]["mode"] = "relative"
    path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"info\.json.*observation_contract.*action\.mode is 'relative'"):
        DemoDataset(tmp_path / "bad").contract


def test_resume_under_another_contract_is_refused(tmp_path):
    _write(tmp_path / "ds")
    with pytest.raises(DatasetError, match="robot 'widowx', not 'ur5e'; record into a new --out folder"):
        DatasetWriter(tmp_path / "ds", features(), fps=10, robot_type="ur5e")
    other = features()
    other["action"] = {**other["action"], "names": ["a", "b", "c", "d"]}
    with pytest.raises(DatasetError, match="another observation contract.*action.names"):
        DatasetWriter(tmp_path / "ds", other, fps=10, robot_type="widowx")
    _write(tmp_path / "ds")  # the same recorder resumes
    assert DemoDataset(tmp_path / "ds").num_episodes == 2


def test_a_given_contract_must_fit_the_features(tmp_path):
    env = make_env("widowx", "reach")
    try:
        c = contract_for_env(env)
    finally:
        env.close()
    with pytest.raises(DatasetError, match="observation.state.*float32 \\[16\\]"):
        DatasetWriter(tmp_path / "x", features(), fps=10, robot_type="widowx", contract=c)
    with pytest.raises(DatasetError, match="robot 'widowx', robot_type is 'ur5e'"):
        DatasetWriter(tmp_path / "y", features(), fps=10, robot_type="ur5e", contract=c)
    assert not (tmp_path / "x" / "meta" / "info.json").exists()
    np.testing.assert_equal(c.control_rate_hz, 10.0)


def test_a_cells_proprio_recording_carries_the_twins_image_mode_contract(tmp_path):
    """teleop_node's recorder with observation layout proprio (a cell without markers) + the scene
    camera: the dataset's contract is the twin's `image` mode's (state names and source, the image
    feature), so a policy trained on it is checked against that mode; the markers layout's is not."""
    from postbc_ros.core.observation_contract import SOURCE_PROPRIO
    from postbc_ros.data.camera_frames import ImageFormat
    from postbc_ros.data.collect import OBSERVATION_LAYOUTS, open_recorder

    assert "proprio" in OBSERVATION_LAYOUTS
    env, image_env = make_env("widowx", "pick_place"), make_env("widowx", "pick_place", obs_mode="image")
    try:
        writer, _, frames = open_recorder(env, tmp_path / "ds", "pick_place", "widowx", "proprio", camera="scene",
                                          image=ImageFormat(96))
        recorded, twin = writer.contract, contract_for_env(image_env)
        state = recorded.feature("observation.state")
        assert state.names == tuple(image_env.unwrapped.state_names) and state.source == SOURCE_PROPRIO
        assert recorded.feature("observation.images.scene").shape == (96, 96, 3)
        assert recorded.require(twin, "dataset") == [] and twin.require(recorded, "twin") == []
        markers, _, _ = open_recorder(env, tmp_path / "dm", "pick_place", "widowx", "markers", camera="scene",
                                      image=ImageFormat(96))
        assert [m.field for m in markers.contract.check(twin) if m.fatal]
        writer.close(), markers.close()
    finally:
        env.close(), image_env.close()
