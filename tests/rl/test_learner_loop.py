"""LearnerLoop (what learner_node runs) without ROS: transitions in -> updates, weights every N
finished episodes, metrics, resume from work_dir, demonstrations on a fresh start."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from postbc_ros.core import wire
from postbc_ros.core.transition import Transition
from postbc_ros.rl.acting_weights import load_acting_state
from postbc_ros.rl.learner_loop import LearnerLoop
from postbc_ros.rl.registry import make_agent

SMALL = {"batch_size": 8, "utd": 1, "hidden": 16, "layers": 1, "learning_starts": 4, "warmup_env_steps": 0}


def toy_obs(rng: np.random.Generator) -> dict:
    return {"state": rng.uniform(-1, 1, size=3).astype(np.float32)}


def agent_for(policy, seed: int = 0):
    return make_agent("dsrl", policy, SMALL, device="cpu", seed=seed)


def episode(agent, rng, n: int, ep: int, robot: str = "r1", replayed: bool = False, human_at: int | None = None):
    """n policy chunks of one episode, as they arrive over the wire (noise flattened by nobody: the
    loop reshapes it); optionally one human chunk (no noise) after chunk `human_at`."""
    hist = agent.new_history()
    s = hist.reset(toy_obs(rng))
    out = []
    for i in range(n):
        chunk, w = agent.act(s)
        s2 = hist.push(toy_obs(rng))
        last = i == n - 1
        out.append(Transition(obs=s, next_obs=s2, action=chunk[:2], noise=w.reshape(-1), reward=float(last),
                              discount=0.98, done=last, steps=2, robot=robot, episode=ep, episode_end=last,
                              success=True if last else None, replayed=replayed))
        if i == human_at:
            out.append(Transition(obs=s2, next_obs=s2, action=chunk[:1], reward=0.0, discount=0.99, done=False,
                                  steps=1, robot=robot, episode=ep, intervention=True, mode="teleop"))
        s = s2
    return [Transition.from_wire(tr.to_wire()) for tr in out]


def drain(loop: LearnerLoop) -> list:
    outs = []
    while (out := loop.step(timeout=0.0)) is not None:
        outs.append(out)
    return outs


def test_updates_weights_every_n_episodes_and_metrics(toy_policy, tmp_path: Path):
    agent = agent_for(toy_policy)
    loop = LearnerLoop(agent, "dsrl", tmp_path / "work", publish_every=2, utd=1)
    assert not loop.resumed and loop.demo_chunks == 0 and loop.step(timeout=0.0) is None
    rng = np.random.default_rng(0)
    for ep in range(3):
        for tr in episode(agent, rng, 3, ep, robot=f"r{ep % 2}", human_at=0 if ep == 1 else None):
            loop.feed(tr)
    outs = drain(loop)
    # the human chunk is not trainable; updates start once learning_starts (4) transitions are in
    assert loop.state.transitions == 9 and agent.replay.size == 9 and agent.grad_steps == 6
    assert loop.state.robots == {"r0": 6, "r1": 3}
    assert [o.metrics is not None for o in outs].count(True) == 3  # one per finished episode
    published = [o.weights for o in outs if o.weights is not None]
    assert [w.version for w in published] == [1]  # after episode 2 of 3 (publish_every = 2)
    head = wire.unpack_bundle(published[0].data, tmp_path / "w")
    assert head["version"] == 1 and head["algorithm"] == "dsrl"
    fresh = agent_for(toy_policy, seed=5)
    meta = load_acting_state(fresh, tmp_path / "w", obs=agent.new_history().reset(toy_obs(rng)))
    assert meta["version"] == 1 and fresh.env_steps == 12  # 6 chunks of 2 steps before the export
    m = outs[-1].metrics
    assert m["episodes"] == 3 and m["version"] == 1 and m["success_rate_recent"] == 1.0 and m["grad_steps"] == 6
    assert m["transitions_by_robot"] == {"r0": 6, "r1": 3} and set(m["losses"]) >= {"critic_loss"}
    # replayed history (a /replay/sync) is trained on but finishes no episode
    for tr in episode(agent, rng, 2, 0, replayed=True):
        loop.feed(tr)
    assert all(o.metrics is None and o.weights is None for o in drain(loop))
    assert loop.state.episodes == 3 and loop.state.transitions == 11


def test_resume_restores_counts_and_agent_and_skips_demos(toy_policy, tmp_path: Path):
    agent = agent_for(toy_policy)
    loop = LearnerLoop(agent, "dsrl", tmp_path, publish_every=1, utd=2)
    rng = np.random.default_rng(1)
    for ep in range(2):
        for tr in episode(agent, rng, 3, ep):
            loop.feed(tr)
    drain(loop)
    saved = (loop.state.version, loop.state.transitions, loop.state.episodes, agent.grad_steps, agent.replay.size)
    assert saved == (1, 6, 2, 6, 6)  # no export after episode 0: no gradient step yet
    # a restarted learner: a fresh agent, and a demos path that would fail to load if it were read
    again = LearnerLoop(agent_for(toy_policy, seed=9), "dsrl", tmp_path, publish_every=1, utd=2,
                        demos=str(tmp_path / "no_such_dataset"))
    assert again.resumed and again.demo_chunks == 0
    assert (again.state.version, again.state.transitions, again.state.episodes, again.agent.grad_steps,
            again.agent.replay.size) == saved
    assert again.state.robots == {"r1": 6} and again.publish().version == 2


def test_demonstrations_fill_the_demo_buffer_on_a_fresh_start(toy_policy, tmp_path: Path):
    from postbc_ros.data import DatasetWriter

    feats = {"observation.state": {"dtype": "float32", "shape": [3], "names": None},
             "action": {"dtype": "float32", "shape": [2], "names": None}}
    w = DatasetWriter(tmp_path / "demos", feats, fps=10.0, robot_type="widowx")
    rng = np.random.default_rng(2)
    for _ in range(2):
        for _t in range(5):
            w.add_frame({"observation.state": rng.uniform(-1, 1, 3).astype(np.float32),
                         "action": rng.uniform(-1, 1, 2).astype(np.float32)})
        w.save_episode(task="toy", success=True)
    w.close()
    loop = LearnerLoop(agent_for(toy_policy), "dsrl", tmp_path / "work", demos=str(tmp_path / "demos"))
    # 5 frames, 2 actions per chunk: chunks of 2, 2, 1 steps per episode
    assert loop.demo_chunks == 6 and loop.agent.demo_replay.size == 6
    assert loop.agent.demo_replay.data["has_noise"][:6].sum() == 0


@pytest.mark.parametrize("utd", [0, 3])
def test_utd_gradient_steps_per_transition(toy_policy, tmp_path: Path, utd: int):
    agent = agent_for(toy_policy)
    loop = LearnerLoop(agent, "dsrl", tmp_path, utd=utd)
    for tr in episode(agent, np.random.default_rng(3), 6, 0):
        loop.feed(tr)
    outs = drain(loop)
    assert agent.grad_steps == utd * 3  # transitions 4, 5 and 6 are past learning_starts
    assert [o.weights is not None for o in outs] == [False] * 5 + [utd > 0]  # no export before any update
