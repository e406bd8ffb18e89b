"""Bootstrap resampling, batched ensemble training, posterior covariance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from postbc_ros.learning.bootstrap import bootstrap_indices, bootstrap_weights
from postbc_ros.learning.ensemble import PosteriorEnsemble, train_ensemble
from postbc_ros.learning.networks import BatchedMLP
from postbc_ros.learning.posterior import PosteriorNoise, ensemble_covariance, psd_factor, psd_project, trace_cov


def test_bootstrap_index_statistics():
    rng = np.random.default_rng(0)
    idx = bootstrap_indices(50, 2000, rng)
    assert idx.shape == (2000, 50) and idx.min() >= 0 and idx.max() < 50
    unique_frac = np.mean([len(np.unique(r)) / 50 for r in idx])
    assert abs(unique_frac - (1 - (1 - 1 / 50) ** 50)) < 0.01  # ≈ 0.636 for n = 50
    counts = np.stack([np.bincount(r, minlength=50) for r in idx])
    assert abs(counts.mean() - 1.0) < 1e-9 and abs(counts.var() - (1 - 1 / 50)) < 0.03  # Binomial(n, 1/n)


def test_trajectory_bootstrap_weights_are_whole_episodes():
    episode_index = np.repeat(np.arange(6), [3, 5, 2, 7, 4, 1])
    w = bootstrap_weights(episode_index, 400, "trajectory", np.random.default_rng(1))
    assert w.shape == (400, len(episode_index))
    for row in w:  # constant within an episode, 6 episodes drawn in total
        per_ep = [np.unique(row[episode_index == e]) for e in range(6)]
        assert all(len(u) == 1 for u in per_ep)
        assert sum(int(u[0]) for u in per_ep) == 6
    assert (w == 0).any(axis=1).mean() > 0.5  # most resamples leave some episode out


def test_state_action_bootstrap_weights():
    w = bootstrap_weights(np.zeros(30, dtype=int), 300, "state_action", np.random.default_rng(2))
    assert np.all(w.sum(1) == 30)
    assert 0.55 < (w > 0).mean() < 0.72


def test_batched_ensemble_equals_independent_members():
    torch.manual_seed(0)
    k, n, d_in, d_out = 4, 40, 5, 6
    ens = PosteriorEnsemble({"state": [d_in]}, 1, d_out, k, hidden=[32, 32])
    x = {"state": torch.randn(n, 1, d_in)}
    y = torch.randn(n, d_out)
    w = torch.as_tensor(bootstrap_weights(np.arange(n) // 4, k, "trajectory", np.random.default_rng(0)))
    batches = [torch.randperm(n, generator=torch.Generator().manual_seed(i))[:16] for i in range(25)]
    singles = [ens.heads.member(i) for i in range(k)]
    init = ens.heads.layers[0].weight.detach().clone()
    train_ensemble(ens, x, y, w, epochs=1, lr=3e-3, progress=False, batch_indices=batches)
    feats = ens.encoder(x)  # encoder only normalises here (no trainable parameters)
    for i, single in enumerate(singles):
        opt = torch.optim.AdamW(single.parameters(), lr=3e-3, weight_decay=0.0)
        for idx in batches:
            pred = single(feats[idx])
            loss = (w[i, idx] * ((pred[0] - y[idx]) ** 2).mean(-1)).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        after = ens.heads.member(i)
        for a, b in zip(after.parameters(), single.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ens.heads.layers[0].weight, init)  # training did move every member


def test_batched_mlp_forward_matches_per_member_loop():
    m = BatchedMLP(3, 4, [8], 2)
    x = torch.randn(5, 4)
    out = m(x)
    for i in range(3):
        torch.testing.assert_close(out[i], m.member(i)(x)[0])


def test_covariance_full_diag_psd_and_sampling():
    torch.manual_seed(0)
    k, n, d = 6, 20, 10  # K < D: the sample covariance is rank-deficient
    preds = torch.randn(k, n, d)
    full = ensemble_covariance(preds, "full")
    diag = ensemble_covariance(preds, "diag")
    ref = torch.stack([torch.cov(preds[:, i].T) for i in range(n)])
    torch.testing.assert_close(full, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.diagonal(full, dim1=-2, dim2=-1), diag)
    torch.testing.assert_close(trace_cov(full), trace_cov(diag))
    proj = psd_project(full, jitter=1e-6)
    assert torch.linalg.eigvalsh(proj.double()).min() > 0  # PSD (+ jitter) despite rank K-1 < D
    torch.testing.assert_close(proj, full, atol=1e-4, rtol=1e-4)
    # an indefinite input is clipped, not passed through
    bad = full.clone()
    bad[:, 0, 0] -= 10.0
    assert torch.linalg.eigvalsh(psd_project(bad).double()).min() > 0
    # samples have the right covariance
    noise = PosteriorNoise(psd_factor(full[:1]))
    g = torch.Generator().manual_seed(0)
    w = noise.sample(torch.zeros(20000, dtype=torch.long), generator=g)
    torch.testing.assert_close(torch.cov(w.T), full[0], atol=0.06 * float(full[0].diagonal().max()), rtol=0.1)
    wd = PosteriorNoise(psd_factor(diag[:1])).sample(torch.zeros(20000, dtype=torch.long), generator=g)
    torch.testing.assert_close(wd.var(0), diag[0], rtol=0.08, atol=1e-3)


def test_posterior_noise_fraction_known_value():
    """α² · mean tr Σ / tr Var(a) in normalised units: actions ±1 (variance 1 per dimension)."""
    from postbc_ros.learning.normalization import MinMaxNormalizer
    from postbc_ros.learning.train import posterior_noise_fraction
    from postbc_ros.learning.training_data import windows_from_episodes

    acts = np.tile(np.array([[-1.0, 1.0], [1.0, -1.0]], dtype=np.float32), (10, 1))  # 20 steps, 2-D
    ep = {"obs": {"state": np.zeros((20, 3), np.float32)}, "action": acts}
    data = windows_from_episodes([ep, ep], obs_history=1, horizon=1)
    norm = MinMaxNormalizer.fit(data.actions)
    tr = torch.full((data.num_samples,), 0.4)  # tr Σ = 0.4 everywhere; tr Var(a) = 2
    assert posterior_noise_fraction(tr, data, norm, alpha=1.0) == pytest.approx(0.2)
    assert posterior_noise_fraction(tr, data, norm, alpha=0.5) == pytest.approx(0.05)
