"""Budgets in gradient steps (steps <-> epochs, what a checkpoint records), `--alpha auto` and
`--posterior-mix β`."""
from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from learning_helpers import random_episodes, write_dataset


def _pretrain_cli(argv: list[str]) -> int:
    from postbc_ros.cli import pretrain_cmd

    p = argparse.ArgumentParser(prog="postbc")
    pretrain_cmd.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["pretrain", *argv])
    return args.func(args)


def _data(episodes: int = 4, length: int = 10):
    from postbc_ros.learning.training_data import windows_from_episodes

    return windows_from_episodes(random_episodes(episodes, length), obs_history=1, horizon=4)


# ---------------------------------------------------------------- budgets
def test_steps_come_to_ceil_epochs_and_epochs_to_whole_passes():
    from postbc_ros.learning.train_config import ENSEMBLE_STEPS, POLICY_STEPS, TrainConfig, resolve_budget

    b = resolve_budget(1001, None, 7, num_samples=369, batch_size=256)  # 2 minibatches per epoch
    assert (b.steps, b.epochs, b.steps_per_epoch, b.given) == (1001, 501, 2, "steps")
    b = resolve_budget(None, 300, 7, num_samples=369, batch_size=256)
    assert (b.steps, b.epochs, b.given) == (600, 300, "epochs")
    b = resolve_budget(None, None, 7, num_samples=10, batch_size=256)
    assert (b.steps, b.epochs, b.steps_per_epoch, b.given) == (7, 7, 1, "default")
    cfg = TrainConfig()
    assert cfg.policy_budget(1000).steps == POLICY_STEPS and cfg.ensemble_budget(1000).steps == ENSEMBLE_STEPS
    assert cfg.policy_budget(1000).epochs == math.ceil(POLICY_STEPS / 4)
    assert TrainConfig(epochs=5, batch_size=100).policy_budget(250).steps == 15


def test_pretrain_runs_exactly_the_steps_and_the_cosine_spans_them(monkeypatch):
    """24 windows at batch 10: 3 minibatches per epoch, so 5 steps = 2 epochs, the second cut after 2
    minibatches; the LR schedule is evaluated at steps 0..5 of 5 (cosine to 0 at the last)."""
    from postbc_ros.learning import train
    from postbc_ros.learning.train_config import TrainConfig

    calls = []
    real = train.cosine_lr_factor
    monkeypatch.setattr(train, "cosine_lr_factor", lambda s, total: calls.append((s, total)) or real(s, total))
    data = _data(4, 6)
    assert data.num_samples == 24
    res = train.pretrain(data, TrainConfig(method="bc", steps=5, batch_size=10, hidden=[16], device="cpu"),
                         progress=False)
    assert calls == [(s, 5) for s in range(6)] and real(5, 5) == 0.0
    assert len(res.losses) == 2 and (res.info["steps"], res.info["epochs"], res.info["batch_size"]) == (5, 2, 10)
    assert res.as_run["policy"] | {"lr_schedule": None} == {
        "steps": 5, "epochs": 2, "steps_per_epoch": 3, "batch_size": 10, "given": "steps", "lr_schedule": None}
    assert "ensemble" not in res.as_run and "alpha" not in res.as_run  # BC has neither


def test_ensemble_steps_run_exactly():
    from postbc_ros.learning.ensemble import PosteriorEnsemble, train_ensemble

    ens = PosteriorEnsemble({"state": (3,)}, 1, 2, k=2, hidden=[8])
    calls = []
    ens.register_forward_hook(lambda *a: calls.append(1))
    x, y = {"state": torch.randn(10, 1, 3)}, torch.randn(10, 2)
    hist = train_ensemble(ens, x, y, torch.ones(2, 10), batch_size=4, steps=7, progress=False)  # 3 per epoch
    assert len(calls) == 7 and len(hist) == 3
    with pytest.raises(ValueError, match="epochs or steps"):
        train_ensemble(ens, x, y, torch.ones(2, 10), epochs=1, steps=1, progress=False)


def test_steps_and_epochs_together_are_refused_with_the_reason(tmp_path, capsys):
    from postbc_ros.cli.config_args import add_config_args, config_from_args
    from postbc_ros.learning import PretrainError, TrainConfig, pretrain_dataset

    with pytest.raises(ValueError, match="--steps 10 and --epochs 2 both set the same budget; give one"):
        TrainConfig(steps=10, epochs=2).validate()
    with pytest.raises(ValueError, match="--ensemble-steps 10 and --ensemble-epochs 2 both"):
        TrainConfig(ensemble_steps=10, ensemble_epochs=2).validate()
    root = tmp_path / "demos"
    write_dataset(root, random_episodes(2, 6))
    with pytest.raises(PretrainError, match="both set the same budget"):
        pretrain_dataset(root, tmp_path / "x", TrainConfig(steps=3, epochs=1), progress=False)
    assert not (tmp_path / "x").exists()
    # on the command line argparse refuses both before anything runs
    with pytest.raises(SystemExit):
        _pretrain_cli(["--dataset", str(root), "--out", str(tmp_path / "y"), "--steps", "3", "--epochs", "1"])
    assert "not allowed with argument" in capsys.readouterr().err
    # a command whose own defaults set steps (postbc demo): the epochs given replace them
    p = argparse.ArgumentParser()
    base = TrainConfig(steps=500, ensemble_size=5)
    add_config_args(p, TrainConfig, ("epochs", "ensemble_size"), base=base, flags={"epochs": "--pretrain-epochs"})
    assert config_from_args(p.parse_args([]), TrainConfig, ("epochs", "ensemble_size"), base=base) == base
    got = config_from_args(p.parse_args(["--pretrain-epochs", "7"]), TrainConfig, ("epochs", "ensemble_size"), base=base)
    assert (got.steps, got.epochs) == (None, 7)


