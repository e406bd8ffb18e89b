"""End to end on tiny budgets: dataset directory -> `postbc pretrain` -> checkpoint -> coverage.

State and image observations both go through the real data reader (postbc_ros.data).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace as dataclasses_replace

import torch

from learning_helpers import random_episodes, write_dataset


def _cli(argv: list[str]) -> int:
    from postbc_ros.cli import coverage_cmd, pretrain_cmd

    p = argparse.ArgumentParser(prog="postbc")
    sub = p.add_subparsers(dest="command", required=True)
    pretrain_cmd.register(sub)
    coverage_cmd.register(sub)
    args = p.parse_args(argv)
    return args.func(args)


def test_image_pipeline_end_to_end(tmp_path, capsys):
    from postbc_ros.learning import load_policy
    from postbc_ros.learning.policy_io import load_ensemble

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(3, 8, state_dim=4, action_dim=2, image=(16, 16)))
    out = tmp_path / "ckpt"
    rc = _cli(["pretrain", "--dataset", str(root), "--method", "postbc", "--ensemble-size", "3",
               "--epochs", "2", "--ensemble-epochs", "2", "--hidden", "32,32", "--ensemble-hidden", "32,32",
               "--horizon", "2", "--n-action-steps", "1", "--obs-history", "2", "--device", "cpu",
               "--out", str(out), "--quiet"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["obs_shapes"] == {"state": [4], "scene": [16, 16, 3]}
    assert cfg["dataset"]["feature_names"]["scene"] == "observation.images.scene"
    assert "observation.images.scene" in cfg["dataset"]["features"]
    policy = load_policy(out, "cpu")
    ens, _ = load_ensemble(out / "ensemble")
    assert len(ens.encoder.image_encoders) == 1 and ens.k == 3  # members share one conv encoder
    obs = {"state": torch.zeros(2, 2, 4), "scene": torch.zeros(2, 2, 16, 16, 3, dtype=torch.uint8)}
    noise = torch.randn(2, 2, 2)
    a = policy.sample(obs, noise)
    assert a.shape == (2, 2, 2) and torch.isfinite(a).all()
    torch.testing.assert_close(a, policy.sample(obs, noise))
    assert policy.encode_obs(obs).shape[0] == 2
    capsys.readouterr()
    png = tmp_path / "cov.png"
    rc = _cli(["coverage", "--checkpoint", str(out), "--dataset", str(root), "--samples", "4",
               "--device", "cpu", "--json", "--plot", str(png), "--quiet"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["num_states"] == 24 and rep["trace_sigma"]["mean"] >= 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_state_pipeline_bc_coverage_trains_its_own_ensemble(tmp_path, capsys):
    root = tmp_path / "demos"
    write_dataset(root, random_episodes(4, 10))
    out = tmp_path / "bc"
    assert _cli(["pretrain", "--dataset", str(root), "--method", "bc", "--epochs", "3", "--hidden", "32,32",
                 "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    assert not (out / "ensemble").exists()
    capsys.readouterr()
    assert _cli(["coverage", "--checkpoint", str(out), "--dataset", str(root), "--samples", "8",
                 "--ensemble-size", "4", "--ensemble-epochs", "3", "--device", "cpu", "--json", "--quiet"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["ensemble"].startswith("trained here") and rep["num_states"] == 40
    assert set(rep["correlation"]) == {"pearson", "spearman"}


def test_pretrain_reports_bad_dataset(tmp_path, capsys):
    rc = _cli(["pretrain", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_pretrain_names_a_chunk_it_cannot_execute(tmp_path, capsys):
    root = tmp_path / "demos"
    write_dataset(root, random_episodes(2, 6))
    rc = _cli(["pretrain", "--dataset", str(root), "--method", "bc", "--horizon", "4", "--n-action-steps", "5",
               "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    assert "--n-action-steps 5 must be between 1 and --horizon 4" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_pretrain_cli_options_are_the_train_config_fields():
    """`postbc pretrain` has one option per TrainConfig field, with TrainConfig's default, and what
    it parses comes back as that TrainConfig (the dataclass is the one source)."""
    import dataclasses

    from postbc_ros.cli import pretrain_cmd
    from postbc_ros.cli.config_args import config_from_args
    from postbc_ros.learning.train_config import PRETRAIN_ALPHA, TrainConfig

    p = argparse.ArgumentParser()
    pretrain_cmd.register(p.add_subparsers())
    a = p.parse_args(["pretrain", "--dataset", "d", "--out", "o"])
    assert config_from_args(a, TrainConfig) == TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        assert getattr(a, f.name) == getattr(TrainConfig(), f.name), f.name
    assert (a.method, a.alpha, a.steps, a.epochs, a.ensemble_steps, a.ensemble_epochs) == (
        "postbc", PRETRAIN_ALPHA, None, None, None, None)  # budgets: POLICY_STEPS / ENSEMBLE_STEPS
    a = p.parse_args(["pretrain", "--dataset", "d", "--out", "o", "--hidden", "8,16", "--ensemble-hidden", "4",
                      "--method", "bc", "--lr", "0.5", "--ensemble-size", "7"])
    assert config_from_args(a, TrainConfig) == TrainConfig(hidden=[8, 16], ensemble_hidden=[4], method="bc", lr=0.5,
                                                           ensemble_size=7)


def test_pretrain_dataset_is_the_pipeline_as_a_function(tmp_path):
    """What `postbc pretrain` and `postbc demo` run: dataset directory -> checkpoint, no command line;
    a dataset or configuration it cannot use is a PretrainError and nothing is written."""
    import pytest

    from postbc_ros.learning import PretrainError, TrainConfig, load_policy, pretrain_dataset

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(3, 8))
    lines = []
    cfg = TrainConfig(method="bc", epochs=2, hidden=[16], device="cpu")
    res = pretrain_dataset(root, tmp_path / "ckpt", cfg, progress=False, log=lines.append)
    assert res.train_cfg is cfg and len(res.losses) == 2 and lines == [
        f"dataset {root}: 3 episodes, 24 windows, obs {{'state': [5]}}, action_dim 3",
        "policy: 2 gradient steps at batch 256 = 2 epochs of 1 minibatches (budget given as epochs; "
        "cosine LR 0.001 -> 0 over 2 steps, warmup 0)"]
    assert load_policy(tmp_path / "ckpt", "cpu").cfg.hidden == [16]
    with pytest.raises(PretrainError, match="n-action-steps 5 must be between 1 and --horizon 4"):
        pretrain_dataset(root, tmp_path / "bad", TrainConfig(n_action_steps=5), progress=False)
    with pytest.raises(PretrainError, match=f"cannot use dataset {tmp_path / 'none'}: .*does not exist"):
        pretrain_dataset(tmp_path / "none", tmp_path / "bad", cfg, progress=False)
    with pytest.raises(PretrainError, match="ensemble"):
        pretrain_dataset(root, tmp_path / "bad", dataclasses_replace(cfg, method="postbc"),
                         reuse_ensemble=tmp_path / "ckpt" / "ensemble", progress=False)
    assert not (tmp_path / "bad").exists()


def test_dataset_errors_are_the_data_package_s():
    """One DatasetError: the training windows' problems are postbc_ros.data.DatasetError too."""
    import numpy as np
    import pytest

    from postbc_ros.data import DatasetError
    from postbc_ros.learning.training_data import TrainingData

    with pytest.raises(DatasetError, match="NaN/Inf"):
        TrainingData(obs={"state": np.zeros((2, 1, 3), np.float32)}, actions=np.full((2, 1, 2), np.nan, np.float32),
                     episode_index=np.zeros(2, np.int64))


