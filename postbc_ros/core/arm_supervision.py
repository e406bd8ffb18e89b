"""Who may let the arm move: the episode manager's heartbeat and the `postbc launch` supervisor
(ROS-free, used by core.arm_controller).

The arm node enforces supervision itself instead of trusting other nodes to stop it (issue 13: a
killed episode manager or supervisor left the policy driving the arm):

* `EpisodeSupervision` (arm_node `supervised:=true`): no motion before the first heartbeat on
  `episode/heartbeat`; a heartbeat older than `heartbeat_timeout` latches the arm ("episode manager
  heartbeat lost"); "running": false holds without latching (between episodes); an episode that
  runs longer than its time limit + EPISODE_OVERRUN_MARGIN_S (timed by the arm node's own clock
  from the first heartbeat that showed it running) latches.
* `SupervisorWatch`: with POSTBC_SUPERVISOR_PID set, the supervisor process must stay alive and
  remain this process's parent (a reparented child has lost it); checked every SUPERVISOR_CHECK_S.

Both answer `Verdict`s: `latch` (hold, disable, an operator must reset) or hold only.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Callable, Mapping

EPISODE_OVERRUN_MARGIN_S = 2.0  # s an episode may run past its time limit before the arm latches
SUPERVISOR_CHECK_S = 0.25  # s between two supervisor liveness checks (a few Hz: os.kill(pid, 0) + getppid)
SUPERVISOR_ENV = "POSTBC_SUPERVISOR_PID"  # set by `postbc launch` for every node it starts
HEARTBEAT_LOST = "episode manager heartbeat lost"
SUPERVISOR_GONE = "supervisor (postbc launch) gone"


@dataclass(frozen=True)
class Verdict:
    """Why the arm may not move now: `latch` True = hold, disable and latch until an operator reset."""

    kind: str  # short name, the key of arm/status "faults" (latch) or of the hold reason
    reason: str  # for the operator: what happened and what to do
    latch: bool


@dataclass(frozen=True)
class Heartbeat:
    """One `episode/heartbeat` message (std_msgs/String JSON)."""

    stamp: float
    episode: int
    running: bool
    time_limit_s: float
    elapsed_s: float

    @classmethod
    def parse(cls, text: str) -> "Heartbeat":
        """The heartbeat in `text`; ValueError naming the field when it is not one."""
        try:
            d = json.loads(text)
        except (TypeError, ValueError) as e:
            raise ValueError(f"episode/heartbeat: not JSON ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"episode/heartbeat: expected a JSON object, got {type(d).__name__}")
        if not isinstance(d.get("running"), bool):
            raise ValueError(f"episode/heartbeat: field 'running' must be true/false, got {d.get('running')!r}")
        if not isinstance(d.get("episode"), int) or isinstance(d.get("episode"), bool):
            raise ValueError(f"episode/heartbeat: field 'episode' must be an integer, got {d.get('episode')!r}")
        nums = {}
        for k in ("stamp", "time_limit_s", "elapsed_s"):
            v = d.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"episode/heartbeat: field '{k}' must be a finite number >= 0, got {v!r}")
            nums[k] = float(v)
        if nums["time_limit_s"] <= 0:
            raise ValueError(f"episode/heartbeat: field 'time_limit_s' must be > 0, got {nums['time_limit_s']}")
        return cls(episode=d["episode"], running=d["running"], **nums)

    def to_json(self) -> str:
        return json.dumps({"stamp": self.stamp, "episode": self.episode, "running": self.running,
                           "time_limit_s": self.time_limit_s, "elapsed_s": self.elapsed_s})


class EpisodeSupervision:
    """The episode manager's heartbeat as seen by the arm; `timeout` is read on every check (live)."""

    def __init__(self, timeout: Callable[[], float]):
        self._timeout = timeout
        self.last: Heartbeat | None = None
        self.received: float | None = None  # arm clock time of the last heartbeat
        self._episode_start: dict[int, float] = {}  # episode -> arm clock time it was first seen running

    def beat(self, hb: Heartbeat, now: float) -> None:
        self.last, self.received = hb, float(now)
        if hb.running and hb.episode not in self._episode_start:
            self._episode_start = {hb.episode: now - min(hb.elapsed_s, hb.time_limit_s)}

    def check(self, now: float) -> Verdict | None:
        """None: the arm may execute commands; else why not."""
        if self.last is None:
            return Verdict("no_heartbeat", "waiting for the episode manager's heartbeat (episode/heartbeat)", False)
        age, timeout = now - self.received, float(self._timeout())
        if age > timeout:
            return Verdict("heartbeat_lost", f"{HEARTBEAT_LOST}: last one {age:.2f} s ago (> heartbeat_timeout "
                           f"{timeout:g} s); is episode_manager running?", True)
        hb = self.last
        if not hb.running:
            return Verdict("not_running", f"episode {hb.episode} not running", False)
        ran = now - self._episode_start[hb.episode]
        if ran > hb.time_limit_s + EPISODE_OVERRUN_MARGIN_S:
            return Verdict("episode_overrun", f"episode {hb.episode} has run {ran:.1f} s, past its time limit "
                           f"{hb.time_limit_s:g} s + {EPISODE_OVERRUN_MARGIN_S:g} s: the episode manager did not "
                           "end it", True)
        return None


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class SupervisorWatch:
    """The `postbc launch` supervisor must stay alive and stay our parent when it started us."""

    def __init__(self, pid: int, alive: Callable[[int], bool] = pid_alive, getppid: Callable[[], int] = os.getppid):
        if pid <= 1:
            raise ValueError(f"{SUPERVISOR_ENV}={pid}: must be the supervisor's process id (> 1)")
        self.pid = int(pid)
        self._alive, self._getppid = alive, getppid
        self.child = getppid() == self.pid  # started directly by the supervisor: a new parent means it died
        self._next = -math.inf
        self.gone: Verdict | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kw) -> "SupervisorWatch | None":
        """The watch asked for by POSTBC_SUPERVISOR_PID (None when unset); ValueError naming the variable."""
        raw = env.get(SUPERVISOR_ENV, "").strip()
        if not raw:
            return None
        try:
            pid = int(raw)
        except ValueError:
            raise ValueError(f"{SUPERVISOR_ENV}={raw!r}: must be a process id (an integer); unset it to run "
                             "without a supervisor") from None
        return cls(pid, **kw)

    def check(self, now: float) -> Verdict | None:
        """At most every SUPERVISOR_CHECK_S; once gone, gone for good."""
        if self.gone is None and now >= self._next:
            self._next = now + SUPERVISOR_CHECK_S
            if not self._alive(self.pid):
                self.gone = Verdict("supervisor_gone", f"{SUPERVISOR_GONE}: process {self.pid} no longer exists", True)
            elif self.child and self._getppid() != self.pid:
                self.gone = Verdict("supervisor_gone", f"{SUPERVISOR_GONE}: this node was reparented to process "
                                    f"{self._getppid()} (supervisor {self.pid} died)", True)
        return self.gone
