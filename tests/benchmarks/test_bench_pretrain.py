"""`postbc bench pretrain` at toy size: variants, shared ensembles, paired differences to BC,
coverage against one reference ensemble, JSON + PNG."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from postbc_ros.benchmarks import pretrain as pretrain_mod
from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, parse_variant
from postbc_ros.benchmarks.stats import mean_ci95, wilson_ci95
from postbc_ros.learning.train_config import TrainConfig


def _parser():
    from postbc_ros.cli import bench_cmd

    p = argparse.ArgumentParser(prog="postbc")
    bench_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def test_parse_variant():
    assert parse_variant("bc") == ("bc", {})
    assert parse_variant("postbc:alpha=0.25,bootstrap=state_action") == (
        "postbc", {"alpha": 0.25, "bootstrap": "state_action"})
    with pytest.raises(ValueError, match="nope"):
        parse_variant("nope")
    with pytest.raises(ValueError, match="temperature"):
        parse_variant("postbc:temperature=2")
    with pytest.raises(ValueError, match="alpha='x'"):
        parse_variant("postbc:alpha=x")


def test_config_rejects_duplicates_and_bad_overrides():
    with pytest.raises(ValueError, match="duplicates"):
        PretrainBenchConfig(variants=["bc", "bc"]).validate()
    with pytest.raises(ValueError, match="columns"):
        PretrainBenchConfig(variants=["bc", "postbc:bootstrap=columns"]).validate()
    tc = PretrainBenchConfig(train=TrainConfig(alpha=2.0)).train_config("postbc:covariance=diag", 3, "cpu")
    assert (tc.method, tc.alpha, tc.covariance, tc.bootstrap, tc.seed) == ("postbc", 2.0, "diag", "trajectory", 3)


def test_options_are_the_config_fields():
    """`bench pretrain` parses into PretrainBenchConfig; its shared pretraining settings are
    `postbc pretrain`'s defaults (TrainConfig), variants are space-separated."""
    from postbc_ros.cli.bench_cmd import pretrain_config

    cfg = pretrain_config(_parser().parse_args(["bench", "pretrain", "--json", "r.json"]))
    assert cfg == PretrainBenchConfig() and cfg.train == TrainConfig()
    cfg = pretrain_config(_parser().parse_args([
        "bench", "pretrain", "--json", "r.json", "--hidden", "16,16", "--bootstrap", "state_action",
        "--variants", "bc", "postbc:alpha=0.5,covariance=diag", "--coverage-states", "12"]))
    assert cfg.train == TrainConfig(hidden=[16, 16], bootstrap="state_action")
    assert cfg.variants == ["bc", "postbc:alpha=0.5,covariance=diag"] and cfg.coverage_states == 12
    tc = cfg.train_config("postbc:alpha=0.5,covariance=diag", 2, "cpu")
    assert (tc.alpha, tc.covariance, tc.bootstrap, tc.hidden, tc.seed) == (0.5, "diag", "state_action", [16, 16], 2)


