"""Coverage theory (PostBC paper, Appendix B) as a test: finetuning from BC vs from PostBC.

The construction. A contextual bandit (horizon 1, so one action chunk = one decision) with
three arms. In every context the demonstrator plays its preferred arm with probability 1 − 4ε
and each other arm with probability 2ε — exactly the paper's π^β = (1 − 4ε, 2ε, 2ε) — and we
record T ≤ 1/(20ε) demonstrations per context. The reward sits on one of the *rarely
demonstrated* arms (the paper's two reward instances differ only in which of arms 2 / 3 pays;
we fix one per context). The lower-bound argument: with probability ≥ 1/2 the rewarded arm is
never demonstrated, BC then puts (almost) no mass on it, and any finetuner that only samples
the pretrained policy cannot find it. PostBC keeps posterior mass where the data are thin, so
the same sampling-only finetuner finds it.

Two instances are checked, each over many independent trials with a one-sided Fisher exact
test (PostBC finds the rewarded arm significantly more often than BC):

1. `test_tabular_postbc_covers_rare_arm` — the paper's tabular estimators verbatim: BC =
   empirical frequencies, PostBC = (1 − α)·BC + α·(T(a) + λ/A)/(T + λ) (posterior mean under a
   Dirichlet prior). Finetuner: Best-of-N style sampling with a budget of B draws per trial.
2. `test_neural_postbc_covers_rare_arm` — the real pipeline: `postbc_ros.learning.pretrain`
   (bootstrap ensemble → Σ(s) → posterior-noised diffusion policy, or plain BC, same budget) and
   the real `DSRLAgent` exploration (its warm-start noise w ~ N(0, I) clipped to the noise bound,
   decoded by the frozen policy's deterministic DDIM). Contexts are one-hot states; arms are the
   1-D actions −0.7 / 0 / 0.7 and the preferred arm rotates with the context so that every arm
   is demonstrated somewhere (the action normaliser covers all three). A trial is a context whose
   rewarded arm was not demonstrated; it succeeds when any of B explored chunks lands within
   0.15 of the rewarded arm.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import fisher_exact

ALPHA_SIG = 0.01


def _report(name: str, post: tuple[int, int], bc: tuple[int, int]) -> float:
    table = [[post[0], post[1] - post[0]], [bc[0], bc[1] - bc[0]]]
    p = fisher_exact(table, alternative="greater").pvalue
    print(f"\n[{name}] rewarded arm found: PostBC {post[0]}/{post[1]}  BC {bc[0]}/{bc[1]}  Fisher one-sided p={p:.2e}")
    return p


def test_tabular_postbc_covers_rare_arm():
    eps = 0.025
    T = int(1 / (20 * eps))  # = 2, the theorem's regime T <= 1/(20 eps)
    A, alpha, lam, budget, trials = 3, 0.5, 1.0, 16, 400
    rng = np.random.default_rng(0)
    pi_beta = np.array([1 - 4 * eps, 2 * eps, 2 * eps])
    found = {"bc": 0, "postbc": 0}
    never_demonstrated = 0
    for _ in range(trials):
        rewarded = int(rng.integers(1, 3))  # reward instance: arm 2 or arm 3
        counts = np.bincount(rng.choice(A, size=T, p=pi_beta), minlength=A).astype(float)
        never_demonstrated += counts[rewarded] == 0
        bc = counts / counts.sum()
        post = (1 - alpha) * bc + alpha * (counts + lam / A) / (counts.sum() + lam)
        for name, pi in (("bc", bc), ("postbc", post)):
            draws = rng.choice(A, size=budget, p=pi / pi.sum())
            found[name] += bool((draws == rewarded).any())
    # the construction's premise: the rewarded arm is usually never demonstrated
    assert never_demonstrated / trials > 0.5
    p = _report("tabular", (found["postbc"], trials), (found["bc"], trials))
    assert found["postbc"] > found["bc"]
    assert p < ALPHA_SIG


ARMS = np.array([-0.7, 0.0, 0.7], dtype=np.float32)


@pytest.fixture(scope="module")
def neural_bandit():
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.training_data import windows_from_episodes

    torch.set_num_threads(1)
    S, eps, reps = 30, 0.025, 8
    T = int(1 / (20 * eps))
    rng = np.random.default_rng(0)
    episodes, seen, i = [], np.zeros((S, 3), bool), 0
    onehot = np.eye(S, dtype=np.float32)
    for s in range(S):
        p = np.full(3, 2 * eps)
        p[s % 3] = 1 - 4 * eps
        for _ in range(T):
            arm = int(rng.choice(3, p=p))
            seen[s, arm] = True
            # one demo = one trajectory; repeats share the episode index, so the trajectory
            # bootstrap still resamples demonstrations, they only give BC more gradient steps
            for _ in range(reps):
                episodes.append({"episode_index": i, "obs": {"state": onehot[s][None]},
                                 "action": np.array([[ARMS[arm]]], np.float32)})
            i += 1
    data = windows_from_episodes(episodes, obs_history=1, horizon=1)
    policies = {}
    for method in ("bc", "postbc"):
        cfg = TrainConfig(method=method, alpha=4.0, epochs=400, ensemble_size=16, ensemble_epochs=100,
                          hidden=[128, 128], horizon=1, n_action_steps=1, batch_size=256, lr=3e-3,
                          ensemble_lr=3e-3, ema_decay=0.99, seed=0, device="cpu")
        policies[method] = pretrain(data, cfg, progress=False).ema.model
    return S, seen, policies


def test_neural_postbc_covers_rare_arm(neural_bandit):
    from postbc_ros.rl import DSRLAgent, DSRLConfig

    S, seen, policies = neural_bandit
    rewarded = (np.arange(S) % 3 + 1) % 3  # a non-preferred arm in every context
    trials = ~seen[np.arange(S), rewarded]  # contexts where it was never demonstrated
    budget = 64
    found = {}
    for method, policy in policies.items():
        agent = DSRLAgent(policy, DSRLConfig(warmup_env_steps=10**9), device="cpu", seed=0)
        obs = {"state": torch.eye(S).repeat_interleave(budget, 0)[:, None]}
        w = agent.base_noise(S * budget, clip=True)  # DSRL warm-start exploration, inside the bound
        assert float(w.abs().max()) <= agent.cfg.noise_bound
        a = agent.fp.decode(obs, w)[:, 0, 0].cpu().numpy().reshape(S, budget)
        hit = (np.abs(a - ARMS[rewarded][:, None]) < 0.15).any(axis=1)
        found[method] = int((hit & trials).sum())
    n = int(trials.sum())
    assert n >= 10, "construction premise: most contexts never demonstrate the rewarded arm"
    p = _report("neural", (found["postbc"], n), (found["bc"], n))
    assert found["postbc"] > found["bc"]
    assert p < ALPHA_SIG
