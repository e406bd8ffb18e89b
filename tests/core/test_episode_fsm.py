"""Episode state machine: protocol order, time limits, estop from anywhere."""
import pytest

from postbc_ros.core.episode_fsm import EpisodeState as S
from postbc_ros.core.episode_fsm import EpisodeStateMachine, InvalidTransition, TimeLimits


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def test_full_cycle_and_history():
    clk = Clock()
    fsm = EpisodeStateMachine(TimeLimits(running=10.0), clock=clk)
    seen = []
    fsm.listeners.append(lambda a, b, why: seen.append((a, b, why)))
    assert fsm.state is S.RESET and fsm.hold
    fsm.reset_done()
    fsm.start()
    assert fsm.state is S.RUNNING and not fsm.hold
    clk.t = 3.0
    fsm.stop("operator")
    fsm.request_label()
    fsm.label(True)
    assert fsm.state is S.RESET and fsm.episode_index == 1
    rec = fsm.history[0]
    assert rec.success is True and rec.end_reason == "operator" and rec.ended - rec.started == pytest.approx(3.0)
    assert [b for _, b, _ in seen] == [S.READY, S.RUNNING, S.DONE, S.LABEL, S.RESET]


@pytest.mark.parametrize("event", ["start", "stop", "label", "request_label", "clear_estop"])
def test_invalid_transitions_raise(event):
    fsm = EpisodeStateMachine()
    with pytest.raises(InvalidTransition, match=f"{event}.*not allowed in state 'reset'"):
        fsm.fire(event)
    with pytest.raises(InvalidTransition, match="unknown event"):
        fsm.fire("teleport")


def test_running_time_limit():
    clk = Clock()
    fsm = EpisodeStateMachine(TimeLimits(running=5.0), clock=clk)
    fsm.reset_done()
    fsm.start()
    clk.t = 4.9
    assert fsm.tick() is S.RUNNING
    clk.t = 5.1
    assert fsm.tick() is S.DONE
    assert fsm.hold
    fsm.request_label()
    fsm.label(False)
    assert fsm.history[-1].end_reason == "timeout" and fsm.history[-1].success is False


@pytest.mark.parametrize("prefix", [[], ["reset_done"], ["reset_done", "start"], ["reset_done", "start", "stop"]])
def test_estop_from_anywhere_aborts_and_holds(prefix):
    fsm = EpisodeStateMachine()
    for ev in prefix:
        fsm.fire(ev)
    fsm.estop("button")
    assert fsm.state is S.ABORTED and fsm.hold
    with pytest.raises(InvalidTransition):
        fsm.start()
    fsm.clear_estop()
    assert fsm.state is S.RESET
    if "start" in prefix:
        assert fsm.history[-1].aborted


def test_label_timeout_aborts():
    clk = Clock()
    fsm = EpisodeStateMachine(TimeLimits(label=30.0), clock=clk)
    for ev in ["reset_done", "start", "stop", "request_label"]:
        fsm.fire(ev)
    clk.t = 31.0
    assert fsm.tick() is S.ABORTED


def test_current_record_is_public():
    clk = Clock()
    fsm = EpisodeStateMachine(clock=clk)
    assert fsm.current.index == 0 and fsm.current.started is None
    fsm.reset_done()
    clk.t = 1.0
    fsm.start()
    clk.t = 2.5
    fsm.stop("success", success=True)
    assert (fsm.current.started, fsm.current.ended, fsm.current.end_reason, fsm.current.success) == (
        1.0, 2.5, "success", True)
    fsm.request_label()
    fsm.label(True)
    assert fsm.current.index == 1 and fsm.current.success is None and fsm.history[-1].index == 0
