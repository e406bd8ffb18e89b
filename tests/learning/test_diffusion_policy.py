"""DiffusionPolicy: deterministic DDIM given noise, normalisation, runner history/queue."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from postbc_ros.learning import DiffusionPolicy, PolicyConfig, PolicyRunner, TrainConfig, pretrain
from postbc_ros.learning.normalization import MinMaxNormalizer


def test_normalisation_round_trip_and_range():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(100, 4)) * [1, 10, 0.01, 0]).astype(np.float32)  # last dim constant below
    x[:, 3] = 2.5
    norm = MinMaxNormalizer.fit(x)
    t = torch.as_tensor(x)
    y = norm.normalize(t)
    assert float(y.min()) >= -1 - 1e-6 and float(y.max()) <= 1 + 1e-6
    torch.testing.assert_close(y[:, 3], torch.zeros(100))  # constant dim -> 0
    torch.testing.assert_close(norm.unnormalize(y), t, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        MinMaxNormalizer.fit(np.array([[np.nan]]))


def _policy(**kw) -> DiffusionPolicy:
    cfg = PolicyConfig(obs_shapes={"state": [5]}, action_dim=3, obs_history=2, horizon=4, n_action_steps=2,
                       hidden=[32, 32], **kw)
    torch.manual_seed(0)
    return DiffusionPolicy(cfg).eval()


def test_ddim_is_deterministic_given_noise_and_varies_with_it():
    p = _policy()
    obs = {"state": torch.randn(3, 2, 5)}
    noise = torch.randn(3, 4, 3)
    a1 = p.sample(obs, noise)
    a2 = p.sample({"observation.state": obs["state"].clone()}, noise.clone())  # dataset key accepted
    torch.testing.assert_close(a1, a2, rtol=0, atol=0)
    a3 = p.sample(obs, torch.randn(3, 4, 3))
    assert not torch.allclose(a1, a3)
    assert a1.shape == (3, 4, 3)
    assert len(p.infer_scheduler.timesteps) == 8
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(p.sample(obs, generator=g1), p.sample(obs, generator=g2))
    assert p.encode_obs(obs).shape == (3, p.obs_encoder.out_dim)


def test_policy_rejects_bad_inputs():
    p = _policy()
    with pytest.raises(KeyError, match="state"):
        p.sample({"wrong": torch.zeros(1, 2, 5)})
    with pytest.raises(ValueError, match="obs_history"):
        p.sample({"state": torch.zeros(1, 3, 5)})
    with pytest.raises(ValueError, match="noise"):
        p.sample({"state": torch.zeros(1, 2, 5)}, noise=torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="n_action_steps"):
        PolicyConfig(obs_shapes={"state": [5]}, action_dim=3, horizon=2, n_action_steps=3).validate()


def test_runner_noise_scale_zero_is_the_w0_chunk_and_one_is_unchanged():
    policy = _policy()
    obs = {"state": np.linspace(-1, 1, 5).astype(np.float32)}
    zero = PolicyRunner(policy, "cpu", seed=3, clip=None, noise_scale=0.0)
    w0 = PolicyRunner(policy, "cpu", seed=3, clip=None).act_chunk(obs, np.zeros((4, 3), np.float32))
    a = [zero.act(obs) for _ in range(4)]  # two chunks, both the w = 0 chunk
    np.testing.assert_allclose(np.stack(a), np.concatenate([w0[:2], w0[:2]]), rtol=1e-6, atol=1e-6)
    # scale 1 draws exactly what the runner always drew; scale 0.5 draws half that noise
    g = torch.Generator().manual_seed(3)
    n1 = torch.randn((1, 4, 3), generator=g)
    one = PolicyRunner(policy, "cpu", seed=3, clip=None).act_chunk(obs)
    half = PolicyRunner(policy, "cpu", seed=3, clip=None, noise_scale=0.5).act_chunk(obs)
    ref = PolicyRunner(policy, "cpu", clip=None)
    np.testing.assert_allclose(one, ref.act_chunk(obs, n1), rtol=1e-6, atol=1e-6)
    ref.reset()
    np.testing.assert_allclose(half, ref.act_chunk(obs, 0.5 * n1), rtol=1e-6, atol=1e-6)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise_scale"):
            PolicyRunner(policy, "cpu", noise_scale=bad)


def test_runner_keeps_history_and_executes_n_action_steps(small_state_data):
    res = pretrain(small_state_data, TrainConfig(method="bc", epochs=3, hidden=[32, 32], horizon=4, n_action_steps=2,
                                                 obs_history=2, seed=0, device="cpu"), progress=False)
    policy = res.ema.model
    calls = []
    orig = policy.sample

    def spy(obs, noise=None, generator=None):
        calls.append(obs["state"].clone())
        return orig(obs, noise, generator)

    policy.sample = spy
    runner = PolicyRunner(policy, "cpu", seed=0)
    o = [{"state": np.full(5, i, np.float32)} for i in range(5)]
    acts = [runner.act(x) for x in o]
    assert all(a.shape == (3,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1) for a in acts)
    assert len(calls) == 3  # steps 0, 2, 4 sample a chunk (n_action_steps = 2)
    torch.testing.assert_close(calls[0][0, :, 0], torch.tensor([0.0, 0.0]))  # first obs repeated
    torch.testing.assert_close(calls[1][0, :, 0], torch.tensor([1.0, 2.0]))
    runner.reset()
    noise = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    c1 = runner.act_chunk(o[0], noise)
    runner.reset()
    c2 = runner.act_chunk(o[0], noise)
    np.testing.assert_array_equal(c1, c2)
