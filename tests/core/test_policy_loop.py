"""PolicyLoop: policy_node's chunk-execution protocol, driven step by step without ROS.

A fake agent, adapter and clock stand in for the diffusion policy, the IK layer and node time;
the published commands, holds and transitions are collected in lists.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from postbc_ros.core.policy_loop import PolicyLoop, PolicyLoopConfig

K, A, H, DT, LATENCY = 3, 2, 5, 0.1, 0.1


class FakeHistory:
    def __init__(self):
        self.frames = []

    def push(self, frame):
        self.frames.append(frame)
        return self.stacked()

    def stacked(self):
        return {"state": np.stack([f["state"] for f in self.frames])}


class FakeAgent:
    """Chunk [H, A] filled with the number of its call; `infer_s` of node time passes per call."""

    def __init__(self, clock, name="base", infer_s=0.0):
        self.clock, self.name, self.infer_s = clock, name, infer_s
        self.histories, self.calls = [], []

    def new_history(self):
        self.histories.append(FakeHistory())
        return self.histories[-1]

    def act(self, obs, mode):
        self.calls.append((obs, mode))
        self.clock.t += self.infer_s
        return np.full((H, A), float(len(self.calls))), np.full(A, 0.5, np.float32)


class FakeAdapter:
    def __init__(self):
        self.resets = []

    def reset(self, q):
        self.resets.append(np.array(q))

    def targets(self, acts, q):
        return np.asarray(acts) + q[0]  # setpoints: the actions offset by the measured pose


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


class Rig:
    """A PolicyLoop with its fakes and what it published."""

    def __init__(self, infer_s=0.0, mode="dsrl", loader=None):
        self.clock = Clock(1.0)
        self.agent = FakeAgent(self.clock, infer_s=infer_s)
        self.adapter = FakeAdapter()
        self.q = np.array([10.0, 20.0])
        self.commands, self.holds, self.transitions, self.loaded = [], [], [], []
        self.log = logging.getLogger("test_policy_loop")
        cfg = PolicyLoopConfig(k=K, action_dim=A, dt=DT, latency=LATENCY, gamma=0.9, robot_id="r1", mode=mode,
                               explore=True)
        self.loop = PolicyLoop(self.agent, self.adapter, cfg, clock=self.clock, joint_positions=lambda: self.q,
                               publish_command=lambda t, times, q: self.commands.append((t, times, q)),
                               publish_hold=lambda: self.holds.append(self.clock.t),
                               publish_transition=self.transitions.append,
                               load_weights=loader or (lambda agent, rec, obs: (agent, {"version": 1})),
                               log=self.log, weights_loaded=self.loaded.append)

    def frame(self, t, value=None):
        self.loop.add_observation(t, np.array([t if value is None else value]))

    def run_episode(self, ep=0):
        self.loop.set_episode({"episode": ep, "state": "running"})

    def decide_at(self, t_obs):
        """One observation at t_obs (node time now = t_obs), then one step of the loop."""
        self.clock.t = t_obs
        self.frame(t_obs)
        self.loop.step()


def test_chunk_steps_are_due_at_t_obs_plus_i_dt_plus_latency_and_past_steps_are_dropped():
    rig = Rig(infer_s=0.25)  # inference outlasts step 0 (1.1) and step 1 (1.2)
    rig.run_episode()
    rig.decide_at(1.0)
    s = rig.loop.schedule
    assert s.t_obs == 1.0 and s.t_first == pytest.approx(1.1) and s.dropped_past == 2
    np.testing.assert_allclose(s.times, [1.3])  # k = 3 of H = 5 steps: only step 2 is left
    (t_obs, times, targets), = rig.commands
    assert t_obs == 1.0 and np.allclose(times, [1.3]) and np.allclose(targets, [[11.0, 11.0]])
    assert rig.agent.calls[0][1] == "explore"
    # the next decision waits for the observation k steps later (a frame up to dt/4 early counts)
    rig.clock.t = 1.2
    rig.loop.stream()  # re-sends the points still ahead
    assert len(rig.commands) == 2 and np.allclose(rig.commands[-1][1], [1.3])
    rig.frame(1.1)
    rig.frame(1.2)
    rig.decide_at(1.28)
    assert len(rig.agent.calls) == 2
    assert [float(f["state"][0]) for f in rig.agent.histories[-1].frames] == [1.0, 1.1, 1.2, 1.28]
    tr, = rig.transitions  # the first chunk, closed by the second decision
    assert tr.t_obs == 1.0 and tr.t_first == pytest.approx(1.1) and tr.dropped == 2
    assert len(tr.action) == 1 and tr.episode == 0 and tr.robot == "r1" and not tr.intervention
    np.testing.assert_allclose(tr.next_obs["state"][:, 0], [1.0, 1.1, 1.2, 1.28])


def test_a_new_episode_starts_a_fresh_history_and_reanchors_the_arm():
    rig = Rig()
    rig.run_episode(0)
    rig.decide_at(1.0)
    rig.decide_at(1.3)
    assert len(rig.transitions) == 1 and len(rig.adapter.resets) == 1
    rig.frame(1.4)
    rig.frame(1.5)  # frames of the old episode: only the newest may start the new one
    rig.run_episode(1)
    rig.q = np.array([30.0, 40.0])
    rig.clock.t = 1.5
    rig.loop.step()
    assert rig.loop.episode == 1 and len(rig.agent.histories) == 2  # one per episode
    assert [float(f["state"][0]) for f in rig.agent.histories[-1].frames] == [1.5]
    np.testing.assert_array_equal(rig.adapter.resets[-1], [30.0, 40.0])
    # the chunk pending from episode 0 never becomes a transition of episode 1
    rig.decide_at(1.8)
    assert [tr.episode for tr in rig.transitions] == [0, 1]


def test_a_takeover_yields_and_records_the_humans_actions_as_intervention_transitions():
    rig = Rig()
    rig.run_episode()
    rig.decide_at(1.0)
    rig.loop.intervention(True)
    rig.loop.human_action([9.0, 9.0])
    rig.loop.intervention(False)
    rig.loop.intervention(True)  # a new takeover before the loop looked: the earlier one's action is dropped
    for i in range(K + 1):
        rig.loop.human_action([0.1 * i, -0.1 * i])
    rig.loop.human_action([1.0, 2.0, 3.0])  # refused: wrong length
    n_cmds = len(rig.commands)
    rig.decide_at(1.3)  # k human actions: one intervention chunk; the policy's chunk is closed
    assert rig.loop.schedule is None
    rig.loop.stream()
    assert len(rig.commands) == n_cmds and len(rig.agent.calls) == 1  # yielded: no command, no inference
    assert len(rig.transitions) == 1 and not rig.transitions[0].intervention
    rig.loop.intervention(False)
    rig.decide_at(1.35)  # the takeover ended: its last action becomes a (short) chunk
    rig.decide_at(1.4)  # the policy decides again
    assert len(rig.agent.calls) == 2
    human = rig.transitions[1:]
    assert [tr.intervention for tr in human] == [True, True] and [len(tr.action) for tr in human] == [K, 1]
    assert all(tr.noise is None and tr.mode == "teleop" for tr in human)
    np.testing.assert_allclose(human[0].action[:, 0], [0.0, 0.1, 0.2], atol=1e-6)
    np.testing.assert_allclose(human[1].action, [[0.3, -0.3]], atol=1e-6)
    assert len(rig.adapter.resets) == 3  # episode start + after each human chunk


def test_a_stop_holds_explicitly_and_the_last_transition_is_terminal_on_success():
    rig = Rig()
    rig.run_episode(7)
    rig.decide_at(1.0)
    rig.decide_at(1.3)
    rig.clock.t = 1.45  # the twin detects success during the second chunk (steps due at 1.4, 1.5, 1.6)
    rig.loop.success(True)
    rig.loop.set_episode({"episode": 7, "state": "done", "success": None})
    rig.loop.step()
    assert len(rig.holds) == 1 and rig.loop.schedule is None
    assert len(rig.transitions) == 1 and rig.loop.episode == 7  # outcome not known yet: no end transition
    rig.loop.step()
    assert len(rig.holds) == 1  # held once
    rig.loop.set_episode({"episode": 7, "state": "labelled", "success": True})
    rig.loop.step()
    last = rig.transitions[-1]
    assert last.episode_end and last.done and last.success is True
    assert last.reward == pytest.approx(0.9)  # success on step 1 of the chunk: gamma^1
    assert rig.loop.episode is None and len(rig.transitions) == 2


def test_the_success_flag_of_the_same_tick_is_waited_for():
    rig = Rig()
    rig.run_episode()
    rig.decide_at(1.0)
    rig.loop.success(False)  # the detector's previous tick
    rig.clock.t = 1.3
    threading.Timer(0.02, rig.loop.success, (True,)).start()  # the tick of the observation at 1.3
    rig.decide_at(1.3)
    tr, = rig.transitions  # credited to the first chunk, whose last step is due at 1.3
    assert tr.done and tr.reward == pytest.approx(0.9 ** 2)


def test_weights_swap_only_between_chunks_and_a_bad_record_is_rejected():
    new_agents = []

    def loader(agent, record, obs):
        if record == b"bad":
            raise ValueError("corrupt record")
        new_agents.append(FakeAgent(agent.clock, name="learned"))
        return new_agents[-1], {"version": int(record), "env_steps": 5}

    rig = Rig(loader=loader)
    rig.run_episode()
    rig.decide_at(1.0)
    rig.loop.offer_weights(b"3")
    rig.loop.stream()
    assert rig.loop.version == 0 and rig.loop.agent is rig.agent  # not while a chunk executes
    rig.decide_at(1.3)
    assert rig.loop.version == 3 and rig.loop.agent is new_agents[0] and len(new_agents[0].calls) == 1
    assert rig.loaded == [{"version": 3, "env_steps": 5}] and len(rig.agent.calls) == 1
    rig.loop.offer_weights(b"bad")
    rig.decide_at(1.6)
    assert rig.loop.version == 3 and rig.loop.agent is new_agents[0] and len(new_agents[0].calls) == 2
    assert rig.loop.pending_weights is None and len(rig.loaded) == 1
    assert rig.transitions[-1].policy_version == 3


def test_an_error_in_one_iteration_restarts_the_episode_and_the_worker_goes_on(caplog):
    rig = Rig()
    calls = []
    targets = rig.adapter.targets

    def flaky(acts, q):  # the second decision fails
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("IK failed")
        return targets(acts, q)

    rig.adapter.targets = flaky
    rig.run_episode()
    rig.frame(1.0)
    rig.loop.start()
    try:
        deadline = time.monotonic() + 2.0
        while not rig.transitions and time.monotonic() < deadline:  # observations arrive at 10 Hz node time
            rig.clock.t += DT
            rig.frame(rig.clock.t)
            time.sleep(0.01)
    finally:
        rig.loop.close()
    assert "IK failed" in caplog.text and len(calls) >= 4
    # the episode restarted: a fresh history, and the chunk before the error is not closed by a
    # decision taken after it
    assert len(rig.agent.histories) == 2
    assert rig.transitions[0].t_obs > 1.0


@pytest.mark.parametrize("fault", ["nan_chunk", "agent_raises", "nan_setpoint"])
def test_a_non_finite_chunk_is_never_published_the_arm_holds_and_the_next_decision_acts(fault):
    from postbc_ros.core.policy_loop import NonFiniteChunkError

    rig = Rig()
    good_act = rig.agent.act

    def bad_act(obs, mode):
        chunk, noise = good_act(obs, mode)
        if fault == "agent_raises":
            raise NonFiniteChunkError("observation ['state'] holds NaN")
        if fault == "nan_chunk":
            chunk[1, 0] = np.nan
        return chunk, noise

    rig.run_episode()
    rig.decide_at(1.0)  # a good chunk is being executed
    assert len(rig.commands) == 1
    rig.agent.act = bad_act
    if fault == "nan_setpoint":
        rig.agent.act = good_act
        rig.adapter.targets = lambda acts, q: np.full((len(acts), A), np.inf)
    rig.decide_at(1.3)
    assert len(rig.commands) == 1 and rig.holds == [1.3] and rig.loop.schedule is None
    assert rig.loop.guard.snapshot()["dropped"] == {"non_finite_chunk": 1}
    rig.agent.act = good_act
    rig.adapter.targets = FakeAdapter.targets.__get__(rig.adapter)
    rig.decide_at(1.4)  # decided again on the next observation
    assert len(rig.commands) == 2 and np.isfinite(rig.commands[-1][2]).all()
    assert all(np.isfinite(tr.action).all() for tr in rig.transitions)


def test_rejected_weights_and_human_actions_are_counted_under_their_reason():
    class Refused(ValueError):
        reason = "weights_non_finite"

    def loader(agent, record, obs):
        raise Refused("net.actor.0.weight holds NaN")

    rig = Rig(loader=loader)
    rig.run_episode()
    rig.decide_at(1.0)
    rig.loop.offer_weights(b"nan")
    rig.decide_at(1.3)
    assert rig.loop.agent is rig.agent and rig.loop.version == 0 and len(rig.commands) == 2
    rig.loop.intervention(True)
    rig.loop.human_action([np.nan, 0.0])
    rig.loop.human_action([0.1, 0.2, 0.3])
    assert rig.loop.guard.snapshot()["dropped"] == {"weights_non_finite": 1, "teleop_action": 2}
