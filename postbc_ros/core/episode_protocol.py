"""The episode protocol (ROS-free): reset -> ready -> running -> done -> label -> reset ... on top
of `EpisodeStateMachine`, until `max_episodes` are labelled, `stop()`, or a failure.

Before the first episode it waits for the ready flag (the policy / teleop is up) and for a clock
that has started (with use_sim_time the twin's first /clock). Between every two episodes, and
before the first, it calls `reset()`: on a real robot the operator resets the scene and answers
reset / success / failure / abort (with success_source="operator" that answer labels the episode
just finished); on the twin the scene is randomised. A reset that is refused (abort) or that
raises (a service that timed out) ends the loop with that reason. An episode starts with
`enable()` (the arm may move) and `settle_time`, and ends on the twin's success flag
(success_source="twin"), on an operator stop (`on_label`) or after `time_limit` (a failure).

The arm latches on arm/stop and on faults, and only an operator clears that (`postbc arm reset`):
an `enable()` refused (or unanswered) does not start the episode; the refusal is published (state
"ready" with the reason) and logged once, and `enable()` is retried every ENABLE_RETRY_S.
`heartbeat()` is what the node publishes on episode/heartbeat at HEARTBEAT_PERIOD_S: the arm
node holds without it and enforces the episode's time limit itself.

What touches the world is passed in, so the loop runs without ROS and, with a fake clock and
sleep, instantly in a test:
  reset() -> (accepted, message)   enable() -> (accepted, message)   hold()   publish(event)   write(log record)
Events arrive from other threads: `on_success`, `on_label`, `on_ready`, `estop`, `clear_estop`.
Published events are dicts {episode, state, success, reason, stamp}; log records are
{"event": "reset", call, after_episode, t, success, message} per reset call,
{"event": "episode", episode, success, reason, t_start, t_end, duration} per labelled episode, and
{"event": "arm_refused", episode, t, message} when arm/enable starts refusing (once per reason),
{"event": "arm_accepted", episode, t} when it accepts again.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from postbc_ros.core.episode_fsm import EpisodeState, EpisodeStateMachine, TimeLimits

SUCCESS_SOURCES = ("twin", "operator")
WAIT_POLL_S = 0.05  # how often the loop looks for the ready flag / a started clock, and for a cleared estop
RUNNING_POLL_S = 0.01  # how often a running episode checks success, an operator stop and its time limit
ENABLE_RETRY_S = 1.0  # s between two arm/enable calls while the arm refuses (latched)
HEARTBEAT_PERIOD_S = 0.1  # episode/heartbeat period (10 Hz; the arm's heartbeat_timeout is 0.5 s)
FINISHED = "finished"  # run()'s answer when max_episodes episodes are labelled
STOPPED = "stopped"  # run()'s answer after stop()


class EpisodeProtocol:
    """The episode loop; `run()` blocks (the node gives it a thread) and returns why it ended."""

    def __init__(self, reset: Callable[[], tuple[bool, str]], enable: Callable[[], tuple[bool, str]],
                 hold: Callable[[], None], publish: Callable[[dict], None], *, time_limit: float,
                 success_source: str = "twin", settle_time: float = 0.5, after_success: float = 0.0,
                 max_episodes: int = 0,
                 wait_ready: bool = False, write: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 log: logging.Logger | None = None) -> None:
        if success_source not in SUCCESS_SOURCES:
            raise ValueError(f"success_source must be one of {SUCCESS_SOURCES}, got {success_source!r}")
        self.fsm = EpisodeStateMachine(TimeLimits(running=float(time_limit)), clock=clock)
        self.time_limit = float(time_limit)
        self._ask_reset, self._enable, self._hold, self._emit, self._write = reset, enable, hold, publish, write
        self.clock, self.sleep = clock, sleep
        self.log = log or logging.getLogger(__name__)
        self.twin_decides = success_source == "twin"
        self.settle_time = float(settle_time)
        # the twin's success ends the episode this long after it is first seen (demonstrations then
        # show the arm settling; the time limit does not turn such an episode into a failure)
        self.after_success = float(after_success)
        self.success_at: float | None = None
        self.max_episodes = int(max_episodes)
        self.ready = not wait_ready
        self.success_seen = False
        self.stop_request: dict | None = None
        self.reset_calls = 0
        self.completed = 0
        self.t_start: float | None = None
        self._reset_answered = False  # the label's reset call (operator) was also the next reset
        self.arm_refusal: str | None = None  # why the arm refused the last enable (None: it accepted)
        self._stop = threading.Event()

    # ------------------------------------------------------------ events (any thread)
    def on_success(self, flag: bool) -> None:
        """The twin's success detector; counts only while an episode runs."""
        if flag and self.fsm.state is EpisodeState.RUNNING:
            self.success_seen = True

    def on_label(self, request: dict) -> None:
        """An operator stop (episode/label: {"stop", "success", "abort"}): ends the running episode."""
        self.stop_request = request

    def on_ready(self, flag: bool) -> None:
        self.ready = bool(flag)

    def estop(self, reason: str = "estop service") -> str:
        """Abort from any state and hold the arm until `clear_estop`; returns the answer for the caller."""
        self.fsm.estop(reason)
        try:
            self._hold()
        except TimeoutError as e:
            self.log.error(f"estop: {e}")
        self._publish("aborted", success=False, reason="estop")
        return ("aborted; arm holding and latched (arm/stop); call episode/clear_estop, and an operator runs "
                "`postbc arm reset`, to resume")

    def clear_estop(self) -> tuple[bool, str]:
        if self.fsm.state is not EpisodeState.ABORTED:
            return False, f"not aborted (state {self.fsm.state.value})"
        self.fsm.clear_estop()
        return True, "cleared: next episode starts after a reset (once `postbc arm reset` cleared the arm's latch)"

    def stop(self) -> None:
        """End `run()` at its next step (shutdown)."""
        self._stop.set()

    # ------------------------------------------------------------ the loop
    def run(self) -> str:
        """Run episodes. Returns FINISHED, STOPPED, or the failure that ended the loop (also
        published as state "aborted" with that reason)."""
        self._publish("reset")
        while (not self.ready or self.clock() == 0.0) and not self._stop.is_set():
            self.sleep(WAIT_POLL_S)
        steps = {EpisodeState.ABORTED: self._aborted, EpisodeState.RESET: self._reset_scene,
                 EpisodeState.READY: self._start, EpisodeState.RUNNING: self._running,
                 EpisodeState.DONE: self._done, EpisodeState.LABEL: self._label}
        try:
            while not self._stop.is_set():
                if steps[self.fsm.state]():
                    return FINISHED
        except Exception as e:
            self.log.error(f"episode loop stopped: {e}")
            self._publish("aborted", success=False, reason=str(e))
            return str(e)
        return STOPPED

    def _aborted(self) -> bool:
        self.sleep(WAIT_POLL_S)
        return False

    def _reset_scene(self) -> bool:
        if not self._reset_answered:
            self._publish("reset")
            self._reset(after=self.completed - 1)
        self._reset_answered = False
        self.fsm.reset_done()
        self._publish("ready")
        return False

    def heartbeat(self) -> dict:
        """episode/heartbeat: {stamp, episode, running, time_limit_s, elapsed_s}; time_limit_s is the
        longest a running episode may last (the time limit + after_success: a success seen just before
        the limit lets the episode run on)."""
        running = self.fsm.state is EpisodeState.RUNNING and self.t_start is not None
        now = self.clock()
        return {"stamp": now, "episode": self.fsm.episode_index, "running": running,
                "time_limit_s": self.time_limit + self.after_success,
                "elapsed_s": max(0.0, now - self.t_start) if running else 0.0}

    def _start(self) -> bool:
        try:
            accepted, message = self._enable()
        except TimeoutError as e:
            accepted, message = False, str(e)
        if not accepted:
            text = f"{message}; then the episode starts by itself (arm/enable retried every {ENABLE_RETRY_S:g} s)"
            if text != self.arm_refusal:  # published, logged and recorded once per reason
                self.arm_refusal = text
                self.log.warning(f"episode {self.fsm.episode_index} not started: {text}")
                self._publish("ready", reason=text)
                self._record({"event": "arm_refused", "episode": self.fsm.episode_index, "t": self.clock(),
                              "message": message})
            self.sleep(ENABLE_RETRY_S)
            return False
        if self.arm_refusal is not None:
            self._record({"event": "arm_accepted", "episode": self.fsm.episode_index, "t": self.clock()})
        self.arm_refusal = None
        self.sleep(self.settle_time)
        self.success_seen, self.stop_request, self.success_at = False, None, None
        self.t_start = self.clock()  # before RUNNING: a heartbeat never pairs RUNNING with an old start
        self.fsm.start()
        self._publish("running")
        return False

    def _running(self) -> bool:
        if self.success_seen and self.twin_decides:
            if self.success_at is None:
                self.success_at = self.clock()
            if self.clock() - self.success_at >= self.after_success:
                self.fsm.stop("success", success=True)
            else:
                self.sleep(RUNNING_POLL_S)
        elif self.stop_request is not None:
            self.fsm.stop("operator stop", success=self.stop_request.get("success"))
        else:
            self.fsm.tick()
            self.sleep(RUNNING_POLL_S)
        return False

    def _done(self) -> bool:
        rec = self.fsm.current
        self._publish("done", success=bool(rec.success) if self.twin_decides else None, reason=rec.end_reason or "")
        self.fsm.request_label()
        return False

    def _label(self) -> bool:
        rec = self.fsm.current
        idx, reason, t_end = rec.index, rec.end_reason, rec.ended
        if self.twin_decides:
            success = bool(rec.success)
        else:  # the reset call asks the operator; its answer labels this episode
            answer = self._reset(after=idx)
            self._reset_answered = True
            success = answer == "success" or (answer != "failure" and bool(rec.success))
        self.fsm.label(success)
        self.completed += 1
        self._record({"event": "episode", "episode": idx, "success": success, "reason": reason,
                      "t_start": self.t_start, "t_end": t_end, "duration": t_end - self.t_start})
        self._publish("labelled", success=success, reason=reason, episode=idx)
        self.log.info(f"episode {idx}: {'success' if success else 'failure'} ({reason})")
        if self.max_episodes and self.completed >= self.max_episodes:
            self._publish(FINISHED)
            self.log.info(f"finished {self.completed} episodes")
            return True
        return False

    # ------------------------------------------------------------ io
    def _reset(self, after: int) -> str:
        """Call reset(), log the call; RuntimeError when it is refused. Returns its message."""
        self.reset_calls += 1
        t = self.clock()
        accepted, message = self._ask_reset()
        self._record({"event": "reset", "call": self.reset_calls, "after_episode": after, "t": t,
                      "success": bool(accepted), "message": message})
        if not accepted:
            raise RuntimeError(f"reset service answered abort: {message}")
        return message

    def _publish(self, state: str, success: bool | None = None, reason: str = "", episode: int | None = None) -> None:
        ep = self.fsm.episode_index if episode is None else episode
        self._emit({"episode": ep, "state": state, "success": success, "reason": reason, "stamp": self.clock()})

    def _record(self, rec: dict) -> None:
        if self._write is not None:
            self._write(rec)
