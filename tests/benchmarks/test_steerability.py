"""bench/steerability.py: the oracle finds the noise that succeeds where sampling it does not, on the
real twin env (the policy here is a stand-in whose chunk the noise's sign decides)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from postbc_ros.sim import make_env
from tests.benchmarks.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def steer():
    return load_bench_script("steerability")


class SignRunner:
    """Moves the tool straight at the goal when w[0, 0] > 0 and straight away from it otherwise;
    w = None draws w[0, 0] from its own generator (the sampled chooser)."""

    def __init__(self, env, seed=0):
        self.policy = object()
        self.cfg = SimpleNamespace(horizon=4, action_dim=4, n_action_steps=4)
        self.rel = [env.unwrapped.state_names.index(f"goal_rel_{a}") for a in "xyz"]
        self.rng = np.random.default_rng(seed)

    def reset(self):
        pass

    def act_chunk(self, obs, w=None):
        sign = np.sign(self.rng.standard_normal() if w is None else w[0, 0]) or 1.0
        rel = np.asarray(obs["state"])[self.rel]
        step = sign * rel / max(np.linalg.norm(rel), 1e-9)
        return np.tile(np.append(step, 0.0), (4, 1)).astype(np.float32)


def test_the_oracle_steers_to_success_where_sampling_fails(steer):
    env = make_env("widowx", "reach", seed=0)
    runner = SignRunner(env)
    rng = np.random.default_rng(0)
    oracle = [steer.episode(env, runner, 700 + i, "oracle", rng, 8, 1.5) for i in range(4)]
    zero = [steer.episode(env, runner, 700 + i, "zero", rng, 8, 1.5) for i in range(4)]
    assert all(oracle)
    assert all(zero)  # sign(0) counts as towards: the deterministic chunk goes to the goal too
    sampled = [steer.episode(env, runner, 700 + i, "sampled", rng, 8, 1.5) for i in range(8)]
    assert not all(sampled)  # half the chunks walk away: some episodes time out
    env.close()


def test_oracle_noise_prefers_success_then_distance(steer):
    env = make_env("widowx", "reach", seed=0)
    obs, _ = env.reset(seed=701)
    runner = SignRunner(env)
    d0 = steer.goal_distance(env)
    w = steer.oracle_noise(env, runner, obs, np.random.default_rng(1), 8, 1.5)
    assert w.shape == (4, 4) and w[0, 0] > 0 and np.all(np.abs(w) <= 1.5)
    assert steer.goal_distance(env) == d0  # candidates ran on copies: the env itself did not move
    env.close()


def test_plot_draws_every_method_from_the_json(steer, tmp_path):
    result = {"config": {"env": "postbc/WidowXReach-v0", "demos": 5, "seeds": 2, "episodes": 4, "candidates": 16},
              "per_seed": {m: {c: [0.25, 0.5] for c in steer.CHOOSERS} for m in ("bc", "postbc")}}
    (tmp_path / "r.json").write_text(json.dumps(result))
    assert steer.main(["--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png"), "--replot"]) == 0
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):  # --replot without --plot: argparse names the missing option
        steer.main(["--json", str(tmp_path / "r.json"), "--replot"])
