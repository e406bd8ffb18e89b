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


def test_actor_log_prob_is_the_squashed_noises_as_in_sb3():
    """log π is the density of w / bound = tanh(u) ∈ [-1, 1]^D (SB3's SAC convention, so the target
    entropy does not depend on the bound); the density of w itself is D·log(bound) lower."""
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import AffineTransform, TanhTransform

    torch.manual_seed(1)
    actor = TanhGaussianActor(feat_dim=4, out_dim=3, bound=1.5, hidden=16, layers=1)
    feat = torch.randn(64, 4)
    gen = torch.Generator().manual_seed(0)
    w, logp = actor(feat, generator=gen)
    mu, log_std = actor.net(feat).chunk(2, dim=-1)
    log_std = log_std.clamp(actor.LOG_STD_MIN, actor.LOG_STD_MAX)
    squashed = TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform()])
    ref = squashed.log_prob((w / 1.5).clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    assert torch.allclose(logp, ref, atol=2e-3, rtol=1e-3)
    of_w = TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform(), AffineTransform(0.0, 1.5)])
    ref_w = of_w.log_prob(w.clamp(-1.5 + 1e-5, 1.5 - 1e-5)).sum(-1)
    assert torch.allclose(logp - 3 * math.log(1.5), ref_w, atol=2e-3, rtol=1e-3)


def test_hidden_layers_are_linear_layernorm_activation_as_the_reference():
    """DSRL's reference: SB3 create_mlp with post_linear_modules=[LayerNorm] and Tanh, i.e. every
    hidden layer Linear → LayerNorm → Tanh, a plain Linear output."""
    from torch import nn

    from postbc_ros.rl.dsrl_config import ACTIVATION_NAMES
    from postbc_ros.rl.networks import ACTIVATIONS, mlp

    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES)
    net = mlp(5, 2, hidden=8, layers=3, layer_norm=True, activation="tanh")
    assert [type(m) for m in net] == [nn.Linear, nn.LayerNorm, nn.Tanh] * 3 + [nn.Linear]
    assert [type(m) for m in mlp(5, 2, 8, 2, layer_norm=False, activation="relu")] == [nn.Linear, nn.ReLU] * 2 + [nn.Linear]
    critic = CriticEnsemble(3, 2, n=2, hidden=8, layers=3, activation="tanh")
    actor = TanhGaussianActor(3, 2, 1.5, hidden=8, layers=3, activation="tanh")
    for module in (critic, actor):
        kinds = [type(m) for m in module.modules()]
        assert kinds.count(nn.Tanh) == kinds.count(nn.LayerNorm) > 0 and nn.ReLU not in kinds
    with pytest.raises(ValueError, match="activation"):
        mlp(5, 2, 8, 1, activation="gelu")


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
