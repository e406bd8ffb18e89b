"""What arm_node decides, without ROS (testable with plain pytest).

`ArmController` holds the received trajectory (TrajectoryFollower), the command watchdog
(core.watchdog) and the safety-filter state (core.safety). `core.arm_loop.ArmLoop` feeds it
trajectories and measured states and executes its `Decision`s on the backend: send a filtered
setpoint, or hold. Nothing reaches a backend except `Decision.command`, which is always a
`filter_command` output. The watchdog timeout may be given as a callable: it is read every
control period (arm_node's live `watchdog_timeout`). `safety_rig_for` names the calibration rig
whose limits apply.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from postbc_ros.core.safety import Intervention, SafetyLimits, SafetyState, filter_command
from postbc_ros.core.watchdog import Watchdog
from postbc_ros.core.joint_mapping import command_rows
from postbc_ros.core.trajectory_follower import TrajectoryFollower

#: backends that drive a twin (the MuJoCo arm, the kinematic fake, sim_node behind ros2_control):
#: their limits come from calibration/<robot>_twin/, a real arm's from calibration/<robot>/
TWIN_BACKENDS = ("mujoco", "ros2_control", "fake")


def safety_rig_for(robot: str, backend: str, rig: str = "") -> str:
    """Calibration rig with the safety limits: `rig` when given, else the registry entry's twin rig
    for a twin backend and its real rig for a real one."""
    if rig:
        return rig
    from postbc_ros.robots import get_robot

    entry = get_robot(robot)
    return entry.twin_rig if backend in TWIN_BACKENDS else entry.rig


@dataclass
class Decision:
    command: np.ndarray | None = None  # filtered [q_1..q_n(, gripper)] to send; None: do not send
    hold: bool = False  # call backend.hold() (set once, on the transition into holding)
    reason: str = ""
    interventions: list[Intervention] = field(default_factory=list)
    summary: str = ""
    level: int = 1  # diagnostic level of the report (1 warn, 2 error)


class ArmController:
    def __init__(self, limits: SafetyLimits, gripper_joint: str, period: float,
                 watchdog_timeout: float | Callable[[], float], clock: Callable[[], float]):
        self.limits = limits
        self.names = list(limits.joint_names)
        self.n = len(self.names)
        self.gripper_joint = gripper_joint
        self.period = float(period)
        self.follower = TrajectoryFollower(limits.command_length)
        self._watchdog_timeout = watchdog_timeout if callable(watchdog_timeout) else (lambda: watchdog_timeout)
        self.watchdog = Watchdog(self.watchdog_timeout, clock=clock)
        self.safety: SafetyState | None = None
        self.active = False
        self.enabled = True
        self.holding = True
        self.homing_until = -np.inf
        self.counts: dict[str, int] = {}

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
        self.holding = True
        self.safety = None  # the next command is referenced to the measured position
        return d

    def count(self, interventions: Sequence[Intervention]) -> None:
        for iv in interventions:
            self.counts[iv.kind] = self.counts.get(iv.kind, 0) + 1

    # ------------------------------------------------------------ inputs
    def trajectory(self, stamp: float, names: Sequence[str], points: Sequence[Sequence[float]],
                   times: np.ndarray, now: float, q, dq, g) -> Decision | None:
        """A received JointTrajectory (absolute point times). Returns a hold Decision when it is
        empty (explicit hold) or rejected by the filter, else None (installed)."""
        if len(points) == 0:
            self.follower.clear()
            self.watchdog.reset()
            return self._hold("empty trajectory")
        state = self.safety or SafetyState(q=q, dq=dq)
        rows = command_rows(points, names, self.names, self.gripper_joint, self.limits.command_length, g)
        for cmd in rows:  # a trajectory with any malformed point (shape, NaN, Inf) is rejected whole
            res = filter_command(cmd, state, self.limits, self.period)
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

    def step(self, t: float, q, dq, g) -> Decision:
        """One control period at time t with the measured state."""
        self.watchdog.timeout = self.watchdog_timeout
        if not (self.active and self.enabled):
            return Decision()
        wd = self.watchdog.check()
        if self.follower.active and not wd.fresh and t > self.homing_until:
            self.follower.clear()
            iv = Intervention("watchdog", "command", wd.age, self.watchdog.timeout,
                              f"no command for {wd.age:.3f} s (> watchdog_timeout {self.watchdog.timeout} s); holding")
            self.count([iv])
            return self._hold("watchdog", interventions=[iv], summary="watchdog", level=1)
        sp = self.follower.sample(t + self.period)
        if sp is None:
            return self._hold("no command")
        prev = self.safety
        state = SafetyState(q=q, dq=dq, last_command=None if prev is None else prev.last_command,
                            last_velocity=None if prev is None else prev.last_velocity)
        res = filter_command(sp, state, self.limits, self.period)
        self.count(res.interventions)
        if res.held:
            self.follower.clear()
            return self._hold("safety", interventions=res.interventions, summary="setpoint rejected", level=2)
        self.holding = False
        self.safety = state.after(res, q, dq)
        return Decision(command=res.command, interventions=res.interventions, summary="setpoint modified", level=1)

    # ------------------------------------------------------------ modes
    def activate(self, on: bool) -> Decision:
        self.follower.clear()
        self.watchdog.reset()
        self.active = bool(on)
        return Decision() if on else self._hold("deactivated")

    def enable(self, on: bool) -> Decision:
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
