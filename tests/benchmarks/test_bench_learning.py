"""`postbc bench learning` end to end at toy size: JSON fields, curve shape, PNG written."""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest


def _parser():
    from postbc_ros.cli import bench_cmd

    p = argparse.ArgumentParser(prog="postbc")
    bench_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def test_help_lists_learning():
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["bench", "learning", "--help"])
    assert e.value.code == 0


def test_options_are_the_config_fields_and_the_bench_alpha_is_named(capsys):
    """`bench learning` parses into BenchConfig with its own defaults (one source: the dataclasses);
    its pretraining α is BENCH_ALPHA, not `postbc pretrain`'s PRETRAIN_ALPHA, and --help says why."""
    from postbc_ros.benchmarks.learning import BENCH_ALPHA, BENCH_ENSEMBLE_SIZE, BenchConfig
    from postbc_ros.cli.bench_cmd import learning_config
    from postbc_ros.learning.train_config import PRETRAIN_ALPHA, TrainConfig

    cfg = learning_config(_parser().parse_args(["bench", "learning", "--json", "r.json"]))
    assert cfg == BenchConfig()
    assert (cfg.train.alpha, cfg.train.ensemble_size) == (BENCH_ALPHA, BENCH_ENSEMBLE_SIZE) == (0.5, 20)
    assert PRETRAIN_ALPHA == TrainConfig().alpha == 1.0
    assert cfg.train == TrainConfig(alpha=BENCH_ALPHA, ensemble_size=BENCH_ENSEMBLE_SIZE)  # the rest: TrainConfig's
    cfg = learning_config(_parser().parse_args([
        "bench", "learning", "--json", "r.json", "--alpha", "0.7", "--batch-size", "64", "--backup-entropy", "on",
        "--methods", "bc,postbc", "--horizon", "2", "--n-action-steps", "1", "--finetune", "dsrl_na", "--quiet"]))
    assert (cfg.train.alpha, cfg.train.horizon, cfg.train.n_action_steps) == (0.7, 2, 1)
    assert (cfg.batch_size, cfg.train.batch_size) == (64, TrainConfig().batch_size)  # --batch-size is the RL batch
    assert cfg.backup_entropy is True and cfg.methods == ["bc", "postbc"] and cfg.finetune == "dsrl_na"
    assert not cfg.progress
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "learning", "--help"])
    assert "`postbc pretrain`'s is 1.0" in " ".join(capsys.readouterr().out.split())


def test_dsrl_options_reach_the_agents_config():
    """Every DSRL option of `bench learning` lands in the DSRL / DSRL-NA config; by default the
    agent gets the reference's settings (DSRLConfig) except the named CPU sizes."""
    from postbc_ros.benchmarks.learning import (BENCH_RL_HIDDEN, BENCH_WARMUP_ENV_STEPS, BON_BENCH_BATCH,
                                                BON_BENCH_UTD, agent_config)
    from postbc_ros.cli.bench_cmd import learning_config
    from postbc_ros.rl.dsrl_config import DSRLConfig
    from postbc_ros.rl.registry import make_config

    cfg = learning_config(_parser().parse_args(["bench", "learning", "--json", "r.json"]))
    made = make_config("dsrl", agent_config(cfg))
    assert made == DSRLConfig(hidden=BENCH_RL_HIDDEN, warmup_env_steps=BENCH_WARMUP_ENV_STEPS)
    assert (cfg.eval_mode, made.reward, made.utd, made.batch_size) == ("sample", "minus_one", 5, 256)
    bon = make_config("best_of_n", agent_config(learning_config(_parser().parse_args(
        ["bench", "learning", "--json", "r.json", "--finetune", "best_of_n"]))))
    assert (bon.utd, bon.batch_size, bon.iql.hidden) == (BON_BENCH_UTD, BON_BENCH_BATCH, BENCH_RL_HIDDEN)
    changed = {"rl_hidden": ("--rl-hidden", "64", 64), "rl_layers": ("--rl-layers", "2", 2),
               "activation": ("--activation", "relu", "relu"), "layer_norm": ("--layer-norm", "off", False),
               "utd": ("--utd", "20", 20), "batch_size": ("--batch-size", "32", 32),
               "warmup_env_steps": ("--warmup-env-steps", "24016", 24016),
               "backup_entropy": ("--backup-entropy", "off", False), "init_alpha": ("--init-alpha", "0.1", 0.1),
               "target_entropy": ("--target-entropy", "-4", -4.0), "noise_bound": ("--noise-bound", "1.0", 1.0),
               "n_critics": ("--n-critics", "3", 3), "reward": ("--reward", "zero_one", "zero_one")}
    argv = ["bench", "learning", "--json", "r.json", "--finetune", "dsrl_na", "--eval-mode", "mean"]
    cfg = learning_config(_parser().parse_args(argv + [x for flag, v, _ in changed.values() for x in (flag, v)]))
    made = make_config("dsrl_na", agent_config(cfg))
    names = {"rl_hidden": "hidden", "rl_layers": "layers"}
    for field, (_, _, value) in changed.items():
        assert getattr(made, names.get(field, field)) == value, field
    assert made.distill_batch == 32 and cfg.eval_mode == "mean"


