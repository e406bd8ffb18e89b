"""DSRL / DSRL-NA / Best-of-N over a real (tiny) diffusion policy: bounds, targets, resume, selection."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from postbc_ros.core.transition import Transition
from postbc_ros.rl import (AgentCheckpointError, BestOfNAgent, BestOfNConfig, DSRLAgent, DSRLConfig, DSRLNAAgent,
                           DSRLNAConfig, IQLConfig)


def toy_obs(rng: np.random.Generator) -> dict:
    return {"state": rng.uniform(-1, 1, size=3).astype(np.float32)}


SMALL = dict(batch_size=16, utd=2, hidden=32, layers=2, learning_starts=8)


def make(kind: str, policy, seed: int = 0, **kw):
    if kind == "dsrl":
        return DSRLAgent(policy, DSRLConfig(**{**SMALL, "warmup_env_steps": 12, **kw}), device="cpu", seed=seed)
    if kind == "dsrl_na":
        return DSRLNAAgent(policy, DSRLNAConfig(**{**SMALL, "warmup_env_steps": 12, "distill_batch": 16, **kw}),
                           device="cpu", seed=seed)
    kw = {"n_samples": 4, "batch_size": 16, "utd": 2, "learning_starts": 8, "iql": IQLConfig(hidden=32), **kw}
    return BestOfNAgent(policy, BestOfNConfig(**kw), device="cpu", seed=seed)


def drive(agent, rng: np.random.Generator, n: int, record: list | None = None):
    """n chunk steps on a synthetic stream; reward 1 when the first executed action is positive."""
    hist = agent.new_history()
    s = hist.reset(toy_obs(rng))
    for _ in range(n):
        chunk, w = agent.act(s)
        s2 = hist.push(toy_obs(rng))
        r = float(chunk[0, 0] > 0)
        agent.observe(Transition(obs=s, noise=w, action=chunk[:2], reward=r, discount=0.99**2,
                                 done=False, next_obs=s2, steps=2))
        m = agent.update()
        if record is not None:
            record.append((chunk.copy(), w.copy(), dict(m)))
        s = s2
    return s


@pytest.mark.parametrize("kind", ["dsrl", "best_of_n"])
def test_a_transition_without_executed_actions_is_rejected_and_the_buffer_stays_usable(toy_policy, kind):
    """Seen in the main job: a chunk whose every step was already past reached the learner; stored,
    it fixed the buffer's action shape to (0, A) and every later transition was rejected."""
    agent = make(kind, toy_policy)
    rng = np.random.default_rng(0)
    s = agent.new_history().reset(toy_obs(rng))
    base = Transition(obs=s, noise=np.zeros(agent.fp.noise_shape, np.float32), action=np.zeros((0, 2), np.float32),
                      reward=0.0, discount=0.99, done=False, next_obs=s, steps=0)
    with pytest.raises(ValueError, match=r"shape \(0, 2\)"):
        agent.observe(base)
    with pytest.raises(ValueError, match="expected"):
        agent.observe(base.replace(action=np.zeros(0, np.float32)))
    assert agent.replay.size == 0 and agent.env_steps == 0
    agent.observe(base.replace(action=np.zeros((1, 2), np.float32), steps=1))  # padded to k = 2
    assert agent.replay.size == 1 and agent.replay.data["action"].shape[1:] == (2, 2)


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
def test_noise_bound_respected_in_every_mode(toy_policy, kind):
    agent = make(kind, toy_policy)
    rng = np.random.default_rng(0)
    rec: list = []
    drive(agent, rng, 12, rec)  # 24 env steps: 6 warm-start chunks, then the actor
    assert agent.env_steps == 24 and agent.rl_steps == 12  # warm start counted in env steps
    for chunk, w, _ in rec:
        assert w.shape == (4, 2) and np.abs(w).max() <= agent.cfg.noise_bound + 1e-6
    s = agent.new_history().reset(toy_obs(rng))
    for mode in ("explore", "eval"):
        _, w = agent.act(s, mode=mode)
        assert np.abs(w).max() <= agent.cfg.noise_bound + 1e-6
    # the chunk is exactly the policy's deterministic decode of the returned noise
    chunk, w = agent.act(s, mode="eval")
    ref = toy_policy.sample({"state": torch.as_tensor(s["state"])[None]}, torch.as_tensor(w)[None])[0].numpy()
    np.testing.assert_allclose(chunk, ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na", "best_of_n"])
def test_zero_mode_is_the_pretrained_policys_deterministic_chunk(toy_policy, kind):
    agent = make(kind, toy_policy)
    s = agent.new_history().reset(toy_obs(np.random.default_rng(3)))
    chunk, w = agent.act(s, mode="zero")
    assert w.shape == (4, 2) and not w.any()
    ref = toy_policy.sample({"state": torch.as_tensor(s["state"])[None]}, torch.zeros(1, 4, 2))[0].numpy()
    np.testing.assert_allclose(chunk, ref, atol=1e-6)
    np.testing.assert_array_equal(agent.act(s, mode="zero")[0], chunk)
    with pytest.raises(ValueError, match="explore|eval|base|zero"):
        agent.act(s, mode="greedy")


def test_warm_start_uses_clipped_standard_normal_noise(toy_policy):
    agent = make("dsrl", toy_policy, warmup_env_steps=10**6)
    s = agent.new_history().reset(toy_obs(np.random.default_rng(0)))
    ws = np.stack([agent.act(s)[1] for _ in range(300)]).ravel()
    assert np.abs(ws).max() <= 1.5
    assert abs(ws.mean()) < 0.1 and 0.8 < ws.std() < 1.0  # N(0,1) clipped at 1.5 has std ~0.89


def test_dsrl_na_distillation_noise_is_bounded(toy_policy, monkeypatch):
    agent = make("dsrl_na", toy_policy)
    drive(agent, np.random.default_rng(1), 10)
    seen = []
    orig = agent.fp.decode

    def spy(obs, noise):
        seen.append(noise.detach().clone())
        return orig(obs, noise)

    monkeypatch.setattr(agent.fp, "decode", spy)
    agent.update(n_steps=1)
    assert seen and max(float(w.abs().max()) for w in seen) <= agent.cfg.noise_bound + 1e-6


def test_dsrl_update_changes_critic_and_moves_target_by_tau(toy_policy):
    agent = make("dsrl", toy_policy, tau=0.05)
    drive(agent, np.random.default_rng(2), 10)
    crit0 = copy.deepcopy(agent.critic)
    tgt0 = copy.deepcopy(agent.critic_target)
    m = agent.update(n_steps=1)
    assert {"critic_loss", "actor_loss", "alpha"} <= set(m) and all(np.isfinite(v) for v in m.values())
    for p0, p1 in zip(crit0.parameters(), agent.critic.parameters()):
        assert not torch.equal(p0, p1) or p0.numel() == 0
    for t0, t1, c1 in zip(tgt0.parameters(), agent.critic_target.parameters(), agent.critic.parameters()):
        torch.testing.assert_close(t1, 0.95 * t0 + 0.05 * c1)


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
@pytest.mark.parametrize("backup", [True, False])
def test_backup_entropy_decides_whether_q_carries_the_entropy_bonus(toy_policy, kind, backup):
    """No reward anywhere, so every return is 0. With backup_entropy off (the default) the critic
    must stay near its small initial values; standard SAC's target adds the bonus -α·log π at
    every step and pushes Q up by about α·H per step of horizon."""
    agent = make(kind, toy_policy, init_alpha=1.0, lr=3e-3, tau=0.05, utd=1, backup_entropy=backup)
    rng = np.random.default_rng(3)
    hist = agent.new_history()
    s = hist.reset(toy_obs(rng))
    for _ in range(32):
        chunk, w = agent.act(s)
        s2 = hist.push(toy_obs(rng))
        agent.observe(Transition(obs=s, noise=w, action=chunk[:2], reward=0.0, discount=0.9,
                                 done=False, next_obs=s2, steps=2))
        s = s2
    entropy = [agent.update(n_steps=1)["entropy"] for _ in range(150)]
    feat = agent.fp.features(agent.fp.to_torch(s, batched=False)).expand(64, -1)
    critic = agent.critic if kind == "dsrl" else agent.q_noise  # DSRL-NA: Q_W, distilled from Q_A
    with torch.no_grad():
        q = float(critic(feat, agent.base_noise(64, clip=True)).mean())
    print(f"{kind} backup={backup}: Q {q:.2f}, entropy {np.mean(entropy):.2f}")
    assert np.mean(entropy) > 1.0  # the bonus is there to be backed up (8-D noise, α = 1)
    if backup:
        assert q > 2.0, q
    else:
        assert abs(q) < 0.5, q


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na", "best_of_n"])
def test_resume_continues_identically(toy_policy, tmp_path, kind):
    rng = np.random.default_rng(5)
    a = make(kind, toy_policy, seed=3)
    if kind != "dsrl":
        hist = a.new_history()
        demo = []
        for _ in range(6):
            s, s2 = hist.reset(toy_obs(rng)), hist.push(toy_obs(rng))
            demo.append(Transition(obs=s, action=np.ones((2, 2), np.float32), reward=1.0, discount=0.98,
                                   done=True, next_obs=s2, steps=2))
        a.add_demos(demo)
    drive(a, rng, 8)
    a.save(tmp_path / "ck")
    rng_state = rng.bit_generator.state
    ref: list = []
    drive(a, rng, 5, ref)

    b = make(kind, toy_policy, seed=99).load(tmp_path / "ck")  # different seed: everything comes from the file
    assert len(b.replay) == 8 and b.env_steps == 16
    for k, v in a.optims.items():
        assert b.optims[k].state_dict()["param_groups"][0]["lr"] == v.state_dict()["param_groups"][0]["lr"]
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = rng_state
    got: list = []
    drive(b, rng2, 5, got)
    for (c1, w1, m1), (c2, w2, m2) in zip(ref, got):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(c1, c2)
        assert m1 == m2
    for k in a.replay.data:
        np.testing.assert_array_equal(a.replay.data[k], b.replay.data[k])


def test_load_rejects_mismatched_config_and_missing_dir(toy_policy, tmp_path):
    a = make("dsrl", toy_policy)
    drive(a, np.random.default_rng(0), 3)
    a.save(tmp_path / "ck")
    with pytest.raises(AgentCheckpointError, match="config"):
        make("dsrl", toy_policy, tau=0.5).load(tmp_path / "ck")
    with pytest.raises(AgentCheckpointError, match="kind"):
        make("best_of_n", toy_policy).load(tmp_path / "ck")
    with pytest.raises(AgentCheckpointError):
        make("dsrl", toy_policy).load(tmp_path / "nothing_here")


def test_best_of_n_executes_the_highest_q_sample(toy_policy):
    agent = make("best_of_n", toy_policy, n_samples=8)
    rng = np.random.default_rng(0)
    drive(agent, rng, 10)  # trains IQL a little so scores differ
    s = agent.new_history().reset(toy_obs(rng))
    gen_state = agent.torch_gen.get_state()
    chunk, w = agent.act(s, mode="eval")
    # recompute: same generator state -> same N candidate noises; score each independently
    agent.torch_gen.set_state(gen_state)
    cand = agent.base_noise(8, clip=False).reshape(8, 4, 2)
    obs_t = agent.fp.to_torch(s, batched=False)
    feat = agent.fp.features(obs_t)
    scores = []
    for i in range(8):
        c = agent.fp.decode(obs_t, cand[i : i + 1])
        scores.append(float(agent.iql.q_value(feat, c[:, :2].reshape(1, -1))))
    best = int(np.argmax(scores))
    np.testing.assert_allclose(w, cand[best].numpy(), atol=1e-6)
    np.testing.assert_allclose(agent.last_scores, scores, atol=1e-5)
    assert len(set(np.round(scores, 6))) > 1


def test_iql_from_a_few_dozen_labelled_episodes_prefers_rewarded_chunks(toy_policy):
    """36 one-chunk labelled episodes (reward 1 iff the first action's x > 0): IQL must rank
    rewarded chunks above unrewarded ones, and Best-of-N must then pick them far more often
    than the pretrained policy samples them."""
    rng = np.random.default_rng(0)
    agent = make("best_of_n", toy_policy, n_samples=8)
    hist = agent.new_history()
    eps = []
    for _ in range(36):
        s = hist.reset(toy_obs(rng))
        act = rng.uniform(-1, 1, size=(2, 2)).astype(np.float32)
        eps.append(Transition(obs=s, action=act, reward=float(act[0, 0] > 0), discount=0.98, done=True,
                              next_obs=s, steps=2))
    agent.add_demos(eps)
    agent.update(n_steps=400)
    pos, neg = [], []
    for _ in range(200):
        s = hist.reset(toy_obs(rng))
        a = rng.uniform(-1, 1, size=(2, 2)).astype(np.float32)
        feat = agent.fp.features(agent.fp.to_torch(s, batched=False))
        q = float(agent.iql.q_value(feat, torch.as_tensor(a).reshape(1, -1)))
        (pos if a[0, 0] > 0 else neg).append(q)
    assert np.mean(pos) > np.mean(neg) + 0.3
    picked, base = [], []
    for _ in range(60):
        s = hist.reset(toy_obs(rng))
        picked.append(agent.act(s, mode="eval")[0][0, 0] > 0)
        base.append(agent.act(s, mode="base")[0][0, 0] > 0)
    assert np.mean(picked) > np.mean(base) + 0.2


def test_dsrl_on_image_policy_uses_encoder_features_and_stores_uint8():
    """Critics/actor sit on policy.encode_obs features, so image policies work unchanged."""
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.training_data import windows_from_episodes

    rng = np.random.default_rng(0)
    eps = [{"obs": {"state": rng.uniform(-1, 1, (6, 2)).astype(np.float32),
                    "scene": rng.integers(0, 255, (6, 24, 24, 3), dtype=np.uint8)},
            "action": rng.uniform(-1, 1, (6, 2)).astype(np.float32)} for _ in range(3)]
    data = windows_from_episodes(eps, obs_history=1, horizon=2)
    policy = pretrain(data, TrainConfig(method="bc", epochs=2, hidden=[32], image_feature_dim=16, horizon=2,
                                        n_action_steps=2, seed=0, device="cpu"), progress=False).ema.model
    agent = DSRLAgent(policy, DSRLConfig(batch_size=8, utd=1, hidden=16, layers=1, learning_starts=4,
                                         warmup_env_steps=0), device="cpu", seed=0)
    hist = agent.new_history()
    frame = lambda: {"state": rng.uniform(-1, 1, 2).astype(np.float32),  # noqa: E731
                     "scene": rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)}
    s = hist.reset(frame())
    for _ in range(6):
        chunk, w = agent.act(s)
        s2 = hist.push(frame())
        agent.observe(Transition(obs=s, noise=w, action=chunk, reward=0.0, discount=0.98, done=False,
                                 next_obs=s2, steps=2))
        m = agent.update()
        s = s2
    assert agent.replay.data["obs/scene"].dtype == np.uint8
    assert agent.feat_dim == policy.obs_encoder.out_dim
    assert m and np.isfinite(m["critic_loss"])


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
def test_steering_learns_a_one_step_bandit(toy_policy, kind):
    """Reward 1 iff the first executed action's x > 0 (terminal): after a short run the
    deterministic steered policy must pick rewarded chunks far more often than the base policy."""
    agent = make(kind, toy_policy, utd=4, batch_size=32, warmup_env_steps=40, lr=1e-3)
    rng = np.random.default_rng(0)
    hist = agent.new_history()
    for _ in range(80):
        s = hist.reset(toy_obs(rng))
        chunk, w = agent.act(s)
        agent.observe(Transition(obs=s, noise=w, action=chunk[:2], reward=float(chunk[0, 0] > 0),
                                 discount=0.98, done=True, next_obs=s, steps=2))
        agent.update()
    steered, base = [], []
    for _ in range(100):
        s = hist.reset(toy_obs(rng))
        steered.append(agent.act(s, "eval")[0][0, 0] > 0)
        base.append(agent.act(s, "base")[0][0, 0] > 0)
    print(f"{kind}: steered {np.mean(steered):.2f} vs base {np.mean(base):.2f}")
    assert np.mean(steered) > max(0.8, np.mean(base) + 0.2)


