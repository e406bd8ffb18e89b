"""Unit behaviour of the SAC/IQL building blocks: bounded actor, log-probs, expectile, Polyak."""
from __future__ import annotations

import math

import pytest
import torch

from postbc_ros.rl.iql import expectile_loss
from postbc_ros.rl.networks import CriticEnsemble, TanhGaussianActor, polyak_update


def test_actor_output_respects_noise_bound_even_for_extreme_inputs():
    torch.manual_seed(0)
    actor = TanhGaussianActor(feat_dim=5, out_dim=8, bound=1.5, hidden=32, layers=2)
    feat = torch.randn(512, 5) * 1e4  # saturate the tanh
    w, logp = actor(feat)
    assert w.shape == (512, 8) and logp.shape == (512,)
    assert float(w.detach().abs().max()) <= 1.5 + 1e-6
    assert torch.isfinite(logp).all()
    wd, _ = actor(feat, deterministic=True)
    assert float(wd.detach().abs().max()) <= 1.5 + 1e-6


def test_actor_log_prob_matches_torch_transformed_distribution():
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import AffineTransform, TanhTransform

    torch.manual_seed(1)
    actor = TanhGaussianActor(feat_dim=4, out_dim=3, bound=1.5, hidden=16, layers=1)
    feat = torch.randn(64, 4)
    gen = torch.Generator().manual_seed(0)
    w, logp = actor(feat, generator=gen)
    mu, log_std = actor.net(feat).chunk(2, dim=-1)
    log_std = log_std.clamp(actor.LOG_STD_MIN, actor.LOG_STD_MAX)
    dist = TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform(), AffineTransform(0.0, 1.5)])
    w_in = w.clamp(-1.5 + 1e-5, 1.5 - 1e-5)
    ref = dist.log_prob(w_in).sum(-1)
    assert torch.allclose(logp, ref, atol=2e-3, rtol=1e-3)


def test_actor_rejects_nonpositive_bound():
    with pytest.raises(ValueError, match="noise bound"):
        TanhGaussianActor(2, 2, bound=0.0)


def test_expectile_loss_is_asymmetric_and_matches_formula():
    diff = torch.tensor([1.0, -1.0, 2.0, -0.5])
    tau = 0.9
    expected = (0.9 * 1 + 0.1 * 1 + 0.9 * 4 + 0.1 * 0.25) / 4
    assert math.isclose(float(expectile_loss(diff, tau)), expected, rel_tol=1e-6)
    # tau = 0.5 is (half) the mean squared error
    assert math.isclose(float(expectile_loss(diff, 0.5)), 0.5 * float((diff**2).mean()), rel_tol=1e-6)
    # minimiser of the expectile loss moves towards the upper tail as tau grows
    q = torch.tensor([0.0, 0.0, 0.0, 1.0])
    grid = torch.linspace(0, 1, 1001)
    best = {t: float(grid[torch.stack([expectile_loss(q - v, t) for v in grid]).argmin()]) for t in (0.5, 0.9)}
    assert math.isclose(best[0.5], 0.25, abs_tol=2e-3)
    assert best[0.9] > 0.7
    with pytest.raises(ValueError):
        expectile_loss(diff, 1.0)


def test_polyak_update_moves_target_by_tau():
    torch.manual_seed(0)
    src = CriticEnsemble(3, 2, n=2, hidden=8, layers=1)
    tgt = CriticEnsemble(3, 2, n=2, hidden=8, layers=1)
    before = [p.clone() for p in tgt.parameters()]
    polyak_update(tgt, src, tau=0.1)
    for b, t, s in zip(before, tgt.parameters(), src.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)
    polyak_update(tgt, src, tau=1.0)
    for t, s in zip(tgt.parameters(), src.parameters()):
        assert torch.equal(t, s)


def test_critic_ensemble_heads_are_independent():
    torch.manual_seed(0)
    c = CriticEnsemble(3, 2, n=2, hidden=16, layers=2)
    q = c(torch.randn(7, 3), torch.randn(7, 2))
    assert q.shape == (2, 7)
    assert not torch.allclose(q[0], q[1])