@pytest.mark.parametrize("env_id,finetune", [("postbc/WidowXReach-v0", "best_of_n"),
                                             ("metaworld/reach-v3", "dsrl")])
def test_bench_learning_writes_json_and_png(tmp_path, monkeypatch, env_id, finetune):
    from postbc_ros.benchmarks import rollout

    modes = []
    evaluate = rollout.evaluate
    monkeypatch.setattr(rollout, "evaluate", lambda env, agent, n, mode="eval", seed0=0: modes.append(mode) or
                        evaluate(env, agent, n, mode, seed0))
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    args = _parser().parse_args([
        "bench", "learning", "--env", env_id, "--demos", "2", "--methods", "bc,postbc", "--finetune", finetune,
        "--seeds", "2", "--budget-episodes", "2", "--eval-every", "1", "--eval-episodes", "1",
        "--final-eval-episodes", "2", "--epochs", "5",
        "--ensemble-epochs", "5",
        "--ensemble-size", "3", "--utd", "1", "--batch-size", "16", "--rl-hidden", "32", "--warmup-env-steps", "20",
        "--n-samples", "2", "--max-episode-steps", "60", "--device", "cpu", "--quiet",
        "--json", str(out), "--plot", str(png),
    ])
    assert args.func(args) == 0
    res = json.loads(out.read_text())
    assert res["config"]["env"] == env_id and res["device"] == "cpu"
    assert set(modes) == {"base", "zero", "sample"}  # evaluation points sample the learned policy by default
    if finetune == "dsrl":
        assert res["agent_config"]["warmup_env_steps"] == 20 and res["agent_config"]["reward"] == "minus_one"
    for m in ("bc", "postbc"):
        r = res["methods"][m]
        assert [p["episodes"] for p in r["curve"]] == [0, 1, 2]
        assert all(0.0 <= p["ci95_low"] <= p["success_mean"] <= p["ci95_high"] <= 1.0 for p in r["curve"])
        assert len(r["curve"][0]["per_seed"]) == 2
        assert len(r["pretrained_zero_noise_per_seed"]) == 2
        assert r["pretrained_zero_noise_success"] == pytest.approx(np.mean(r["pretrained_zero_noise_per_seed"]))
        assert r["final_success"] == r["curve"][-1]["success_mean"]
        assert r["episodes_to_threshold"]["threshold"] == 0.8 and len(r["episodes_to_threshold"]["per_seed"]) == 2
        assert r["curve"][2]["env_steps"] >= r["curve"][1]["env_steps"] > 0
        assert r["curve"][2]["grad_steps"] >= r["curve"][1]["grad_steps"] >= r["curve"][0]["grad_steps"]
    assert "episodes_to_threshold_postbc_over_bc" in res["methods"]["_ratios"]
    _check_intervals(res)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_intervals(res):
    """Every reported success rate carries per-seed values, the t-interval over seeds and the
    pooled Wilson interval; the ends ran --final-eval-episodes; every pair of methods is compared."""
    from postbc_ros.benchmarks.stats import difference_stats, success_stats

    assert {"ci95_seeds", "ci95_wilson", "min_detectable_difference"} <= set(res["intervals"])
    assert res["headline"]["meets"] is False and res["headline"]["final_episodes"] == 2
    for m in ("bc", "postbc"):
        r = res["methods"][m]
        assert [p["episodes_per_seed"] for p in r["curve"]] == [2, 1, 2]  # the ends: --final-eval-episodes
        for p in r["curve"]:
            expect = success_stats(p["per_seed"], p["episodes_per_seed"])
            assert p["n_seeds"] == 2 and p["n_episodes"] == 2 * p["episodes_per_seed"]
            assert p["successes"] == round(sum(p["per_seed"]) * p["episodes_per_seed"])
            assert (p["ci95_seeds"], p["ci95_wilson"]) == (expect["ci95_seeds"], expect["ci95_wilson"])
            assert p["ci95_wilson"][0] <= p["successes"] / p["n_episodes"] <= p["ci95_wilson"][1]
            assert [p["ci95_low"], p["ci95_high"]] == p["ci95_seeds"]
        assert r["curve"][0]["online"] is None and r["curve"][1]["online"]["n_episodes"] == 2
        assert r["final"]["ci95_wilson"] == r["curve"][-1]["ci95_wilson"]
        assert r["pretrained"]["per_seed"] == r["curve"][0]["per_seed"]
        assert r["pretrained_zero_noise"]["episodes_per_seed"] == 1
        assert r["final_minus_pretrained"]["per_seed"] == pytest.approx(
            np.subtract(r["curve"][-1]["per_seed"], r["curve"][0]["per_seed"]).tolist())
    c = res["comparisons"]["postbc - bc"]
    bc, pb = res["methods"]["bc"]["curve"][-1], res["methods"]["postbc"]["curve"][-1]
    assert c["final"] == difference_stats(pb["per_seed"], bc["per_seed"], 2, 2) | {"episodes": 2}
    assert c["final"]["min_detectable_difference"] >= 0 and c["pretrained"]["episodes"] == 0


