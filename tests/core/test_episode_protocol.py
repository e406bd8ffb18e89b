"""The episode protocol without ROS: a fake clock advanced by the injected sleep, a scripted reset
service, events injected from the sleep hook as they would arrive from other threads."""
from __future__ import annotations

import pytest

from postbc_ros.core.episode_fsm import EpisodeState as S
from postbc_ros.core.episode_protocol import ENABLE_RETRY_S, FINISHED, STOPPED, EpisodeProtocol

T0 = 100.0  # the fake clock's start (0.0 means "no /clock yet" to the protocol)
GIVE_UP_S = 1000.0  # fake seconds after which a test's loop is stuck


class World:
    """The protocol's surroundings: clock, sleep, reset service, arm, publisher, log."""

    def __init__(self, answers=("reset",), t0: float = T0):
        self.t = t0
        self.answers = list(answers)  # reset service answers, in order (the last one repeats)
        self.events: list[dict] = []
        self.records: list[dict] = []
        self.calls: list[str] = []
        self.script = None  # hook(proto) called after every sleep
        self.stopped = False  # a clock that does not run yet (use_sim_time before the first /clock)
        self.latched = None  # the arm's latch reason (arm/stop, a fault) until an operator reset

    def clock(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += 0.0 if self.stopped else dt
        if self.t > T0 + GIVE_UP_S:
            raise RuntimeError("test loop stuck")
        if self.script is not None:
            self.script(self.proto)

    def reset(self):
        self.calls.append("reset")
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer != "abort", answer

    def enable(self):
        self.calls.append("enable")
        if self.latched:  # what arm_node answers while latched
            return False, f"arm latched: {self.latched}; an operator must run `postbc arm reset` (service arm/operator_reset)"
        return True, "enabled"

    def hold(self):
        self.calls.append("hold")

    def protocol(self, **kw) -> EpisodeProtocol:
        kw.setdefault("time_limit", 2.0)
        self.proto = EpisodeProtocol(self.reset, self.enable, self.hold, self.events.append, write=self.records.append,
                                     clock=self.clock, sleep=self.sleep, **kw)
        return self.proto

    def states(self) -> list[str]:
        return [e["state"] for e in self.events]

    def episodes(self) -> list[dict]:
        return [r for r in self.records if r["event"] == "episode"]


def running_for(proto: EpisodeProtocol, seconds: float) -> bool:
    return proto.fsm.state is S.RUNNING and proto.clock() - proto.t_start >= seconds


def test_twin_success_ends_the_episode_and_is_logged():
    w = World()
    p = w.protocol(max_episodes=1, settle_time=0.5)
    w.script = lambda p: p.on_success(True) if running_for(p, 1.0) else None
    assert p.run() == FINISHED
    assert w.states() == ["reset", "reset", "ready", "running", "done", "labelled", "finished"]
    done = w.events[4]
    assert (done["success"], done["reason"], done["episode"]) == (True, "success", 0)
    reset, episode = w.records
    assert reset == {"event": "reset", "call": 1, "after_episode": -1, "t": T0, "success": True, "message": "reset"}
    assert episode["episode"] == 0 and episode["success"] is True and episode["reason"] == "success"
    assert episode["t_start"] == pytest.approx(T0 + 0.5)  # after the settle time
    assert episode["duration"] == pytest.approx(episode["t_end"] - episode["t_start"])
    assert 1.0 <= episode["duration"] < 1.1
    assert w.calls == ["reset", "enable"]


def test_after_success_the_episode_runs_on_and_the_time_limit_does_not_fail_it():
    """Collect graph: the demonstration goes on `after_success` seconds after the twin's success (the
    arm settles), and reaching the time limit meanwhile does not turn it into a failure."""
    w = World()
    p = w.protocol(max_episodes=1, settle_time=0.0, time_limit=1.5, after_success=0.8)
    w.script = lambda p: p.on_success(True) if running_for(p, 1.0) else None
    assert p.run() == FINISHED
    (ep,) = w.episodes()
    assert (ep["success"], ep["reason"]) == (True, "success")
    assert 1.8 <= ep["duration"] < 1.9  # success at 1.0 s + 0.8 s, past the 1.5 s limit


def test_time_limit_ends_as_failure():
    w = World()
    p = w.protocol(max_episodes=1, time_limit=2.0)
    assert p.run() == FINISHED
    (ep,) = w.episodes()
    assert (ep["success"], ep["reason"]) == (False, "timeout")
    assert 2.0 < ep["duration"] < 2.1
    assert w.events[-3]["state"] == "done" and w.events[-3]["success"] is False


def test_operator_stop_ends_the_episode_and_twin_success_source_labels_it_failure():
    w = World()
    p = w.protocol(max_episodes=1)
    w.script = lambda p: p.on_label({"stop": True, "success": None, "abort": False}) if running_for(p, 0.3) else None
    p.run()
    assert [(e["success"], e["reason"]) for e in w.episodes()] == [(False, "operator stop")]


def test_operator_answer_labels_the_episode_with_success_source_operator():
    # reset before episode 0, then the answers that label episodes 0, 1, 2 (and reset the scene)
    w = World(answers=["reset", "success", "failure", "reset"])
    p = w.protocol(max_episodes=3, success_source="operator")

    def script(p):
        if running_for(p, 0.3) and p.fsm.episode_index in (0, 2):
            p.on_success(True)  # the twin's flag does not decide here
            p.on_label({"stop": True, "success": p.fsm.episode_index == 2, "abort": False})

    w.script = script
    assert p.run() == FINISHED
    eps = w.episodes()
    # 0: "success"; 1: timed out, "failure"; 2: stopped with success, "reset" keeps the stop's label
    assert [(e["success"], e["reason"]) for e in eps] == [(True, "operator stop"), (False, "timeout"),
                                                          (True, "operator stop")]
    done = [e for e in w.events if e["state"] == "done"]
    assert [e["success"] for e in done] == [None, None, None]  # unknown until the operator answers
    resets = [r for r in w.records if r["event"] == "reset"]
    assert [(r["after_episode"], r["message"]) for r in resets] == [(-1, "reset"), (0, "success"), (1, "failure"),
                                                                    (2, "reset")]
    assert w.calls.count("reset") == 4  # the label's call is also the next reset: never two in a row
    assert w.calls.count("enable") == 3  # enabled at every episode start


def test_estop_aborts_and_clear_returns_to_reset():
    w = World()
    p = w.protocol(max_episodes=1)
    seen = {}

    def script(p):
        if running_for(p, 0.5) and p.fsm.episode_index == 0:
            seen["estop"] = p.estop()
            seen["state"] = p.fsm.state
        elif p.fsm.state is S.ABORTED and p.clock() - p.fsm.entered > 1.0:
            seen["clear"] = p.clear_estop()

    w.script = script
    assert p.clear_estop() == (False, "not aborted (state reset)")
    assert p.run() == FINISHED
    assert seen["state"] is S.ABORTED and seen["estop"].startswith("aborted; arm holding")
    assert seen["clear"] == (True, "cleared: next episode starts after a reset (once `postbc arm reset` cleared "
                             "the arm's latch)")
    aborted = [e for e in w.events if e["state"] == "aborted"]
    assert [(e["success"], e["reason"]) for e in aborted] == [(False, "estop")]
    assert w.calls == ["reset", "enable", "hold", "reset", "enable"]
    assert p.fsm.history[0].aborted and p.fsm.history[0].end_reason == "estop service"
    (ep,) = w.episodes()  # the aborted episode is not logged as an episode; the next one is 1
    assert ep["episode"] == 1 and ep["reason"] == "timeout"


def test_an_arm_that_does_not_answer_is_logged_not_fatal_and_no_episode_starts():
    w = World()
    logged = []

    class Log:
        def warning(self, msg):
            logged.append(("warning", msg))

        def error(self, msg):
            logged.append(("error", msg))

        def info(self, msg):
            logged.append(("info", msg))

    def no_arm():
        raise TimeoutError("service arm/enable not available")

    p = EpisodeProtocol(w.reset, no_arm, no_arm, w.events.append, time_limit=1.0, max_episodes=1,
                        clock=w.clock, sleep=w.sleep, log=Log())
    p.estop()
    p.clear_estop()
    w.proto, w.script = p, lambda p: p.stop() if w.t > T0 + 10 * ENABLE_RETRY_S else None
    assert p.run() == STOPPED
    assert ("error", "estop: service arm/enable not available") in logged
    warnings = [m for kind, m in logged if kind == "warning"]
    assert warnings == ["episode 0 not started: service arm/enable not available; then the episode starts by "
                        f"itself (arm/enable retried every {ENABLE_RETRY_S:g} s)"]  # once, not per retry
    assert p.fsm.state is S.READY and w.episodes() == []


def test_max_episodes_finishes_after_that_many():
    w = World()
    p = w.protocol(max_episodes=3, time_limit=0.5)
    assert p.run() == FINISHED
    assert [e["episode"] for e in w.episodes()] == [0, 1, 2] and p.completed == 3
    assert w.states()[-1] == "finished" and w.calls.count("reset") == 3  # none after the last episode


def test_a_reset_that_answers_abort_stops_with_the_reason():
    w = World(answers=["reset", "abort"])
    p = w.protocol(max_episodes=5, time_limit=0.5)
    why = p.run()
    assert why == "reset service answered abort: abort"
    assert w.events[-1] == {"episode": 1, "state": "aborted", "success": False, "reason": why, "stamp": w.t}
    assert len(w.episodes()) == 1 and w.records[-1]["success"] is False and w.records[-1]["call"] == 2


def test_a_reset_service_that_times_out_stops_the_loop():
    w = World()

    def silent():
        raise TimeoutError("service human_reset did not answer within 600 s")

    p = EpisodeProtocol(silent, w.enable, w.hold, w.events.append, time_limit=1.0, clock=w.clock, sleep=w.sleep)
    assert p.run() == "service human_reset did not answer within 600 s"
    assert w.states() == ["reset", "reset", "aborted"]


def test_waits_for_ready_and_a_started_clock():
    w = World(t0=0.0)
    w.stopped = True
    p = w.protocol(max_episodes=1, wait_ready=True)
    ticks = []

    def script(p):
        ticks.append(p.clock())
        assert len(ticks) < GIVE_UP_S
        if len(ticks) == 5:
            p.on_ready(True)
        if len(ticks) == 10:
            w.t, w.stopped = T0 - 1.0, False  # the clock starts

    w.script = script
    assert p.run() == FINISHED
    assert w.events[0] == {"episode": 0, "state": "reset", "success": None, "reason": "", "stamp": 0.0}
    assert w.records[0]["t"] == T0 - 1.0  # no reset before ready and the clock


def test_stop_ends_the_loop():
    w = World()
    p = w.protocol()
    w.script = lambda p: p.stop() if running_for(p, 0.2) else None
    assert p.run() == STOPPED
    assert w.episodes() == []


def test_unknown_success_source_is_refused():
    with pytest.raises(ValueError, match="success_source"):
        World().protocol(success_source="camera")


def test_a_latched_arm_keeps_the_episode_from_starting_until_the_operator_resets_it():
    """arm/stop latches the arm; the episode manager's enable at the next episode start is refused,
    it says what to do and retries; after `postbc arm reset` the episode starts."""
    w = World()
    w.latched = "operator stop (arm/stop)"
    p = w.protocol(max_episodes=1, settle_time=0.0)
    seen = {}

    def script(p):
        if "reset_at" not in seen and w.t > T0 + 5 * ENABLE_RETRY_S:
            assert p.fsm.state is S.READY and p.t_start is None
            seen["reset_at"], w.latched = w.t, None  # the operator runs `postbc arm reset`

    w.script = script
    assert p.run() == FINISHED
    refusals = [e for e in w.events if e["reason"].startswith("arm latched")]
    assert len(refusals) == 1 and refusals[0]["state"] == "ready"
    assert refusals[0]["reason"] == ("arm latched: operator stop (arm/stop); an operator must run `postbc arm reset` "
                                     "(service arm/operator_reset); then the episode starts by itself (arm/enable "
                                     f"retried every {ENABLE_RETRY_S:g} s)")
    assert 5 <= w.calls.count("enable") <= 7  # retried every ENABLE_RETRY_S while latched, then accepted
    (ep,) = w.episodes()
    assert seen["reset_at"] <= ep["t_start"] <= seen["reset_at"] + ENABLE_RETRY_S
    assert p.arm_refusal is None
    # the episode log records the refusal once and when it ended (what `postbc demo` watches)
    arm = [r for r in w.records if r["event"].startswith("arm_")]
    assert [r["event"] for r in arm] == ["arm_refused", "arm_accepted"]
    assert arm[0]["message"].startswith("arm latched: operator stop (arm/stop)") and arm[0]["episode"] == 0
    assert arm[0]["t"] < seen["reset_at"] <= arm[1]["t"] <= ep["t_start"]


def test_heartbeat_says_whether_an_episode_runs_and_for_how_long():
    w = World()
    p = w.protocol(max_episodes=1, time_limit=2.0, after_success=0.5, settle_time=0.0)
    beats = []
    w.script = lambda p: beats.append(p.heartbeat())
    assert p.heartbeat() == {"stamp": T0, "episode": 0, "running": False, "time_limit_s": 2.5, "elapsed_s": 0.0}
    p.run()
    running = [b for b in beats if b["running"]]
    assert running and all(b["episode"] == 0 and b["time_limit_s"] == 2.5 for b in running)
    assert running[0]["elapsed_s"] < 0.02 and 2.0 <= running[-1]["elapsed_s"] < 2.1
    assert not beats[-1]["running"] and beats[-1]["elapsed_s"] == 0.0
