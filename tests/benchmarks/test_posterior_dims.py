"""bench/posterior_dims.py: per-dimension posterior variance against the demonstrations' variance."""
from __future__ import annotations

import json

import pytest
import torch

from tests.benchmarks.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def pd():
    return load_bench_script("posterior_dims")


def test_dims_record_splits_the_trace_by_dimension_and_by_gripper_switches(pd):
    n, h = 6, 2
    actions = torch.zeros(n, h, 2)
    actions[:, :, 0] = torch.arange(n * h, dtype=torch.float32).reshape(n, h) / (n * h)
    actions[:3, 1, 1] = 1.0  # three windows switch the gripper within the chunk
    actions[:3, 0, 1] = -1.0
    diag = torch.tensor([0.1, 0.4, 0.3, 0.2]).repeat(n, 1)  # per window: (step0 x, step0 g, step1 x, step1 g)
    diag[:3, 1] = 0.8  # more gripper variance where the chunk switches
    cov = torch.diag_embed(diag)
    rec = pd.dims_record(cov, actions, ["dx", "gripper"], alpha=0.5)
    x, g = rec["per_dim"]["dx"], rec["per_dim"]["gripper"]
    assert x["sigma"] == pytest.approx(0.4) and g["sigma"] == pytest.approx(0.2 + 0.6)
    assert x["share_of_trace"] + g["share_of_trace"] == pytest.approx(1.0)
    assert x["sigma_over_variance"] == pytest.approx(0.4 / float(actions[:, :, 0].var(0, unbiased=False).sum()))
    assert g["noise_std_per_step"] == pytest.approx(0.5 * (0.8 / 2) ** 0.5)
    assert rec["switching_fraction"] == pytest.approx(0.5)
    assert rec["last_dim_sigma_switching"] == pytest.approx(1.0) and rec["last_dim_sigma_other"] == pytest.approx(0.6)


def test_one_tiny_seed_end_to_end(pd, tmp_path, monkeypatch):
    from postbc_ros.benchmarks import pretrain as bp

    orig = bp.PretrainBenchConfig.train_config

    def tiny(self, spec, seed, device):
        t = orig(self, spec, seed, device)
        t.ensemble_size, t.ensemble_steps, t.ensemble_epochs = 3, 5, None
        return t

    monkeypatch.setattr(bp.PretrainBenchConfig, "train_config", tiny)
    out = tmp_path / "dims.json"
    assert pd.main(["--env", "postbc/WidowXReach-v0", "--demos", "2", "--seeds", "1", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    seed0 = rec["per_seed"][0]
    assert seed0["ensemble_size"] == 3 and list(seed0["per_dim"]) == ["dx", "dy", "dz", "gripper"]
    assert sum(d["share_of_trace"] for d in seed0["per_dim"].values()) == pytest.approx(1.0, abs=1e-5)
    assert 0 < seed0["alpha_auto"] <= 1