def test_learning_plot_draws_bands_bars_and_pretrained_lines(tmp_path, monkeypatch):
    """The learning plot: a shaded band per method, Wilson bars, the pretrained level as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from postbc_ros.benchmarks.learning import BenchConfig, aggregate, compare_methods, plot_learning
    from postbc_ros.benchmarks.stats import INTERVALS, headline_check

    cfg = BenchConfig(methods=["bc", "postbc"], seeds=3, budget_episodes=2, eval_every=1, eval_episodes=4,
                      final_eval_episodes=8)
    rng = np.random.default_rng(0)

    def run(level):
        pts = [{"episodes": e, "env_steps": 10 * e, "success": float(rng.integers(0, n + 1) / n),
                "eval_episodes": n, "online_success": None if e == 0 else 0.5, "online_episodes": min(e, 1)}
               for e, n in ((0, 8), (1, 4), (2, 8))]
        return {"points": pts, "pretrained_success": pts[0]["success"], "pretrained_zero_noise_success": level,
                "pretrain_seconds": 1.0, "pretrain_info": {}}

    methods = aggregate(cfg, {"bc": [run(0.2)] * 3, "postbc": [run(0.3), run(0.4), run(0.5)]})
    result = {"config": dataclasses.asdict(cfg), "intervals": INTERVALS, "headline": headline_check(3, 4, 8),
              "methods": methods, "comparisons": compare_methods(methods)}
    figs = []
    monkeypatch.setattr("postbc_ros.benchmarks.learning.save_png", lambda fig, path: figs.append(fig) or path)
    plot_learning(result, tmp_path / "x.png")
    ax = figs[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for m in ("bc", "postbc"):
        pre = methods[m]["curve"][0]["success_mean"]
        assert f"{m} pretrained {pre:.2f}" in labels
        line = next(ln for ln in ax.get_lines() if ln.get_label() == f"{m} pretrained {pre:.2f}")
        assert list(line.get_ydata()) == [pre, pre]
    assert len(ax.collections) >= 4  # two bands + two sets of Wilson bars
    assert "postbc - bc" in ax.texts[0].get_text()
    plt.close(figs[0])


def test_bad_arguments_are_rejected(tmp_path, capsys):
    args = _parser().parse_args(["bench", "learning", "--methods", "bc,nope", "--json", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "postbc bench learning: --methods ['nope']" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def _toy_result(cfg, methods_runs, wall):
    import dataclasses as dc

    from postbc_ros.benchmarks.learning import aggregate, compare_methods
    from postbc_ros.benchmarks.stats import INTERVALS, headline_check

    methods = aggregate(cfg, methods_runs)
    return {"benchmark": "learning", "config": dc.asdict(cfg), "agent_config": {"utd": 4}, "device": "cpu",
            "torch_threads": 1, "wall_seconds": wall, "seeds_disjoint": {}, "intervals": INTERVALS,
            "headline": headline_check(cfg.seeds, cfg.eval_episodes, cfg.final_eval_episodes),
            "methods": methods, "comparisons": compare_methods(methods)}


def test_learning_merge_equals_one_run_with_both_methods(tmp_path, capsys):
    """`bench learning-merge` of a bc-only and a postbc-only result is what one bc,postbc run
    writes (curves, ratios, paired comparisons); parts with other settings are refused by name."""
    from postbc_ros.benchmarks.learning import BenchConfig

    rng = np.random.default_rng(1)

    def run():
        pts = [{"episodes": e, "env_steps": 10 * e, "grad_steps": 5 * e, "success": float(rng.integers(0, n + 1) / n),
                "eval_episodes": n, "online_success": None if e == 0 else 0.5, "online_episodes": min(e, 1)}
               for e, n in ((0, 8), (1, 4), (2, 8))]
        return {"points": pts, "pretrained_success": pts[0]["success"], "pretrained_zero_noise_success": 0.5,
                "pretrain_seconds": 1.0, "pretrain_info": {}}

    base = dict(seeds=3, budget_episodes=2, eval_every=1, eval_episodes=4, final_eval_episodes=8, threshold=0.5)
    bc_runs, pb_runs = [run() for _ in range(3)], [run() for _ in range(3)]
    both = _toy_result(BenchConfig(methods=["bc", "postbc"], **base), {"bc": bc_runs, "postbc": pb_runs}, 30.0)
    paths = []
    for name, runs, wall in (("bc", bc_runs, 10.0), ("postbc", pb_runs, 20.0)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(_toy_result(BenchConfig(methods=[name], **base), {name: runs}, wall)))
    out, png = tmp_path / "merged.json", tmp_path / "merged.png"
    args = _parser().parse_args(["bench", "learning-merge", *map(str, paths), "--json", str(out), "--plot", str(png)])
    assert args.func(args) == 0
    merged = json.loads(out.read_text())
    expect = json.loads(json.dumps(both))
    for key in ("config", "methods", "comparisons", "headline", "wall_seconds"):
        assert merged[key] == expect[key], key
    assert [p["methods"] for p in merged["merged_from"]] == [["bc"], ["postbc"]]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a part with another setting (here: the threshold) does not pair by seed: refused, named
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_toy_result(BenchConfig(methods=["postbc"], **(base | {"threshold": 0.9})),
                                            {"postbc": pb_runs}, 1.0)))
    args = _parser().parse_args(["bench", "learning-merge", str(paths[0]), str(other), "--json", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "in config ['threshold']" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    # the same method twice
    args = _parser().parse_args(["bench", "learning-merge", str(paths[0]), str(paths[0]), "--json", str(tmp_path / "x.json")])
    assert args.func(args) == 2
    assert "method 'bc' is in more than one result" in capsys.readouterr().err
