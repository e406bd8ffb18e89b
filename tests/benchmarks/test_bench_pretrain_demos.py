"""`postbc bench pretrain-demos`: real `bench pretrain` results at two demo counts become curves;
results that differ in anything but --demos are refused with the field named."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from postbc_ros.benchmarks.pretrain_scaling import ScalingError, combine_by_demos, load_results


def _parser():
    from postbc_ros.cli import bench_cmd

    p = argparse.ArgumentParser(prog="postbc")
    bench_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def _bench(tmp_path, demos: int, variants=("bc", "postbc")) -> str:
    out = tmp_path / f"d{demos}.json"
    args = _parser().parse_args([
        "bench", "pretrain", "--env", "postbc/WidowXReach-v0", "--demos", str(demos), "--seeds", "1",
        "--eval-episodes", "1", "--epochs", "2", "--ensemble-epochs", "2", "--ensemble-size", "4",
        "--coverage-states", "12", "--hidden", "16", "--device", "cpu", "--quiet", "--json", str(out),
        "--variants", *variants,
    ])
    assert args.func(args) == 0
    return str(out)


@pytest.fixture(scope="module")
def two_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain_demos")
    return tmp, _bench(tmp, 3), _bench(tmp, 2, variants=("bc", "sigma_bc", "postbc"))


def test_curves_from_real_bench_results(two_results, capsys):
    tmp, r3, r2 = two_results
    out, png = tmp / "curve.json", tmp / "curve.png"
    args = _parser().parse_args(["bench", "pretrain-demos", r3, r2, "--json", str(out), "--plot", str(png)])
    assert args.func(args) == 0
    s = json.loads(out.read_text())
    raw = {n: json.loads(open(p).read()) for n, p in ((3, r3), (2, r2))}
    assert s["demos"] == [2, 3] and s["sources"] == [r2, r3]  # ordered by demo count
    assert list(s["variants"]) == ["bc", "postbc"]  # sigma_bc is only in one result
    pb = s["variants"]["postbc"]
    for i, n in enumerate((2, 3)):
        v = raw[n]["variants"]["postbc"]
        assert pb["success_mean"][i] == v["success"]["mean"]
        assert pb["minus_bc"][i]["mean"] == v["minus_bc"]["mean"]
        assert pb["trace_sigma_mean"][i] == v["trace_sigma_mean"] and pb["trace_sigma_mean"][i] > 0
        assert pb["spread_high"][i] == v["coverage"]["spread_high"]
        assert pb["success_ci95_wilson"][i] == v["success"]["ci95_wilson"]  # (only where every result has it)
        assert pb["minus_bc_min_detectable_difference"][i] == v["minus_bc"]["min_detectable_difference"]
    assert s["variants"]["bc"]["minus_bc"] == [None, None] and s["variants"]["bc"]["trace_sigma_mean"] == [None, None]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "postbc" in capsys.readouterr().out


def test_results_that_differ_beyond_demos_are_refused(two_results, tmp_path, capsys):
    _, r3, r2 = two_results
    other = json.loads(open(r2).read())
    other["config"]["train"]["epochs"] = 3000
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(other))
    with pytest.raises(ScalingError, match=r"d3.json: epochs = 2 but .*bad.json has 3000; only --demos may differ"):
        combine_by_demos(load_results([r3, bad]))
    with pytest.raises(ScalingError, match="both have demos = 3"):
        combine_by_demos(load_results([r3, r3]))
    with pytest.raises(ScalingError, match="at least 2"):
        combine_by_demos(load_results([r3]))
    (tmp_path / "learning.json").write_text(json.dumps({"benchmark": "learning", "config": {}, "variants": {}}))
    (tmp_path / "trunc.json").write_text(open(r3).read()[:50])
    for name, msg in (("learning.json", "not a `postbc bench pretrain` result"), ("trunc.json", "not JSON"),
                      ("missing.json", "no such file")):
        args = _parser().parse_args(["bench", "pretrain-demos", r3, str(tmp_path / name),
                                     "--json", str(tmp_path / "o.json")])
        assert args.func(args) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_stored_results_still_combine_into_the_stored_curves():
    """bench/results/ holds results written before the pretraining settings were nested under
    "train" (flat, "policy_hidden"): they still combine, into exactly the curves stored beside them."""
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    for curves in sorted(results.glob("pretrain_*_by_demos.json")):
        stored = json.loads(curves.read_text())
        sources = [str(results.parent.parent / s) for s in stored["sources"]]
        assert all("train" not in json.loads(Path(s).read_text())["config"] for s in sources)
        combined = combine_by_demos(load_results(sources))
        assert {k: v for k, v in combined.items() if k != "sources"} == {
            k: v for k, v in stored.items() if k != "sources"}, curves.name
    flat = json.loads((results / "pretrain_ur5e_push.json").read_text())
    flat["config"]["policy_hidden"] = [64]
    twenty = json.loads((results / "pretrain_ur5e_push_20demos.json").read_text())
    with pytest.raises(ScalingError, match=r"b.json: hidden = \[256, 256, 256\] but a.json has \[64\]"):
        combine_by_demos([("a.json", flat), ("b.json", twenty)])
