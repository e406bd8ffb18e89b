"""Episode state machine: reset -> ready -> running -> done -> label -> reset.

Human-in-the-loop online RL needs a strict episode protocol: the operator resets the scene,
the policy runs for at most a time limit, the arm holds while the human labels success, and
an emergency stop from *any* state aborts and holds until explicitly cleared. Invalid
transitions raise `InvalidTransition` instead of silently doing something else.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable


class EpisodeState(str, Enum):
    RESET = "reset"  # waiting for the scene to be reset (human or scripted)
    READY = "ready"  # scene reset, arm at home, waiting for start
    RUNNING = "running"  # policy in control
    DONE = "done"  # episode ended (stop, success signal, time limit)
    LABEL = "label"  # waiting for the success label
    ABORTED = "aborted"  # emergency stop: hold until cleared


class InvalidTransition(RuntimeError):
    """Raised for an event that is not allowed in the current state."""


@dataclass(frozen=True)
class TimeLimits:
    """Seconds allowed in each state (inf = no limit). Exceeding `running` ends the episode
    (reason "timeout"); exceeding `reset` or `label` aborts with a reason, because a human
    who never answers must not leave the system waiting silently forever."""

    running: float = 60.0
    reset: float = math.inf
    label: float = math.inf


@dataclass
class EpisodeRecord:
    """What happened in one episode (kept in `EpisodeStateMachine.history`)."""

    index: int
    started: float | None = None
    ended: float | None = None
    end_reason: str | None = None
    success: bool | None = None
    aborted: bool = False


# event -> {from_state: to_state}
_TRANSITIONS: dict[str, dict[EpisodeState, EpisodeState]] = {
    "reset_done": {EpisodeState.RESET: EpisodeState.READY},
    "start": {EpisodeState.READY: EpisodeState.RUNNING},
    "stop": {EpisodeState.RUNNING: EpisodeState.DONE},
    "request_label": {EpisodeState.DONE: EpisodeState.LABEL},
    "label": {EpisodeState.LABEL: EpisodeState.RESET},
    "clear_estop": {EpisodeState.ABORTED: EpisodeState.RESET},
}


class EpisodeStateMachine:
    """The episode protocol with time limits and an always-available emergency stop.

    `hold` is True in every state except RUNNING: only then may commands reach the arm.
    Call `tick()` periodically to enforce time limits. Listeners receive
    (old_state, new_state, reason) on every transition.
    """

    def __init__(self, limits: TimeLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or TimeLimits()
        for name in ("running", "reset", "label"):
            v = getattr(self.limits, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ValueError(f"TimeLimits.{name} must be > 0 seconds (inf for none), got {v!r}")
        self._clock = clock
        self.state = EpisodeState.RESET
        self.entered = clock()
        self.episode_index = 0
        self.history: list[EpisodeRecord] = []
        self._current = EpisodeRecord(index=0)
        self.listeners: list[Callable[[EpisodeState, EpisodeState, str], None]] = []

    @property
    def hold(self) -> bool:
        return self.state is not EpisodeState.RUNNING

    @property
    def current(self) -> EpisodeRecord:
        """The episode in progress, or the last one ended and not yet labelled (DONE / LABEL);
        in RESET / READY a fresh record for the next episode."""
        return self._current

    @property
    def time_in_state(self) -> float:
        return self._clock() - self.entered

    def allowed_events(self) -> list[str]:
        ev = [e for e, m in _TRANSITIONS.items() if self.state in m]
        if self.state is not EpisodeState.ABORTED:
            ev.append("estop")
        return ev

    def _go(self, new: EpisodeState, reason: str) -> EpisodeState:
        old = self.state
        self.state = new
        self.entered = self._clock()
        for cb in list(self.listeners):
            cb(old, new, reason)
        return new

    def fire(self, event: str, reason: str = "") -> EpisodeState:
        """Apply `event`; raise `InvalidTransition` if it is not allowed now."""
        if event == "estop":
            return self.estop(reason or "estop")
        table = _TRANSITIONS.get(event)
        if table is None:
            raise InvalidTransition(f"unknown event {event!r}; known: {sorted(_TRANSITIONS) + ['estop']}")
        if self.state not in table:
            raise InvalidTransition(f"event {event!r} is not allowed in state {self.state.value!r}; allowed now: {self.allowed_events()}")
        new = self._go(table[self.state], reason or event)
        if event == "start":
            self._current = EpisodeRecord(index=self.episode_index, started=self._clock())
        elif event == "stop":
            self._current.ended = self._clock()
            self._current.end_reason = reason or "stop"
        return new

    # convenience wrappers -------------------------------------------------------------------
    def reset_done(self) -> EpisodeState:
        return self.fire("reset_done")

    def start(self) -> EpisodeState:
        return self.fire("start")

    def stop(self, reason: str = "stop", success: bool | None = None) -> EpisodeState:
        """End the running episode; `success` may come with the stop (e.g. task detector)."""
        self.fire("stop", reason)
        if success is not None:
            self._current.success = bool(success)
        return self.state

    def request_label(self) -> EpisodeState:
        return self.fire("request_label")

    def label(self, success: bool) -> EpisodeState:
        """Record the human's success label and go back to reset (next episode)."""
        if not isinstance(success, (bool,)) and success not in (0, 1):
            raise ValueError(f"label must be a bool, got {success!r}")
        self.fire("label", "labelled")
        self._current.success = bool(success)
        self.history.append(self._current)
        self.episode_index += 1
        self._current = EpisodeRecord(index=self.episode_index)
        return self.state

    def estop(self, reason: str = "estop") -> EpisodeState:
        """Emergency stop from any state: abort and hold until `clear_estop`."""
        if self.state is EpisodeState.ABORTED:
            return self.state
        if self.state in (EpisodeState.RUNNING, EpisodeState.DONE, EpisodeState.LABEL) and self._current.started is not None:
            self._current.aborted = True
            self._current.ended = self._current.ended or self._clock()
            self._current.end_reason = reason
            self.history.append(self._current)
            self.episode_index += 1
            self._current = EpisodeRecord(index=self.episode_index)
        return self._go(EpisodeState.ABORTED, reason)

    def clear_estop(self) -> EpisodeState:
        return self.fire("clear_estop", "estop cleared")

    def tick(self) -> EpisodeState:
        """Enforce the time limits; call from the episode manager's timer."""
        t = self.time_in_state
        if self.state is EpisodeState.RUNNING and t > self.limits.running:
            return self.stop("timeout")
        if self.state is EpisodeState.RESET and t > self.limits.reset:
            return self.estop("reset timeout: nobody confirmed the reset")
        if self.state is EpisodeState.LABEL and t > self.limits.label:
            return self.estop("label timeout: nobody labelled the episode")
        return self.state
