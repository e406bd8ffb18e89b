"""bench/grasp_failures.py: outcomes and the first gripper close, on the real WidowX pick-and-place twin
driven by its scripted operator (and by the same operator with the gripper closed from the start)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from postbc_ros.sim import make_env
from postbc_ros.sim.scripted import make_scripted_policy
from tests.benchmarks.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def gf():
    return load_bench_script("grasp_failures")


def _episode(gf, close_from_start: bool):
    env = make_env("widowx", "pick_place", seed=3)
    try:
        op = make_scripted_policy(env, seed=3)
        op.reset()

        def act(obs):
            a = np.asarray(op(obs), dtype=np.float32).copy()
            if close_from_start:
                a[-1] = 1.0
            return a

        return gf.run_episode(env, act, seed=3)
    finally:
        env.close()


def test_the_scripted_operator_succeeds_and_closes_at_the_object(gf):
    kind, trace, steps = _episode(gf, close_from_start=False)
    assert kind == "success" and trace.touched and trace.lifted
    assert abs(trace.close["dz"]) < 0.015 and trace.close["dxy"] < 0.01 and trace.close["step"] > 5
    s = gf.summarise([(kind, trace, steps)])
    assert s["success"] == 1.0 and s["first_close"]["success"]["dz"]["std"] == 0.0


def test_closing_from_the_start_fails_before_any_lift_and_is_seen_high_above(gf):
    kind, trace, _steps = _episode(gf, close_from_start=True)
    assert kind in ("never_touched", "touched_not_lifted") and not trace.lifted
    assert trace.close["step"] == 0 and trace.close["dz"] > 0.03


@pytest.mark.parametrize("success, touched, lifted, dxy, held, expect", [
    (True, True, True, 0.0, False, "success"),
    (False, False, False, 0.3, False, "never_touched"),
    (False, True, False, 0.3, False, "touched_not_lifted"),
    (False, True, True, 0.3, False, "dropped_or_missed"),
    (False, True, True, 0.01, True, "held_in_bowl"),
    (False, True, True, 0.01, False, "dropped_or_missed"),
])
def test_outcome_table(gf, success, touched, lifted, dxy, held, expect):
    trace = gf.GraspTrace(z0=0.0, touched=touched, lifted=lifted)
    assert gf.outcome(success, trace, dxy, 0.05, held) == expect


def test_only_pick_and_place_envs_are_accepted(gf, capsys):
    with pytest.raises(SystemExit):
        gf.main(["--env", "postbc/WidowXReach-v0"])
    assert "pick-and-place" in capsys.readouterr().err


def test_a_tiny_run_writes_one_record_per_seed_and_variant(gf, tmp_path):
    """1 demo, 2 gradient steps, 2 episodes: the JSON's shape, not a success rate."""
    out = tmp_path / "gf.json"
    assert gf.main(["--demos", "1", "--steps", "2", "--episodes", "2", "--variants", "bc", "bc:state_exclude=none",
                    "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["per_seed"]) == {"bc", "bc:state_exclude=none"}
    for recs in res["per_seed"].values():
        assert len(recs) == 1 and recs[0]["episodes"] == 2 and sum(recs[0]["outcomes"].values()) == 2
