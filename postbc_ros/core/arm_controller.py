"""What arm_node decides, without ROS (testable with plain pytest).

`ArmController` holds the received trajectory (TrajectoryFollower), the command watchdog
(core.watchdog) and the safety-filter state (core.safety). `core.arm_loop.ArmLoop` feeds it
trajectories and measured states and executes its `Decision`s on the backend: send a filtered
setpoint, or hold. Nothing reaches a backend except `Decision.command`, which is always a
`filter_command` output (checked again here: whatever the filter returns or raises, the controller
never raises -- an unusable result is a hold with the reason). The watchdog timeout may be given as
a callable: it is read every control period (arm_node's live `watchdog_timeout`). `safety_rig_for`
names the calibration rig whose limits apply.

Latch (issue 13): `stop()` and every fault -- the hardware checks of core.arm_boundary, a lost
episode-manager heartbeat or episode overrun (core.arm_supervision.EpisodeSupervision, when
supervised), a lost `postbc launch` supervisor (SupervisorWatch) -- hold, disable and latch the
arm. `enable(True)` is then refused with the reason until `operator_reset()` (the operator's
`postbc arm reset`); the arm stays disabled until the next enable. `status()` is arm/status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from postbc_ros.core.arm_boundary import StateMonitor
from postbc_ros.core.arm_supervision import EpisodeSupervision, Heartbeat, SupervisorWatch, Verdict
from postbc_ros.core.safety import Intervention, SafetyLimits, SafetyResult, SafetyState, filter_command
from postbc_ros.core.watchdog import Watchdog
from postbc_ros.core.joint_mapping import command_rows
from postbc_ros.core.trajectory_follower import TrajectoryFollower

#: backends that drive a twin (the MuJoCo arm, the kinematic fake, sim_node behind ros2_control):
#: their limits come from calibration/<robot>_twin/, a real arm's from calibration/<robot>/
TWIN_BACKENDS = ("mujoco", "ros2_control", "fake")
RESET_HINT = "an operator must run `postbc arm reset` (service arm/operator_reset)"
#: how every refusal of a latched arm begins (arm/enable, arm/home): what the episode manager's
#: `arm_refused` record carries and `postbc demo` recognises a latch by
LATCHED_REFUSAL = "arm latched"
# s without an episode manager heartbeat before the arm latches: it guards the episode manager's
# existence (time limit, e-stop); commands that stop are the 0.3-0.5 s watchdog's. 0.5 s latched
# healthy twin graphs on this 2-core CI machine (a process descheduled 0.62 s, 2.3 s once)
HEARTBEAT_TIMEOUT_S = 1.5
STATE_TIMEOUT_S = 0.5  # s a backend's state may stay unavailable / its stamp unchanged before a fault
MAX_FOLLOWING_ERROR_RAD = 0.5  # rad |last setpoint - measured| allowed on an arm joint ...
FOLLOWING_ERROR_TIME_S = 0.5  # ... for at most this long (s), then a fault (a blocked arm)


def safety_rig_for(robot: str, backend: str, rig: str = "") -> str:
    """Calibration rig with the safety limits: `rig` when given, else the registry entry's twin rig
    for a twin backend and its real rig for a real one."""
    if rig:
        return rig
    from postbc_ros.robots import get_robot

    entry = get_robot(robot)
    return entry.twin_rig if backend in TWIN_BACKENDS else entry.rig



def _live(value: float | Callable[[], float]) -> Callable[[], float]:
    """A threshold as a callable read on every use (a live node parameter), or a constant."""
    return value if callable(value) else (lambda: value)


@dataclass
class Decision:
    command: np.ndarray | None = None  # filtered [q_1..q_n(, gripper)] to send; None: do not send
    hold: bool = False  # call backend.hold() (set once, on the transition into holding)
    reason: str = ""
    interventions: list[Intervention] = field(default_factory=list)
    summary: str = ""
    level: int = 1  # diagnostic level of the report (1 warn, 2 error)
    refused: str = ""  # enable(True) refused: why (arm/enable's answer, success=False)


class ArmController:
    def __init__(self, limits: SafetyLimits, gripper_joint: str, period: float,
                 watchdog_timeout: float | Callable[[], float], clock: Callable[[], float], *,
                 supervised: bool = False, heartbeat_timeout: float | Callable[[], float] = HEARTBEAT_TIMEOUT_S,
                 supervisor: SupervisorWatch | None = None,
                 max_following_error: float | Callable[[], float] = MAX_FOLLOWING_ERROR_RAD,
                 following_error_time: float | Callable[[], float] = FOLLOWING_ERROR_TIME_S,
                 state_timeout: float | Callable[[], float] = STATE_TIMEOUT_S):
        self.limits = limits
        self.names = list(limits.joint_names)
        self.n = len(self.names)
        self.gripper_joint = gripper_joint
        self.period = float(period)
        self.follower = TrajectoryFollower(limits.command_length)
        self._watchdog_timeout = _live(watchdog_timeout)
        self.watchdog = Watchdog(self.watchdog_timeout, clock=clock)
        self.safety: SafetyState | None = None
        self.active = False
        self.enabled = True
        self.holding = True
        self.reason = "not active"  # why the arm holds now ('' while it follows commands)
        self.latched: str | None = None  # the latch's reason; None when not latched
        self.homing_until = -np.inf
        self.counts: dict[str, int] = {}  # interventions by kind (arm/safety)
        self.faults: dict[str, int] = {}  # latching faults by kind (arm/status)
        self.dropped: dict[str, int] = {}  # commands / heartbeats not used, by reason (arm/status)
        self.episode = EpisodeSupervision(_live(heartbeat_timeout)) if supervised else None
        self.supervisor = supervisor
        self.monitor = StateMonitor(limits, _live(state_timeout), _live(max_following_error),
                                    _live(following_error_time))

    @property
    def watchdog_timeout(self) -> float:
        """The timeout now (read from its source: a live parameter takes effect on the next period)."""
        return float(self._watchdog_timeout())

    def split(self, command: np.ndarray) -> tuple[np.ndarray, float | None]:
        """A Decision's command as the backend's (arm joints, gripper or None)."""
        return command[: self.n], (float(command[self.n]) if command.shape[0] > self.n else None)

    def _full(self, q: np.ndarray, g: float | None) -> np.ndarray:
        return np.concatenate([q, [g or 0.0]])[: self.limits.command_length]

    def _hold(self, reason: str, **kw) -> Decision:
        d = Decision(hold=not self.holding, reason=reason, **kw)
        self.holding, self.reason = True, self.latched or reason
        self.safety = None  # the next command is referenced to the measured position
        self.monitor.sent(None)
        return d

    def count(self, interventions: Sequence[Intervention]) -> None:
        for iv in interventions:
            self.counts[iv.kind] = self.counts.get(iv.kind, 0) + 1

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    # ------------------------------------------------------------ latch
    def latch(self, kind: str, reason: str, fault: bool = True) -> Decision:
        """Hold, disable and latch (the first cause is kept until operator_reset); `fault` counts it."""
        if self.latched is not None:
            return Decision()
        self.latched, self.enabled = reason, False
        if fault:
            self.faults[kind] = self.faults.get(kind, 0) + 1
        self.follower.clear()
        iv = Intervention(kind, "arm", float("nan"), float("nan"), f"{reason}; latched: {RESET_HINT}")
        self.count([iv])
        d = self._hold(reason, interventions=[iv], summary=f"latched: {reason}", level=2)
        d.hold = True  # a latch always commands the backend to hold, whatever it was doing
        return d

    def stop(self) -> Decision:
        """arm/stop: hold, disable, latch."""
        return self.latch("stop", "operator stop (arm/stop)", fault=False)

    def operator_reset(self) -> str:
        """arm/operator_reset: clear the latch; the arm stays disabled until the next enable(True)."""
        if self.latched is None:
            return "not latched; arm/enable true lets the arm move"
        was, self.latched = self.latched, None
        self.enabled, self.reason = False, "disabled"
        return f"latch cleared (was: {was}); the arm stays disabled until arm/enable true"

    def _verdict(self, v: Verdict | None) -> Decision | None:
        if v is None:
            return None
        return self.latch(v.kind, v.reason) if v.latch else None

    def _supervise(self, t: float) -> Decision | None:
        """The supervisor's liveness (always) and, while the arm may move, the episode manager's
        heartbeat: a latch or hold Decision, or None."""
        if self.supervisor is not None and (d := self._verdict(self.supervisor.check(t))) is not None:
            return d
        if self.episode is None or self.latched or not (self.active and self.enabled):
            return None
        v = self.episode.check(t)
        if v is None or (v.kind == "not_running" and t <= self.homing_until):  # arm/home between episodes
            return None
        if v.latch:
            return self.latch(v.kind, v.reason)
        self.follower.clear()
        return self._hold(v.reason)

    # ------------------------------------------------------------ inputs
    def heartbeat(self, text: str, now: float) -> str | None:
        """An episode/heartbeat message; returns why it was dropped (malformed), else None."""
        if self.episode is None:
            return None
        if not now > 0:  # on simulated time before the first /clock: no time to stamp it with (it
            self.drop("clock_not_started")  # would read as a heartbeat from 1970 once the clock runs)
            return None
        try:
            hb = Heartbeat.parse(text)
        except ValueError as e:
            self.drop("bad_heartbeat")
            return str(e)
        self.episode.beat(hb, now)
        return None

    def _filter(self, cmd, state: SafetyState) -> SafetyResult:
        """filter_command, trusted for nothing: an exception or an unusable result is a hold."""
        try:
            res = filter_command(cmd, state, self.limits, self.period)
            problem = self._result_problem(res)
        except Exception as e:  # noqa: BLE001 -- the filter must never take the arm node down
            problem = f"filter_command raised {type(e).__name__}: {e}"
        if problem is None:
            return res
        return SafetyResult(None, True, [Intervention("filter_error", "command", float("nan"), float("nan"),
                                                      f"{problem}; holding")])

    def _result_problem(self, res) -> str | None:
        if not isinstance(res, SafetyResult) or not isinstance(res.held, (bool, np.bool_)):
            return f"filter_command returned {type(res).__name__}, not a SafetyResult"
        if not isinstance(res.interventions, list) or not all(isinstance(i, Intervention) for i in res.interventions):
            return "filter_command returned malformed interventions"
        if res.held:
            return None
        c, v = res.command, res.velocity
        if not (isinstance(c, np.ndarray) and c.shape == (self.limits.command_length,) and np.all(np.isfinite(c))):
            return f"filter_command returned an unusable command {c!r}"
        if v is not None and not (isinstance(v, np.ndarray) and v.shape == (self.n,) and np.all(np.isfinite(v))):
            return f"filter_command returned an unusable velocity {v!r}"
        return None

    def trajectory(self, stamp: float, names: Sequence[str], points: Sequence[Sequence[float]],
                   times: np.ndarray, now: float, q, dq, g) -> Decision | None:
        """A received JointTrajectory (absolute point times). Returns a hold Decision when it is
        empty (explicit hold) or rejected by the filter, else None (installed or dropped and counted:
        latched, disabled, not allowed by the episode supervision)."""
        if self.latched is not None:
            self.drop("latched")
            return None
        if not (self.active and self.enabled):
            self.drop("disabled")
            return None
        if self.episode is not None and (v := self.episode.check(now)) is not None:
            self.drop(v.kind)  # a lost heartbeat latches at the next control period
            return None
        if len(points) == 0:
            self.follower.clear()
            self.watchdog.reset()
            return self._hold("empty trajectory")
        state = self.safety or SafetyState(q=q, dq=dq)
        rows = command_rows(points, names, self.names, self.gripper_joint, self.limits.command_length, g)
        for cmd in rows:  # a trajectory with any malformed point (shape, NaN, Inf) is rejected whole
            res = self._filter(cmd, state)
            if res.held:
                self.count(res.interventions)
                self.follower.clear()
                return self._hold("rejected command", interventions=res.interventions,
                                  summary="command rejected on receipt", level=2)
        self.watchdog.feed()
        if stamp == 0.0:  # ros2_control convention: start now
            times = np.asarray(times) + now
        dropped = self.follower.replace(times, np.vstack(rows), now, self._full(q, g))
        if dropped:
            self.counts["dropped_stale"] = self.counts.get("dropped_stale", 0) + dropped
        return None

    def unavailable(self, t: float, error: BaseException) -> Decision:
        """A control period whose state read failed: hold now, a fault once it lasts (StateMonitor)."""
        d = self._supervise(t) or self._verdict(self.monitor.unavailable(t, error))
        if d is not None and (d.hold or self.latched is not None):
            return d
        self.follower.clear()
        return self._hold(f"state unavailable: {error}")

    def step(self, t: float, q, dq, g, stamp: float | None = None) -> Decision:
        """One control period at time t with the measured state (`stamp`: the backend's, if any)."""
        self.watchdog.timeout = self.watchdog_timeout
        if (d := self._verdict(self.monitor.measured(t, q, stamp))) is not None:
            return d
        if (d := self._supervise(t)) is not None:
            return d
        if self.latched is not None or not (self.active and self.enabled):
            self.monitor.sent(None)
            return Decision()
        wd = self.watchdog.check()
        if self.follower.active and not wd.fresh and t > self.homing_until:
            self.follower.clear()
            iv = Intervention("watchdog", "command", wd.age, self.watchdog.timeout,
                              f"no command for {wd.age:.3f} s (> watchdog_timeout {self.watchdog.timeout} s); holding")
            self.count([iv])
            return self._hold("watchdog", interventions=[iv], summary="watchdog", level=1)
        if (d := self._verdict(self.monitor.motion(t, q))) is not None:
            return d
        sp = self.follower.sample(t + self.period)
        if sp is None:
            return self._hold("no command")
        prev = self.safety
        state = SafetyState(q=q, dq=dq, last_command=None if prev is None else prev.last_command,
                            last_velocity=None if prev is None else prev.last_velocity)
        res = self._filter(sp, state)
        self.count(res.interventions)
        if res.held:
            self.follower.clear()
            return self._hold("safety", interventions=res.interventions, summary="setpoint rejected", level=2)
        self.holding, self.reason = False, ""
        self.safety = state.after(res, q, dq)
        self.monitor.sent(res.command)
        return Decision(command=res.command, interventions=res.interventions, summary="setpoint modified", level=1)

    # ------------------------------------------------------------ modes
    def activate(self, on: bool) -> Decision:
        self.follower.clear()
        self.watchdog.reset()
        self.active = bool(on)
        return Decision() if on else self._hold("deactivated")

    def enable(self, on: bool) -> Decision:
        """arm/enable: refused (Decision.refused) while latched."""
        if on and self.latched is not None:
            return Decision(refused=f"{LATCHED_REFUSAL}: {self.latched}; {RESET_HINT}")
        self.follower.clear()
        self.enabled = bool(on)
        return Decision() if on else self._hold("disabled")

    def home(self, t: float, q, g, home_q: np.ndarray, speed: float) -> float:
        """Install a velocity-limited move to `home_q` (watchdog paused meanwhile); returns its duration."""
        vmax = self.limits.max_velocity * float(speed)
        duration = max(float(np.max(np.abs(np.asarray(home_q) - q) / vmax)), self.period)
        target = np.concatenate([home_q, [0.0]])[: self.limits.command_length]
        self.follower.replace(np.array([t + duration]), target[None], t, self._full(q, g))
        self.enabled, self.homing_until = True, t + duration + 1.0
        return duration

    def status(self, now: float) -> dict:
        """arm/status: {stamp, enabled, holding, latched, reason, faults, dropped}."""
        return {"stamp": float(now), "enabled": bool(self.enabled), "holding": bool(self.holding),
                "latched": self.latched is not None, "reason": self.latched or self.reason,
                "faults": dict(self.faults), "dropped": dict(self.dropped)}