def test_cli_names_a_bad_variant_and_records_nothing(tmp_path, capsys):
    args = _parser().parse_args(["bench", "pretrain", "--variants", "bc", "postbc:alpha=x",
                                 "--json", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "postbc bench pretrain: variant 'postbc:alpha=x': alpha='x' is not a float" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_mean_ci95_is_unclipped_for_differences():
    r = mean_ci95(np.array([-0.2, -0.19, -0.21]))  # t(2) 4.30 x 0.01 / sqrt(3) = 0.0248
    assert r["mean"] == pytest.approx(-0.2)
    assert r["ci95_low"] == pytest.approx(-0.2248, abs=1e-3) and r["ci95_high"] == pytest.approx(-0.1752, abs=1e-3)
    assert mean_ci95(np.array([0.4])) == {"mean": 0.4, "ci95_low": 0.4, "ci95_high": 0.4}


def test_bench_pretrain_end_to_end(tmp_path):
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    variants = ["bc", "postbc", "postbc:alpha=0.5", "postbc:bootstrap=state_action,covariance=diag"]
    args = _parser().parse_args([
        "bench", "pretrain", "--env", "postbc/WidowXReach-v0", "--demos", "2", "--seeds", "2",
        "--eval-episodes", "2", "--epochs", "3", "--ensemble-epochs", "2", "--ensemble-size", "4",
        "--coverage-states", "20", "--hidden", "32,32", "--device", "cpu", "--quiet",
        "--json", str(out), "--plot", str(png), "--variants", *variants,
    ])
    assert args.func(args) == 0
    res = json.loads(out.read_text())
    vs = res["variants"]
    assert list(vs) == variants and res["config"]["demos"] == 2
    bc = np.array(vs["bc"]["success_per_seed"])
    for name in variants:
        v = vs[name]
        assert len(v["success_per_seed"]) == 2
        assert 0.0 <= v["success"]["ci95_low"] <= v["success"]["mean"] <= v["success"]["ci95_high"] <= 1.0
        assert len(v["coverage"]["per_seed"]) == 2 and v["coverage"]["spread_high"] > 0
        s = v["success"]  # both intervals, the counts they rest on (2 seeds x 2 episodes)
        assert (s["n_seeds"], s["episodes_per_seed"], s["n_episodes"]) == (2, 2, 4)
        assert s["successes"] == round(sum(v["success_per_seed"]) * 2)
        assert s["ci95_seeds"] == [s["ci95_low"], s["ci95_high"]]
        assert s["ci95_wilson"] == pytest.approx(list(wilson_ci95(s["successes"], 4)))
        if name != "bc":
            assert v["minus_bc"]["per_seed"] == pytest.approx((np.array(v["success_per_seed"]) - bc).tolist())
            d = v["minus_bc"]
            assert d["min_detectable_difference"] == pytest.approx((d["ci95_high"] - d["ci95_low"]) / 2)
            assert d["ci95_seeds"] == [d["ci95_low"], d["ci95_high"]] and len(d["ci95_newcombe"]) == 2
    assert {"ci95_seeds", "ci95_wilson"} <= set(res["intervals"])
    assert res["headline"]["meets"] is False and res["headline"]["seeds"] == 2
    assert "minus_bc" not in vs["bc"] and "trace_sigma_mean" not in vs["bc"]
    # α variants share the seed's trajectory ensemble; the state-action variant trains its own
    assert vs["postbc"]["trace_sigma_mean"] == pytest.approx(vs["postbc:alpha=0.5"]["trace_sigma_mean"])
    assert vs["postbc:alpha=0.5"]["posterior_noise_fraction"] == pytest.approx(
        0.25 * vs["postbc"]["posterior_noise_fraction"])
    assert vs["postbc:bootstrap=state_action,covariance=diag"]["trace_sigma_mean"] != pytest.approx(
        vs["postbc"]["trace_sigma_mean"])
    # every variant is scored against the same reference disagreement (the first PostBC ensemble)
    refs = {round(v["coverage"]["reference_trace_sigma_mean"], 6) for v in vs.values()}
    assert len(refs) == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_pretrain_without_postbc_has_no_coverage(tmp_path):
    args = _parser().parse_args([
        "bench", "pretrain", "--env", "postbc/WidowXReach-v0", "--demos", "1", "--seeds", "1",
        "--eval-episodes", "1", "--epochs", "2", "--hidden", "16", "--device", "cpu", "--quiet",
        "--json", str(tmp_path / "q.json"), "--variants", "bc", "sigma_bc:sigma=0.2",
        "--horizon", "2", "--n-action-steps", "1", "--obs-history", "2",
    ])
    assert args.func(args) == 0
    res = json.loads((tmp_path / "q.json").read_text())
    train = res["config"]["train"]  # the settings every variant shares
    assert (train["horizon"], train["n_action_steps"], train["obs_history"]) == (2, 1, 2)
    vs = res["variants"]
    assert set(vs) == {"bc", "sigma_bc:sigma=0.2"} and all("coverage" not in v for v in vs.values())
    # the default rule on the twin's tool-space actions: the six joint angles are what the policies ignore
    for v in vs.values():
        assert len(v["state_excluded"]) == 6 and all(n.startswith("q_") for n in v["state_excluded"])


def test_bench_pretrain_on_marker_observations(tmp_path):
    """--obs-mode markers: demos recorded and policies evaluated on proprioception + the marker poses
    perceived in the twin's rendered frames (the deployable observation), not the privileged state."""
    from postbc_ros.core.observation_contract import SOURCE_MARKERS_PREFIX

    args = _parser().parse_args([
        "bench", "pretrain", "--env", "postbc/WidowXReach-v0", "--demos", "1", "--seeds", "1",
        "--eval-episodes", "1", "--epochs", "1", "--hidden", "16", "--device", "cpu", "--quiet",
        "--json", str(tmp_path / "m.json"), "--variants", "bc", "--obs-mode", "markers",
    ])
    seen = []
    from postbc_ros.benchmarks import demos

    make = demos.make_bench_env

    def spy(cfg, seed):
        env = make(cfg, seed)
        seen.append(env.unwrapped.obs_mode)
        return env

    demos.make_bench_env, pretrain_mod.make_bench_env = spy, spy
    try:
        assert args.func(args) == 0
    finally:
        demos.make_bench_env, pretrain_mod.make_bench_env = make, make
    res = json.loads((tmp_path / "m.json").read_text())
    assert res["config"]["obs_mode"] == "markers" and seen and set(seen) == {"markers"}
    from postbc_ros.sim.twin_contract import contract_for_twin

    sources = {f.name: f.source for f in contract_for_twin("widowx", "reach", obs_mode="markers").features}
    assert sources["observation.state"].startswith(SOURCE_MARKERS_PREFIX)


def test_metaworld_has_no_marker_observations():
    from postbc_ros.benchmarks.demos import make_bench_env
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig

    with pytest.raises(ValueError, match="Meta-World envs observe their state only"):
        make_bench_env(PretrainBenchConfig(env="metaworld/reach-v3", obs_mode="markers"), 0)


@pytest.mark.parametrize("chunk, message", [
    (["--horizon", "2", "--n-action-steps", "3"], "--n-action-steps 3 must be between 1 and --horizon 2"),
    (["--horizon", "0", "--n-action-steps", "0"], "--horizon and --obs-history must be >= 1"),
    (["--obs-history", "0"], "--horizon and --obs-history must be >= 1"),
])
def test_cli_names_a_bad_chunk_and_records_nothing(tmp_path, capsys, chunk, message):
    args = _parser().parse_args(["bench", "pretrain", "--variants", "bc", *chunk, "--json", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_a_train_seed_variant_moves_only_the_training_draw():
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, parse_variant

    assert parse_variant("bc:train_seed=1000") == ("bc", {"train_seed": 1000})
    cfg = PretrainBenchConfig(variants=["bc", "bc:train_seed=1000"])
    cfg.validate()
    assert cfg.train_config("bc:train_seed=1000", 3, "cpu").seed == 1003
    assert cfg.train_config("bc", 3, "cpu").seed == 3
    with pytest.raises(ValueError, match="train_seed='x' is not a int"):
        parse_variant("bc:train_seed=x")
