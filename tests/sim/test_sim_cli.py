"""`postbc sim check` / `postbc sim list` (the sim subcommand on its own parser)."""
from __future__ import annotations

import argparse
import json

import pytest

from postbc_ros.cli import sim_cmd


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="postbc")
    sub = parser.add_subparsers(dest="command", required=True)
    sim_cmd.register(sub)
    args = parser.parse_args(argv)
    rc = args.func(args)
    return rc, capsys.readouterr()


def test_sim_check_prints_json_summary(capsys):
    rc, out = _run(["sim", "check", "--robot", "widowx", "--task", "reach", "--episodes", "3", "--seed", "4", "--json"], capsys)
    assert rc == 0
    res = json.loads(out.out)
    assert res["episodes"] == 3 and res["robot"] == "widowx" and res["task"] == "reach"
    assert res["success_rate"] == pytest.approx(res["successes"] / 3)
    assert res["success_rate"] >= 2 / 3
    assert res["env_steps_per_s"] > 0
    assert 0 < res["mean_episode_length"] <= res["horizon"]
    assert sum(res["mode_counts"].values()) == 3
    assert set(res["mode_counts"]) <= {"left", "right"}


def test_sim_list_and_help(capsys):
    rc, out = _run(["sim", "list"], capsys)
    assert rc == 0 and "postbc/WidowXPickPlace-v0" in out.out and "postbc/UR5ePush-v0" in out.out
    with pytest.raises(SystemExit) as e:
        _run(["sim", "check", "--help"], capsys)
    assert e.value.code == 0
    with pytest.raises(SystemExit):
        _run(["sim", "check", "--robot", "panda", "--task", "reach"], capsys)


def test_sim_check_runs_the_coverage_task(capsys):
    rc, out = _run(["sim", "check", "--robot", "ur5e", "--task", "reach_obstacle", "--episodes", "2", "--json"], capsys)
    assert rc == 0
    res = json.loads(out.out)
    assert res["task"] == "reach_obstacle" and res["horizon"] == 40 and sum(res["mode_counts"].values()) == 2
