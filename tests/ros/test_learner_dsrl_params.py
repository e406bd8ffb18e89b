"""The learner node's DSRL parameters (issue 15): each reaches the agent's config; the cost-free
settings default to the reference's, the sizes to the named CPU values."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("algorithm", ["dsrl", "dsrl_na"])
def test_learner_dsrl_params_reach_the_agent_config(algorithm):
    from postbc_ros.core.params import config_from
    from postbc_ros.nodes.learner_node import CONFIG, SAC_PARAMS, agent_overrides
    from postbc_ros.rl.dsrl_config import DSRLConfig
    from postbc_ros.rl.registry import make_config

    ref = DSRLConfig()
    made = make_config(algorithm, agent_overrides(config_from(CONFIG, {"algorithm": algorithm})))
    assert (made.activation, made.layer_norm, made.backup_entropy, made.init_alpha, made.noise_bound) == (
        ref.activation, ref.layer_norm, ref.backup_entropy, ref.init_alpha, ref.noise_bound)
    assert made.reward == "zero_one"  # what the policy nodes' chunk recorder builds
    changed = {"hidden": 64, "layers": 3, "activation": "relu", "warmup_env_steps": 24016, "backup_entropy": False,
               "init_alpha": 0.1, "noise_bound": 1.0, "reward": "minus_one"}
    assert set(changed) == set(SAC_PARAMS)
    made = make_config(algorithm, agent_overrides(config_from(CONFIG, {"algorithm": algorithm, **changed})))
    for k, v in changed.items():
        assert getattr(made, k) == v, k
    with pytest.raises(ValueError, match="reward"):
        config_from(CONFIG, {"reward": "plus_one"})
