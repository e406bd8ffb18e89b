"""End to end on tiny budgets: dataset directory -> `postbc pretrain` -> checkpoint -> coverage.

State and image observations both go through the real data reader (postbc_ros.data).
"""
from __future__ import annotations

import argparse
import json

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


def test_pretrain_cli_defaults_are_the_library_defaults():
    """`postbc pretrain` and TrainConfig must not drift apart (the CLI avoids importing torch to
    build its parser, so it repeats the numbers)."""
    import argparse
    import dataclasses

    from postbc_ros.cli import pretrain_cmd
    from postbc_ros.learning.train import TrainConfig

    p = argparse.ArgumentParser()
    pretrain_cmd.register(p.add_subparsers())
    a = p.parse_args(["pretrain", "--dataset", "d", "--out", "o"])
    lib = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name == "method":  # the command's own default is postbc; the library's is plain bc
            continue
        if hasattr(a, f.name) and getattr(a, f.name) is not None:
            assert getattr(a, f.name) == getattr(lib, f.name), f.name
    assert (a.epochs, a.ensemble_epochs) == (3000, 300)


def test_pretrain_reports_posterior_noise_fraction_and_points_at_the_tradeoff(tmp_path, capsys):
    """Random demo actions leave the bootstrap members disagreeing everywhere: the summary reports
    α²·tr Σ / tr Var(a) and, above the hint level, stderr points at the measured trade-off."""
    from postbc_ros.cli.pretrain_cmd import NOISE_FRACTION_HINT

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