def test_pretrain_reports_posterior_noise_fraction_and_points_at_the_tradeoff(tmp_path, capsys):
    """Random demo actions leave the bootstrap members disagreeing everywhere: the summary reports
    α²·tr Σ / tr Var(a) and, above the hint level, stderr points at the measured trade-off."""
    from postbc_ros.learning.pipeline import NOISE_FRACTION_HINT

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(4, 10))
    base = ["pretrain", "--dataset", str(root), "--method", "postbc", "--ensemble-size", "4", "--epochs", "2",
            "--ensemble-epochs", "30", "--hidden", "32,32", "--device", "cpu", "--quiet"]
    fracs = {}
    for alpha in ("4", "0"):
        capsys.readouterr()
        assert _cli(base + ["--alpha", alpha, "--out", str(tmp_path / f"a{alpha}")]) == 0
        cap = capsys.readouterr()
        fracs[alpha] = json.loads(cap.out.strip().splitlines()[-1])["posterior_noise_fraction"]
        assert ("note: the posterior noise adds" in cap.err) == (fracs[alpha] > NOISE_FRACTION_HINT)
    assert fracs["4"] > NOISE_FRACTION_HINT and fracs["0"] == 0.0


def test_demo_pretrains_through_the_pipeline_function(tmp_path, monkeypatch, capsys):
    """`postbc demo` hands its TrainConfig (DEMO_TRAIN + its options + its seed) straight to
    pretrain_dataset, as `postbc pretrain` does: no command line is built in between."""
    from types import SimpleNamespace

    from postbc_ros.cli import demo_cmd
    from postbc_ros.learning import pipeline
    from postbc_ros.learning.train_config import TrainConfig

    calls = []

    def fake(dataset, out, config, **kw):
        calls.append((dataset, out, config))
        return SimpleNamespace(train_cfg=config, info={"final_loss": 0.5})

    monkeypatch.setattr(pipeline, "pretrain_dataset", fake)
    p = argparse.ArgumentParser()
    demo_cmd.register(p.add_subparsers())
    args = p.parse_args(["demo", "--pretrain-epochs", "7", "--hidden", "32,32", "--seed", "3"])
    assert demo_cmd._pretrain(args, tmp_path / "demos", tmp_path / "policy") is None
    expected = TrainConfig(method="postbc", epochs=7, ensemble_size=demo_cmd.DEMO_TRAIN.ensemble_size,
                           hidden=[32, 32], seed=3)
    assert calls == [(tmp_path / "demos", tmp_path / "policy", expected)]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "out": str(tmp_path / "policy"), "method": "postbc", "final_loss": 0.5}
    # the α the demo's noise note advises (`--alpha auto`) is one of the demo's own options
    args = p.parse_args(["demo", "--alpha", "auto"])
    assert demo_cmd._pretrain(args, tmp_path / "demos", tmp_path / "policy") is None
    assert calls[-1][2].alpha_rule == "auto" and calls[-1][2].alpha == demo_cmd.DEMO_TRAIN.alpha