# ------------------------------------------------------------------ the reference's settings (issue 15)
def test_dsrl_defaults_are_the_references():
    """ajwagen/dsrl cfg/robomimic/dsrl_can.yaml as train_dsrl.py runs it: 3×2048 Tanh + LayerNorm,
    SAC with ent_coef auto (SB3 starts α at 1.0) and the entropy in the critics' target, target
    entropy 0, action_magnitude 1.5, 2 critics, a warm start of 1501 steps × 4 envs × 4-step chunks
    (in env steps, no learning during it), UTD 20 per step of 4 envs = 5 per transition, the -1/0
    reward. DSRL-NA inherits them."""
    from postbc_ros.rl.dsrl import REFERENCE_WARMUP_ENV_STEPS

    for cfg in (DSRLConfig(), DSRLNAConfig()):
        assert (cfg.hidden, cfg.layers, cfg.activation, cfg.layer_norm) == (2048, 3, "tanh", True)
        assert (cfg.init_alpha, cfg.backup_entropy, cfg.target_entropy) == (1.0, True, 0.0)
        assert (cfg.noise_bound, cfg.n_critics, cfg.batch_size, cfg.lr, cfg.tau) == (1.5, 2, 256, 3e-4, 0.005)
        assert cfg.warmup_env_steps == REFERENCE_WARMUP_ENV_STEPS == 24016 and not cfg.train_during_warmup
        assert cfg.utd == 20 // 4 and cfg.reward == "minus_one"


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
@pytest.mark.parametrize("activation,layer_norm", [("tanh", True), ("relu", False)])
def test_networks_are_built_as_configured(toy_policy, kind, activation, layer_norm):
    from torch import nn

    agent = make(kind, toy_policy, activation=activation, layer_norm=layer_norm, hidden=24, layers=3,
                 init_alpha=0.3, n_critics=3)
    agent.act(agent.new_history().reset(toy_obs(np.random.default_rng(0))), mode="eval")  # builds the networks
    act_cls = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    for name, module in agent.modules.items():
        if name == "log_alpha":
            continue
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        kinds = [type(m) for m in module.modules()]
        hidden_layers = 3 * (3 if name != "actor" else 1)  # 3 critic heads, 3 layers each
        assert kinds.count(act_cls) == hidden_layers and all(m.out_features in (24, 1, 16) for m in linears)
        assert kinds.count(nn.LayerNorm) == (hidden_layers if layer_norm else 0)
    assert float(agent.log_alpha.alpha().detach()) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="activation"):
        make(kind, toy_policy, activation="gelu")
    with pytest.raises(ValueError, match="reward"):
        make(kind, toy_policy, reward="plus_one")