def test_checkpoint_and_cli_record_the_budget_schedule_and_alpha(tmp_path, capsys):
    root = tmp_path / "demos"
    write_dataset(root, random_episodes(3, 8))  # 24 windows
    out = tmp_path / "ckpt"
    assert _pretrain_cli(["--dataset", str(root), "--out", str(out), "--method", "postbc", "--steps", "7",
                          "--batch-size", "10", "--ensemble-epochs", "2", "--ensemble-size", "3", "--hidden", "16",
                          "--alpha", "0.5", "--device", "cpu", "--quiet"]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["steps"], train["epochs"], train["batch_size"]) == (7, None, 10)
    run = train["as_run"]
    assert run["policy"] == {"steps": 7, "epochs": 3, "steps_per_epoch": 3, "batch_size": 10, "given": "steps",
                             "lr_schedule": {"name": "cosine", "lr": 1e-3, "final_lr": 0.0, "total_steps": 7,
                                             "warmup_steps": 0, "optimizer": "AdamW", "weight_decay": 1e-6}}
    assert run["ensemble"] | {"lr_schedule": None} == {"steps": 6, "epochs": 2, "steps_per_epoch": 3, "batch_size": 10,
                                                       "given": "epochs", "lr_schedule": None}
    assert run["ensemble"]["lr_schedule"]["name"] == "constant"
    assert (run["alpha"], run["alpha_rule"], run["posterior_mix"]) == (0.5, "fixed", 1.0)
    printed = capsys.readouterr().out.splitlines()
    summary = json.loads(printed[-1])
    assert (summary["steps"], summary["epochs"], summary["batch_size"], summary["alpha"]) == (7, 3, 10, 0.5)
    assert (summary["ensemble_steps"], summary["ensemble_epochs"]) == (6, 2)
    assert ("policy: 7 gradient steps at batch 10 = 3 epochs of 3 minibatches (budget given as steps; "
            "cosine LR 0.001 -> 0 over 7 steps, warmup 0)") in printed
    assert "posterior noise: alpha 0.5 (fixed), posterior_mix 1" in printed


# ---------------------------------------------------------------- --alpha auto
def test_auto_alpha_caps_the_noise_fraction_and_never_exceeds_the_cap():
    from postbc_ros.learning.posterior import auto_alpha

    # large Σ: lowered until α² · trΣ / trVar is the target exactly
    a = auto_alpha(trace_sigma_mean=2.0, action_variance=4.0, cap=1.0, target=0.02)
    assert a < 1.0 and a**2 * 2.0 / 4.0 == pytest.approx(0.02)
    # small Σ: the configured α stays
    assert auto_alpha(1e-4, 4.0, 1.0, 0.02) == 1.0 and auto_alpha(0.0, 4.0, 1.0, 0.02) == 1.0
    assert auto_alpha(1.0, 0.0, 0.7, 0.02) == 0.7
    g = torch.Generator().manual_seed(0)
    for tr, var, cap in torch.rand(200, 3, generator=g).mul(torch.tensor([10.0, 10.0, 4.0])).tolist():
        assert 0 <= auto_alpha(tr, var, cap, 0.02) <= cap


def test_alpha_auto_from_the_command_line_and_the_dataclass():
    from postbc_ros.cli import pretrain_cmd
    from postbc_ros.cli.config_args import config_from_args
    from postbc_ros.learning.train_config import PRETRAIN_ALPHA, TrainConfig

    assert (TrainConfig(alpha="auto").alpha, TrainConfig(alpha="auto").alpha_rule) == (PRETRAIN_ALPHA, "auto")
    assert TrainConfig().alpha_rule == "fixed"
    with pytest.raises(ValueError, match="neither a number nor 'auto'"):
        TrainConfig(alpha="big")
    p = argparse.ArgumentParser()
    pretrain_cmd.register(p.add_subparsers())
    a = p.parse_args(["pretrain", "--dataset", "d", "--out", "o", "--alpha", "auto"])
    assert config_from_args(a, TrainConfig) == TrainConfig(alpha_rule="auto")
    a = p.parse_args(["pretrain", "--dataset", "d", "--out", "o", "--alpha", "0.3", "--alpha-rule", "auto"])
    assert config_from_args(a, TrainConfig) == TrainConfig(alpha=0.3, alpha_rule="auto")  # the cap is 0.3
    with pytest.raises(SystemExit):
        p.parse_args(["pretrain", "--dataset", "d", "--out", "o", "--alpha", "lots"])


