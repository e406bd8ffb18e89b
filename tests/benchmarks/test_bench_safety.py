"""`postbc bench safety`: the CLI prints one row per rig, and its checker and counters can fail.

Small runs (a few hundred inputs per rig); the full run's result is bench/results/safety.json.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from postbc_ros.benchmarks import safety as bench
from postbc_ros.core.safety import Intervention, SafetyResult, SafetyState, load_safety_limits
from postbc_ros.robots import get_robot_spec

ROW_KEYS = {"robot", "tried", "violations", "escaped", "us_p50", "us_p99"}


def _parser():
    from postbc_ros.cli import bench_cmd

    p = argparse.ArgumentParser(prog="postbc")
    bench_cmd.register(p.add_subparsers(dest="command", required=True))
    return p


def test_cli_prints_a_row_per_rig_and_writes_the_result(tmp_path, capsys):
    out = tmp_path / "safety.json"
    args = _parser().parse_args(["bench", "safety", "--tried", "220", "--rigs", "widowx", "ur5e_twin", "--json", str(out)])
    assert args.func(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["robot"], r["rig"]) for r in rows] == [("widowx", "widowx"), ("ur5e", "ur5e_twin")]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["tried"] == 220 and r["violations"] == 0 and r["escaped"] == 0
        assert r["us_p50"] > 0 and r["us_p99"] >= r["us_p50"] and r["ratio_p50_vs_clip"] > 1
        assert r["normal_us_p50"] is not None and r["workspace_us_p50"] is not None
    result = json.loads(out.read_text())
    assert result["ok"] and len(result["rows"]) == 2
    cases = result["rows"][0]["cases"]
    assert set(cases) == set(bench.CASES) and all(c["tried"] == 20 for c in cases.values())
    assert cases["non_finite"]["held"] == 20 and cases["wrong_shape"]["held"] >= 18


def test_cli_refuses_a_bad_rig(capsys):
    args = _parser().parse_args(["bench", "safety", "--tried", "50", "--rigs", "nope", "--json"])
    assert args.func(args) == 2
    assert "nope/safety.yaml" in capsys.readouterr().err


def test_an_injected_violation_is_caught():
    def tamper(results):
        for res in results:
            if res is not None and not res.held:
                res.command = res.command.copy()
                res.command[0] += 0.3  # beyond every rig's step bound
                return

    row = bench.bench_rig("widowx", 110, inject=tamper)
    assert row["violations"] == 1 and row["violation_examples"]
    assert any("step" in k for k in row["violation_kinds"])


def test_an_escaped_exception_is_counted(monkeypatch):
    real = bench.filter_command
    calls = {"n": 0}

    def flaky(*a):
        calls["n"] += 1
        if calls["n"] == 300:  # after the warm-up (220 calls): in the timed pass
            raise RuntimeError("escaped")
        return real(*a)

    monkeypatch.setattr(bench, "filter_command", flaky)
    row = bench.bench_rig("ur5e", 220)
    assert row["escaped"] == 1 and "RuntimeError: escaped" in row["escaped_kinds"]


@pytest.mark.parametrize("tamper, problem", [
    (lambda r, lim: SafetyResult(None, True, []), "held without a reason"),
    (lambda r, lim: SafetyResult(np.append(lim.upper + 0.001, 0.5), False, []), "joint limits broken"),
    (lambda r, lim: SafetyResult(np.full(7, np.nan), False, []), "non-finite command"),
    (lambda r, lim: SafetyResult(np.zeros(6), False, []), "float64 vector of 7"),
    (lambda r, lim: SafetyResult(np.append(r.command[:6], 1.5), False, []), "gripper"),
])
def test_checker_flags_each_broken_guarantee(tamper, problem):
    lim = load_safety_limits("widowx_twin")
    home = get_robot_spec("widowx").home
    state = SafetyState(q=home)
    cmd = np.append(home, 0.5)
    ok = SafetyResult(cmd.copy(), False, [])
    assert bench.check_result(ok, cmd, state, lim, 0.01) == []
    problems = bench.check_result(tamper(ok, lim), cmd, state, lim, 0.01)
    assert any(problem in p for p in problems), problems


def test_checker_flags_a_tool_point_outside_the_box_and_unheld_junk():
    from postbc_ros.core.safety import WorkspaceBox, with_limits

    lim = load_safety_limits("widowx_twin")
    lim = with_limits(lim, workspace=WorkspaceBox(np.array([0.1, -0.35, 0.10]), lim.workspace.upper))
    home = get_robot_spec("widowx").home
    out = home.copy()
    out[1] += 0.15  # within one 0.2 rad step, the tool dives under the floor (z 0.12 -> 0.09 m)
    assert lim.workspace.contains(lim.fk(home)[0]) and not lim.workspace.contains(lim.fk(out)[0])
    res = SafetyResult(np.append(out, 0.5), False, [])
    assert any("left the workspace box" in p for p in bench.check_result(res, np.append(out, 0.5), SafetyState(q=home), lim, 1.0))
    junk = SafetyResult(np.append(home, 0.5), False, [Intervention("x", "y", 0.0, 0.0, "z")])
    assert "an unusable command was not held" in bench.check_result(junk, "not a command", SafetyState(q=home), lim, 0.01)
