"""bench/inference_settings.py: settings parse with clear errors, are applied to a real policy while
it is evaluated, and are undone afterwards."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.learning.diffusion import DiffusionPolicy, PolicyConfig
from postbc_ros.learning.runner import PolicyRunner
from tests.benchmarks.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def inf():
    return load_bench_script("inference_settings")


def test_settings_parse(inf):
    assert inf.parse_setting("base") == ("base", {})
    assert inf.parse_setting("fast:ddim=4,k=2") == ("fast", {"ddim": 4, "k": 2})
    assert inf.parse_setting("w0:noise=0,weights=raw") == ("w0", {"noise": 0.0, "weights": "raw"})
    for bad, says in (("x:steps=4", "KEY=VALUE"), ("x:ddim=four", "not a int"), ("x:weights=best", "ema or raw"),
                      ("x:k=0", ">= 1"), ("x:noise=-1", "noise >= 0")):
        with pytest.raises(ValueError, match=says):
            inf.parse_setting(bad)


def test_applied_changes_sampling_and_restores_it(inf):
    policy = DiffusionPolicy(PolicyConfig(obs_shapes={"state": [3]}, action_dim=2, horizon=4, n_action_steps=4,
                                          hidden=[16]))
    obs = {"state": np.zeros(3, np.float32)}
    calls = []
    sample = policy.sample
    policy.sample = lambda *a, **kw: calls.append(len(policy.infer_scheduler.timesteps)) or sample(*a, **kw)
    with inf.applied(policy, {"ddim": 3, "k": 2}):
        runner = PolicyRunner(policy, "cpu", seed=0)
        for _ in range(4):
            runner.act(obs)
    assert calls == [3, 3]  # a chunk every 2 steps, each with 3 DDIM steps
    assert policy.cfg.n_action_steps == 4 and len(policy.infer_scheduler.timesteps) == 8
    with pytest.raises(ValueError, match="exceeds the policy's chunk length"):
        with inf.applied(policy, {"k": 5}):
            pass
    assert policy.cfg.n_action_steps == 4
