"""`--state-exclude`: a policy (and its ensemble) that ignores named observation.state entries,
e.g. the joint angles, while the observation it is given keeps them all."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from learning_helpers import random_episodes, write_dataset

NAMES = ["q_waist", "q_shoulder", "gripper", "ee_x", "obj_rel_x"]


def _data(tmp_path, names=NAMES, episodes: int = 3, length: int = 8, action_names=None):
    from postbc_ros.learning.training_data import load_training_data

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(episodes, length, state_dim=5, action_dim=4), state_names=names,
                  action_names=action_names)
    return root, load_training_data(root, obs_history=1, horizon=4)


@pytest.mark.parametrize("action_names, names, kept", [
    (["dx", "dy", "dz", "gripper"], NAMES, [2, 3, 4]),  # tool-space actions: the joints go
    (["dq1", "dq2", "dq3", "gripper"], NAMES, None),  # joint-space actions need them
    (["dx", "dy", "dz", "gripper"], None, None),  # unnamed entries: nothing to select by
    (["dx", "dy", "dz", "gripper"], ["a", "b", "c", "d", "e"], None),  # no joint entries
])
def test_the_default_drops_the_joints_only_for_tool_space_actions(tmp_path, action_names, names, kept):
    from postbc_ros.learning.obs_select import state_selection

    _root, data = _data(tmp_path, names=names, action_names=action_names)
    assert state_selection(data, None) == ({"state": kept} if kept else {})
    assert state_selection(data, []) == {}  # --state-exclude '': every entry


def test_patterns_resolve_to_the_kept_entries_by_name(tmp_path):
    from postbc_ros.learning.obs_select import state_selection

    _root, data = _data(tmp_path)
    assert state_selection(data, []) == {} and state_selection(data, [""]) == {}
    assert state_selection(data, ["q_*"]) == {"state": [2, 3, 4]}
    assert state_selection(data, ["q_waist", "*_rel_*"]) == {"state": [1, 2, 3]}


@pytest.mark.parametrize("patterns, words", [
    (["q_wrist"], "match no observation.state entry"),
    (["*"], "drops every observation.state entry"),
])
def test_a_pattern_that_matches_nothing_or_everything_is_refused(tmp_path, patterns, words):
    from postbc_ros.learning.obs_select import state_selection

    _root, data = _data(tmp_path)
    with pytest.raises(ValueError, match=words):
        state_selection(data, patterns)


def test_a_comma_string_is_read_as_its_patterns():
    from postbc_ros.learning import TrainConfig

    assert TrainConfig(state_exclude="q_*, ee_z").state_exclude == ["q_*", "ee_z"]
    assert TrainConfig(state_exclude="").state_exclude == []


def test_unnamed_state_entries_cannot_be_excluded_and_the_error_says_so(tmp_path):
    from postbc_ros.learning.obs_select import state_selection

    _root, data = _data(tmp_path, names=None)
    with pytest.raises(ValueError, match="does not name the entries"):
        state_selection(data, ["q_*"])


def test_the_encoder_ignores_excluded_entries_and_normalises_the_rest():
    from postbc_ros.learning.ensemble import fit_encoder_normalizers
    from postbc_ros.learning.networks import ObsEncoder

    enc = ObsEncoder({"state": [5]}, 2, select={"state": [2, 4]})
    assert enc.out_dim == 4  # 2 entries x 2 frames
    x = torch.randn(64, 2, 5)
    fit_encoder_normalizers(enc, {"state": x.numpy()})
    assert torch.allclose(enc.normalizers["state"].lo, x[..., [2, 4]].reshape(-1, 2).min(0).values)
    y = x.clone()
    y[..., [0, 1, 3]] += 100.0  # what the encoder ignores
    assert torch.equal(enc({"state": x}), enc({"state": y}))
    assert not torch.equal(enc({"state": x}), enc({"state": x + 1.0}))
    assert not any(k.startswith("select") for k in enc.state_dict())  # the config carries the indices
    with pytest.raises(ValueError, match=r"distinct indices in \[0, 5\)"):
        ObsEncoder({"state": [5]}, 1, select={"state": [1, 5]})
    with pytest.raises(ValueError, match="not a low-dimensional observation"):
        ObsEncoder({"state": [5]}, 1, select={"wrist": [0]})


def _pretrain_cli(argv: list[str]) -> int:
    from postbc_ros.cli import pretrain_cmd

    p = argparse.ArgumentParser(prog="postbc")
    pretrain_cmd.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["pretrain", *argv])
    return args.func(args)


def test_pretrain_cli_checkpoint_keeps_the_selection_for_policy_and_ensemble(tmp_path, capsys):
    from postbc_ros.learning.policy_io import load_ensemble, load_policy

    root, data = _data(tmp_path)
    out = tmp_path / "ckpt"
    common = ["--dataset", str(root), "--method", "postbc", "--steps", "3", "--ensemble-steps", "2",
              "--ensemble-size", "2", "--hidden", "16", "--device", "cpu", "--quiet"]
    assert _pretrain_cli([*common, "--out", str(out), "--state-exclude", "q_*"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["state_exclude"] == ["q_*"] and config["policy"]["obs_select"] == {"state": [2, 3, 4]}
    assert config["train"]["as_run"]["state_excluded"] == ["q_waist", "q_shoulder"]
    assert "observation.state: ignoring q_waist, q_shoulder (--state-exclude; '' uses every entry)" in \
        capsys.readouterr().out.splitlines()
    assert _pretrain_cli([*common, "--out", str(tmp_path / "all"), "--state-exclude", ""]) == 0
    config = json.loads((tmp_path / "all" / "config.json").read_text())
    assert config["train"]["state_exclude"] == [] and config["policy"]["obs_select"] == {}
    assert config["train"]["as_run"]["state_excluded"] == []
    policy = load_policy(out, device="cpu")
    assert policy.cfg.obs_shapes == {"state": [5]}  # the observation keeps every entry
    ens, _ = load_ensemble(out / "ensemble", device="cpu")
    assert ens.encoder.select == {"state": [2, 3, 4]}
    obs = {"state": torch.as_tensor(data.obs["state"][:6])}
    moved = {"state": obs["state"].clone()}
    moved["state"][..., :2] += 5.0  # joint angles the checkpoint ignores
    w = torch.randn(6, 4, data.action_dim)
    assert torch.equal(policy.sample(obs, noise=w), policy.sample(moved, noise=w))
    assert torch.equal(ens.predict(obs), ens.predict(moved))


def test_coverage_refuses_an_ensemble_that_uses_other_entries_than_the_policy(tmp_path, capsys):
    from postbc_ros.cli import coverage_cmd

    root, _unused = _data(tmp_path)
    common = ["--dataset", str(root), "--method", "postbc", "--steps", "2", "--ensemble-steps", "2",
              "--ensemble-size", "2", "--hidden", "8", "--device", "cpu", "--quiet"]
    assert _pretrain_cli([*common, "--out", str(tmp_path / "nojoints"), "--state-exclude", "q_*"]) == 0
    assert _pretrain_cli([*common, "--out", str(tmp_path / "all"), "--state-exclude", ""]) == 0
    p = argparse.ArgumentParser(prog="postbc")
    coverage_cmd.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["coverage", "--checkpoint", str(tmp_path / "nojoints"), "--dataset", str(root),
                         "--ensemble", str(tmp_path / "all" / "ensemble"), "--device", "cpu", "--quiet"])
    capsys.readouterr()
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "does not match the policy" in err and "entries used: all" in err and "[2, 3, 4]" in err


def test_an_ensemble_trained_on_other_entries_is_not_reused(tmp_path):
    from postbc_ros.learning import TrainConfig
    from postbc_ros.learning.train import pretrain

    _root, data = _data(tmp_path)
    common = dict(method="postbc", steps=2, ensemble_steps=2, ensemble_size=2, hidden=[8], device="cpu")
    full = pretrain(data, TrainConfig(**common), progress=False)
    with pytest.raises(ValueError, match="same --state-exclude"):
        pretrain(data, TrainConfig(state_exclude=["q_*"], **common), progress=False, ensemble=full.ensemble)
    assert np.isfinite(full.losses).all()


def test_bench_pretrain_variants_take_state_exclude():
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, parse_variant

    assert parse_variant("bc:state_exclude=none") == ("bc", {"state_exclude": []})
    assert parse_variant("bc:state_exclude=q_*|ee_z") == ("bc", {"state_exclude": ["q_*", "ee_z"]})
    assert PretrainBenchConfig().train_config("bc:state_exclude=default", 0, "cpu").state_exclude is None
    assert PretrainBenchConfig().train_config("bc", 0, "cpu").state_exclude is None