@pytest.mark.parametrize("during", [False, True])
def test_warm_start_is_counted_in_env_steps_and_learning_waits_for_it(toy_policy, during):
    """warmup_env_steps = 12 and 2 env steps per chunk: the first 6 chunks act with w ~ N(0, I); as
    in the reference no gradient step is taken before the warm start is over (learning_starts is
    met after 2 transitions), unless train_during_warmup."""
    agent = make("dsrl", toy_policy, warmup_env_steps=12, learning_starts=2, train_during_warmup=during)
    rng = np.random.default_rng(0)
    hist = agent.new_history()
    s = hist.reset(toy_obs(rng))
    grads = []
    for _ in range(8):
        assert agent.in_warmup() == (agent.env_steps < 12)
        chunk, w = agent.act(s)
        s2 = hist.push(toy_obs(rng))
        agent.observe(Transition(obs=s, noise=w, action=chunk[:2], reward=-2.0, discount=0.99**2, done=False,
                                 next_obs=s2, steps=2))
        agent.update()
        grads.append(agent.grad_steps)
        s = s2
    assert agent.env_steps == 16 and agent.rl_steps == 8
    if during:
        assert grads[:2] == [0, agent.cfg.utd]  # from learning_starts (2 transitions) on
    else:
        assert grads[:5] == [0] * 5 and grads[5] == agent.cfg.utd  # 12 env steps after the 6th chunk


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
def test_sample_mode_samples_the_actor_and_eval_mode_takes_its_mean(toy_policy, kind):
    """`sample` (the reference's evaluation) draws from the actor — a new draw each call, no warm
    start — while `eval` returns the actor's mean: the same noise every call."""
    agent = make(kind, toy_policy, warmup_env_steps=10**6)
    s = agent.new_history().reset(toy_obs(np.random.default_rng(4)))
    draws = [agent.act(s, mode="sample")[1] for _ in range(3)]
    assert not np.allclose(draws[0], draws[1]) and not np.allclose(draws[1], draws[2])
    means = [agent.act(s, mode="eval")[1] for _ in range(3)]
    np.testing.assert_array_equal(means[0], means[1])
    np.testing.assert_array_equal(means[1], means[2])
    state = agent.torch_gen.get_state()
    _, w = agent.act(s, mode="sample")
    agent.torch_gen.set_state(state)
    feat = agent.fp.features(agent.fp.to_torch(s, batched=False))
    with torch.no_grad():
        ref, _ = agent.actor(feat, generator=agent.torch_gen)
    np.testing.assert_allclose(w.reshape(-1), ref.numpy().reshape(-1), atol=1e-6)  # the actor, not N(0, I)


def test_acting_without_the_actor_builds_no_networks(toy_policy):
    """At the reference's size (3×2048, ≈ 25M parameters) the networks are built only when acting
    needs them: a pretrained-mode agent (base / zero) and the warm start never do."""
    agent = DSRLAgent(toy_policy, DSRLConfig(), device="cpu", seed=0)
    s = agent.new_history().reset(toy_obs(np.random.default_rng(0)))
    for mode in ("base", "zero", "explore"):
        agent.act(s, mode=mode)
    assert agent.feat_dim is None and not agent.modules