def test_pretrain_alpha_auto_lowers_alpha_where_the_posterior_is_wide(tmp_path):
    """Random demo actions: the members disagree everywhere, α = 4 would add far more than the
    target fraction; auto brings it down to exactly the target and the checkpoint records the α used."""
    from postbc_ros.learning import TrainConfig, pretrain_dataset
    from postbc_ros.learning.train_config import AUTO_NOISE_FRACTION

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(4, 10))
    common = dict(method="postbc", steps=2, ensemble_steps=30, ensemble_size=4, hidden=[16], device="cpu")
    fixed = pretrain_dataset(root, tmp_path / "fixed", TrainConfig(alpha=4.0, **common), progress=False)
    auto = pretrain_dataset(root, tmp_path / "auto", TrainConfig(alpha=4.0, alpha_rule="auto", **common),
                            progress=False)
    assert fixed.info["alpha"] == 4.0 and fixed.info["posterior_noise_fraction"] > AUTO_NOISE_FRACTION
    assert auto.info["alpha"] < 4.0
    assert auto.info["posterior_noise_fraction"] == pytest.approx(AUTO_NOISE_FRACTION, rel=1e-4)
    run = json.loads((tmp_path / "auto" / "config.json").read_text())["train"]["as_run"]
    assert run["alpha"] == auto.info["alpha"] and run["alpha_rule"] == "auto"


# ---------------------------------------------------------------- --posterior-mix
def _noise(n: int = 4000, d: int = 3):
    from postbc_ros.learning.posterior import PosteriorNoise

    return PosteriorNoise(torch.rand(n, d) + 0.5)  # diagonal factor: every noised row moves


def test_posterior_mix_zero_is_bc_one_is_postbc_between_a_fraction():
    from postbc_ros.learning.posterior import posterior_targets

    n = 4000
    noise, target, idx = _noise(n), torch.randn(n, 3), torch.arange(n)
    g0 = torch.Generator().manual_seed(5)
    assert posterior_targets(target, idx, noise, 2.0, 0.0, generator=g0) is target
    assert torch.equal(g0.get_state(), torch.Generator().manual_seed(5).get_state())  # drew nothing: BC's stream
    full = posterior_targets(target, idx, noise, 2.0, 1.0, generator=torch.Generator().manual_seed(5))
    expected = target + 2.0 * noise.sample(idx, generator=torch.Generator().manual_seed(5))
    assert torch.equal(full, expected)  # β = 1: exactly what PostBC drew before the mixture existed
    mixed = posterior_targets(target, idx, noise, 2.0, 0.3, generator=torch.Generator().manual_seed(5))
    moved = (mixed != target).any(1)
    assert abs(moved.float().mean().item() - 0.3) < 0.03  # 4000 draws: 4.5 standard errors
    torch.testing.assert_close(mixed[~moved], target[~moved], rtol=0, atol=0)
    torch.testing.assert_close(mixed[moved], expected[moved], rtol=0, atol=0)  # the same w where noised


def test_postbc_with_mix_zero_trains_bc_exactly():
    """β = 0: the ensemble is still trained (Σ for coverage) but the policy is BC's, weight for weight."""
    from postbc_ros.learning import TrainConfig, pretrain

    data = _data(3, 8)
    common = dict(steps=4, hidden=[16], ensemble_steps=2, ensemble_size=3, device="cpu", seed=3)
    bc = pretrain(data, TrainConfig(method="bc", **common), progress=False)
    mix0 = pretrain(data, TrainConfig(method="postbc", posterior_mix=0.0, **common), progress=False)
    mix1 = pretrain(data, TrainConfig(method="postbc", posterior_mix=1.0, **common), progress=False)
    assert mix0.ensemble is not None and mix0.as_run["posterior_mix"] == 0.0
    sd_bc, sd0, sd1 = (r.policy.state_dict() for r in (bc, mix0, mix1))
    assert all(torch.equal(sd_bc[k], sd0[k]) for k in sd_bc)
    assert not all(torch.equal(sd_bc[k], sd1[k]) for k in sd_bc)
    with pytest.raises(ValueError, match="--posterior-mix 1.5 must be in"):
        TrainConfig(posterior_mix=1.5).validate()


def test_bench_pretrain_variants_take_alpha_auto_and_the_mixture():
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, parse_variant

    assert parse_variant("postbc:alpha=auto,posterior_mix=0.5") == ("postbc", {"alpha": "auto", "posterior_mix": 0.5})
    tc = PretrainBenchConfig().train_config("postbc:alpha=auto,posterior_mix=0.5", 1, "cpu")
    assert (tc.alpha, tc.alpha_rule, tc.posterior_mix) == (1.0, "auto", 0.5)
    with pytest.raises(ValueError, match="posterior_mix='x' is not a float"):
        parse_variant("postbc:posterior_mix=x")
