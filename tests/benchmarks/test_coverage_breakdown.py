"""bench/coverage_breakdown.py: the side it assigns to an episode is the side the operator took, and
its tallies split blocked from clear layouts (docs/coverage_tasks.md)."""
from __future__ import annotations


import pytest

from postbc_ros.sim import make_env
from tests.benchmarks.bench_scripts import load_bench_script
from postbc_ros.sim.scripted import make_scripted_policy


@pytest.fixture(scope="module")
def breakdown_module():
    return load_bench_script("coverage_breakdown")


class _Forced:
    """The scripted demonstrator held to one mode, as a runner (reset / act)."""

    def __init__(self, env, mode_probs):
        self.policy = make_scripted_policy(env, seed=0, mode_probs=mode_probs, noise=0.0)

    def reset(self):
        self.policy.reset()

    def act(self, obs):
        return self.policy(obs)


@pytest.mark.parametrize("mode_probs, side", [((1.0, 0.0), "left"), ((0.0, 1.0), "right")])
def test_episode_side_names_the_detour_the_operator_took(breakdown_module, mode_probs, side):
    env = make_env("widowx", "reach_obstacle", seed=0)
    runner = _Forced(env, mode_probs)
    rows = [breakdown_module.episode_side(env, runner, 50_000 + i, 0.03) for i in range(6)]
    env.close()
    assert [r[2] for r in rows] == [side] * 6
    if side == "right":  # the rare mode clears the post in every layout (docs/coverage_tasks.md: 1.000)
        assert all(r[1] for r in rows)


def test_breakdown_splits_blocked_from_clear_layouts(breakdown_module):
    rows = [(True, False, "left"), (True, True, "right"), (False, True, "left"), (False, True, "straight")]
    out = breakdown_module.breakdown(rows)
    assert out["episodes"] == 4 and out["success"] == 0.75
    assert out["blocked"] == {"episodes": 2, "success": 0.5, "side": {"left": 0.5, "straight": 0.0, "right": 0.5}}
    assert out["clear"] == {"episodes": 2, "success": 1.0, "side": {"left": 0.5, "straight": 0.5, "right": 0.0}}
    none = breakdown_module.breakdown([(False, True, "left")])["blocked"]
    assert none["episodes"] == 0 and none["success"] is None and none["side"]["left"] is None
    assert breakdown_module._mean([None, 0.2, 0.4]) == pytest.approx(0.3)
    assert breakdown_module._mean([None]) is None


def test_a_tiny_run_writes_a_breakdown_per_method_and_seed(breakdown_module, tmp_path):
    """1 demo, 2 gradient steps, 2 episodes: the JSON's shape, not a success rate."""
    import json

    out = tmp_path / "cb.json"
    assert breakdown_module.main(["--demos", "1", "--steps", "2", "--episodes", "2", "--seeds", "1",
                                  "--methods", "bc", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert len(res["per_seed"]["bc"]) == 1 and set(res["mean_over_seeds"]["bc"]) >= {"success", "blocked", "clear"}
