"""`--posterior-exclude`: PostBC leaves named action entries (e.g. the gripper) at their demonstrated
values and noises the others exactly as before."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from learning_helpers import random_episodes, write_dataset

ACTIONS = ["dx", "dy", "dz", "gripper"]


def _data(tmp_path, action_names=ACTIONS):
    from postbc_ros.learning.training_data import load_training_data

    root = tmp_path / "demos"
    write_dataset(root, random_episodes(4, 10, state_dim=5, action_dim=4), action_names=action_names)
    return load_training_data(root, obs_history=1, horizon=3)


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_excluded_entries_get_no_noise_and_the_rest_keep_their_covariance(kind):
    from postbc_ros.learning.posterior import (
        PosteriorNoise, ensemble_covariance, exclude_entries, factor_trace, psd_factor,
    )

    preds = torch.randn(30, 6, 3 * 4)  # K members, N states, D = H 3 x A 4
    factor = psd_factor(ensemble_covariance(preds, kind))
    masked = exclude_entries(factor, [3], 4)
    w0 = PosteriorNoise(factor).sample(torch.arange(6).repeat(4000), generator=torch.Generator().manual_seed(0))
    w = PosteriorNoise(masked).sample(torch.arange(6).repeat(4000), generator=torch.Generator().manual_seed(0))
    w0, w = w0.reshape(4000, 6, 3, 4), w.reshape(4000, 6, 3, 4)
    assert torch.all(w[..., 3] == 0)  # the gripper at every chunk step: clean
    # dx, dy, dz keep their own (co)variance: with the full factor their rows are the same rows of F
    assert torch.allclose(w[..., :3].var(0), w0[..., :3].var(0), rtol=0.15)
    if kind == "full":
        assert torch.equal(w[..., :3], w0[..., :3])
    assert torch.equal(exclude_entries(factor, [], 4), factor)  # nothing excluded: unchanged
    assert not torch.equal(masked, factor)  # a new tensor; the input is left as it was
    kept = factor_trace(masked)
    assert torch.all(kept < factor_trace(factor)) and torch.all(kept > 0)
    with pytest.raises(ValueError, match="do not fit"):
        exclude_entries(factor, [4], 4)


def test_patterns_resolve_by_name_and_bad_ones_are_refused(tmp_path):
    from postbc_ros.learning.obs_select import posterior_excluded_entries

    data = _data(tmp_path)
    assert posterior_excluded_entries(data, []) == [] and posterior_excluded_entries(data, [""]) == []
    assert posterior_excluded_entries(data, ["gripper"]) == [3]
    assert posterior_excluded_entries(data, ["d[xy]"]) == [0, 1]
    with pytest.raises(ValueError, match=r"\['grip'\] match no action entry"):
        posterior_excluded_entries(data, ["grip"])
    with pytest.raises(ValueError, match="use --method bc"):
        posterior_excluded_entries(data, ["*"])


def test_unnamed_actions_are_refused_with_the_fix(tmp_path):
    from postbc_ros.learning.obs_select import posterior_excluded_entries

    data = _data(tmp_path)
    data.features["action"].pop("names", None)
    with pytest.raises(ValueError, match="does not name the entries of its action"):
        posterior_excluded_entries(data, ["gripper"])


def test_pretrain_records_the_exclusion_and_the_smaller_noise_it_adds(tmp_path):
    from postbc_ros.learning import pretrain
    from postbc_ros.learning.train_config import TrainConfig

    data = _data(tmp_path)
    common = dict(method="postbc", steps=3, ensemble_steps=3, ensemble_size=4, hidden=[16], horizon=3,
                  n_action_steps=3, alpha=1.0, device="cpu", seed=0)
    full = pretrain(data, TrainConfig(**common), progress=False)
    clean = pretrain(data, TrainConfig(posterior_exclude="gripper", **common), progress=False, ensemble=full.ensemble)
    assert full.as_run["posterior_excluded"] == [] and clean.as_run["posterior_excluded"] == ["gripper"]
    assert clean.info["alpha"] == full.info["alpha"]  # α comes from the whole Σ either way
    assert 0 < clean.info["posterior_noise_fraction"] < full.info["posterior_noise_fraction"]
    with pytest.raises(ValueError, match="match no action entry"):  # before any ensemble is trained
        pretrain(data, TrainConfig(posterior_exclude="grip", **common), progress=False)
    assert np.isfinite(clean.losses).all()


def test_the_bench_and_the_command_line_take_it():
    from postbc_ros.benchmarks.pretrain import PretrainBenchConfig, parse_variant
    from postbc_ros.learning.train_config import TrainConfig

    assert parse_variant("postbc:alpha=auto,posterior_exclude=gripper") == (
        "postbc", {"alpha": "auto", "posterior_exclude": ["gripper"]})
    tc = PretrainBenchConfig().train_config("postbc:posterior_exclude=gripper|dz", 0, "cpu")
    assert tc.posterior_exclude == ["gripper", "dz"]
    assert TrainConfig(posterior_exclude="gripper, dz").posterior_exclude == ["gripper", "dz"]
