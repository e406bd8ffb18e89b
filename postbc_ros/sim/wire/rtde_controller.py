"""What a UR controller box holds and does for ur_rtde, without any transport (ROS-free).

`URController` is the controller side of the RTDE interfaces: safety mode, robot mode, whether
ur_rtde's control script runs, the RTDE watchdog, servoJ targets, teach mode. Two callers drive
it: the in-process test doubles (tests/drivers/fake_rtde.py) and the wire-level twin's socket
server (rtde_twin.RTDETwinServer), so a protective stop or a watchdog expiry behaves the same in
the driver's unit tests and in the real-robot graph.

Behaviour (as a UR does):
- a servoJ target farther than `max_jump` from the measured position is a protective stop (the
  controller faults on a jump); servoJ in a stop, in teach mode or with no script is refused;
- once `set_watchdog(f)` armed it, a gap of more than 1/f s between kicks stops the control script
  (runtime state STOPPED) and disarms the watchdog; `reupload_script` restarts the script unless a
  stop is active or the robot is not running; calls count at their sending time (`at`), and the
  time a client waited beyond a step for this controller's reply is not counted (`client_waited`):
  a real controller never keeps its client waiting;
- `protective_stop` / `emergency_stop` / `clear_stops` are the operator, the cell and the pendant;
- `kinematic=True`: the arm IS the last accepted servoJ target (the unit-test double); False: an
  outside physics (rtde_twin.URTwinBridge) moves the arm towards `servo_target` and reports the
  measured joints with `set_measured`.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager

import numpy as np

LOG = logging.getLogger("postbc_ros.sim.wire.rtde_controller")
SAFETY_NORMAL, SAFETY_PROTECTIVE, SAFETY_SYSTEM_ESTOP, SAFETY_ROBOT_ESTOP = 1, 3, 6, 7  # RTDE safety_mode codes
ROBOT_POWER_OFF, ROBOT_RUNNING = 3, 7  # RTDE robot_mode codes
RUNTIME_STOPPED, RUNTIME_PLAYING = 1, 2  # RTDE runtime_state codes
E_SERIES_STEP_S, CB3_STEP_S = 0.002, 0.008  # controller step: 500 Hz e-Series, 125 Hz CB3
STEP_TIMES = {"e-series": E_SERIES_STEP_S, "cb3": CB3_STEP_S}  # by controller generation
MAX_JUMP_RAD = 0.2  # a servoJ target this far (any joint) from the measured position is a protective stop
CALL_LOG = 1000  # calls kept in `calls` (a twin session sends servoJ at 500 Hz for hours; `counts` keeps totals)
N_JOINTS = 6
LOOKAHEAD_RANGE, GAIN_RANGE = (0.03, 0.2), (100.0, 2000.0)  # ur_rtde's servoJ argument ranges (s, gain)
MAX_MOVEJ_SPEED, MAX_MOVEJ_ACCEL = 3.14, 40.0  # rad/s, rad/s^2: ur_rtde's moveJ limits


def check_q(q, what: str) -> list[float]:
    """`q` as pybind would accept it for list[float] of 6 joints, else TypeError / ValueError."""
    if not isinstance(q, (list, tuple)) or len(q) != N_JOINTS:
        raise TypeError(f"{what}: q must be a list of {N_JOINTS} floats (pybind list[float]), got {q!r}")
    if not all(isinstance(x, (float, int)) and not isinstance(x, bool) for x in q):
        raise TypeError(f"{what}: q must hold Python floats, got {q!r}")
    if not all(math.isfinite(x) for x in q):
        raise ValueError(f"{what}: q must be finite, got {q!r}")
    return [float(x) for x in q]


def check_servo_args(speed, acceleration, t, lookahead_time, gain) -> None:
    """servoJ's scalar arguments, checked as ur_rtde does (types: TypeError; ranges: ValueError)."""
    if not all(isinstance(a, float) for a in (speed, acceleration, t, lookahead_time, gain)):
        raise TypeError("servoJ: speed, acceleration, time, lookahead_time and gain are floats")
    if not t > 0:
        raise ValueError(f"servoJ: time must be > 0, got {t}")
    if not LOOKAHEAD_RANGE[0] <= lookahead_time <= LOOKAHEAD_RANGE[1]:
        raise ValueError(f"servoJ: lookahead_time {lookahead_time} outside {list(LOOKAHEAD_RANGE)}")
    if not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
        raise ValueError(f"servoJ: gain {gain} outside {list(GAIN_RANGE)}")


class URController:
    """One UR controller's state; every method is thread-safe (`lock`)."""

    def __init__(self, q0, max_jump: float = MAX_JUMP_RAD, step_time: float = E_SERIES_STEP_S,
                 kinematic: bool = True) -> None:
        self.lock = threading.RLock()
        self.q = np.array(q0, dtype=float)
        self.qd = np.zeros(N_JOINTS)
        self.max_jump = float(max_jump)
        self.step_time = float(step_time)
        self.kinematic = bool(kinematic)
        self.t_boot = time.monotonic()
        self.safety_mode = SAFETY_NORMAL
        self.robot_mode = ROBOT_RUNNING
        self.program_running = True
        self.remote_control = True
        self.watchdog_hz: float | None = None
        self.last_kick = time.monotonic()
        self._at: float | None = None  # sending time of the call being applied (see `at`)
        self.kicks = 0
        self.watchdog_gap: float | None = None  # the kick gap that last expired the watchdog (s)
        self.excused_s = 0.0  # total controller lateness not counted against the watchdog (client_waited)
        self.servo_target: np.ndarray | None = None  # last accepted servoJ target (the physics follows it)
        self.servo_active = False
        self.teach = False  # teachMode (freedrive): the arm is moved by hand, gravity compensated
        self.uploads = 0
        self.counts: Counter[str] = Counter()  # every call by name, servoJ included
        self.calls = deque(maxlen=CALL_LOG)  # the latest calls with their arguments

    def record(self, *call) -> None:
        self.counts[call[0]] += 1
        self.calls.append(call)

    # -- state the interfaces read ------------------------------------------------------------
    @property
    def protective_stopped(self) -> bool:
        return self.safety_mode == SAFETY_PROTECTIVE

    @property
    def emergency_stopped(self) -> bool:
        return self.safety_mode in (SAFETY_SYSTEM_ESTOP, SAFETY_ROBOT_ESTOP)

    @property
    def runtime_state(self) -> int:
        self.check_watchdog()
        return RUNTIME_PLAYING if self.program_running else RUNTIME_STOPPED

    def timestamp(self) -> float:
        """Controller time (s since it booted): RTDE's `timestamp`."""
        return self.clock() - self.t_boot

    def clock(self) -> float:
        """The controller's "now" for the watchdog: the sending time of the call being applied
        (`at`), else the monotonic clock."""
        return time.monotonic() if self._at is None else self._at

    @contextmanager
    def at(self, sent: float | None):
        """Apply calls as of their sending time `sent` (monotonic, the same clock on one machine):
        a call that waited in a queue while the simulating process was descheduled is on time, as
        on a controller box that never stalls. None: now."""
        with self.lock:
            prev, self._at = self._at, (None if sent is None else min(float(sent), time.monotonic()))
            try:
                yield
            finally:
                self._at = prev

    def check_watchdog(self) -> None:
        with self.lock:
            if (self.program_running and self.watchdog_hz is not None
                    and self.clock() - self.last_kick > 1.0 / self.watchdog_hz):
                self.watchdog_gap = self.clock() - self.last_kick
                LOG.warning("UR controller: no watchdog kick for %.0f ms (limit %.0f ms; %.0f ms of waits on this "
                            "controller's replies excused so far): the control script stops",
                            self.watchdog_gap * 1e3, 1e3 / self.watchdog_hz, self.excused_s * 1e3)
                self.stop_program("watchdog")

    def client_waited(self, sent: float, answered: float) -> None:
        """A client sent a request at `sent` and had its reply at `answered` (monotonic). A real
        controller answers within its step, and ur_rtde's receive side never waits for it at all (its
        state arrives every step); a client blocked longer on this controller -- its process was
        descheduled -- could not kick meanwhile, so the watchdog does not count that excess against it.
        A client that sends no kicks still expires the watchdog: only the controller's own lateness is excused."""
        with self.lock:
            late = float(answered) - float(sent) - self.step_time
            if late > 0.0 and self.watchdog_hz is not None:
                self.last_kick += late
                self.excused_s += late

    def connection_lost(self) -> None:
        """The interface that kicked the watchdog is gone: no kick will come, the watchdog fires."""
        with self.lock:
            if self.program_running and self.watchdog_hz is not None:
                self.stop_program("watchdog")

    def stop_program(self, why: str) -> None:
        with self.lock:
            self.program_running = False
            self.servo_active = False
            self.qd = np.zeros(N_JOINTS)
            self.watchdog_hz = None  # the script that held the watchdog is gone
            self.record("program_stopped", why)

    def servo_goal(self) -> tuple[np.ndarray | None, bool]:
        """What the physics follows (kinematic=False): (a copy of the last accepted servoJ target or
        None, teach mode). In teach mode the target is forgotten: the arm holds where the hand leaves it."""
        with self.lock:
            target = None if self.servo_target is None else self.servo_target.copy()
            if self.teach:
                self.servo_target = None
            return target, self.teach

    def set_measured(self, q, qd) -> None:
        """The physics' measured joints (kinematic=False)."""
        with self.lock:
            self.q, self.qd = np.array(q, dtype=float), np.array(qd, dtype=float)

    # -- injections (the operator, the cell) ----------------------------------------------------
    def protective_stop(self) -> None:
        with self.lock:
            self.safety_mode = SAFETY_PROTECTIVE
            self.stop_program("protective stop")

    def emergency_stop(self) -> None:
        with self.lock:
            self.safety_mode = SAFETY_ROBOT_ESTOP
            self.robot_mode = ROBOT_POWER_OFF  # an e-stop cuts arm power
            self.stop_program("emergency stop")

    def clear_stops(self) -> None:
        """What the operator does on the pendant: unlock the stop, power on, release brakes."""
        with self.lock:
            self.safety_mode = SAFETY_NORMAL
            self.robot_mode = ROBOT_RUNNING

    # -- the control script's commands (a connected control interface calls these) -------------
    def upload_script(self) -> None:
        """A control interface connected: ur_rtde uploads its control script."""
        with self.lock:
            if not self.program_running:
                self.program_running = True
                self.uploads += 1

    def require_script(self, what: str) -> None:
        self.check_watchdog()
        if not self.program_running:
            raise RuntimeError("RTDE control script is not running!")  # ur_rtde's sendCommand

    def set_watchdog(self, min_frequency: float) -> bool:
        with self.lock:
            self.record("setWatchdog", min_frequency)
            self.watchdog_hz = float(min_frequency)
            self.last_kick = self.clock()
        return True

    def kick_watchdog(self) -> bool:
        """A watchdog kick at `clock()`: the gap that expires the watchdog is between two kicks."""
        with self.lock:
            self.check_watchdog()
            self.last_kick = max(self.last_kick, self.clock())
            self.kicks += 1
        return True

    def servo_j(self, q, speed: float, acceleration: float, t: float, lookahead_time: float, gain: float) -> bool:
        """Accept servoJ target `q` (checked list of 6 floats) reached over `t` s, or refuse it."""
        with self.lock:
            self.record("servoJ", list(q), speed, acceleration, t, lookahead_time, gain)
            self.require_script("servoJ")
            if self.protective_stopped or self.emergency_stopped or self.teach:
                return False
            target = np.array(q, dtype=float)
            if np.max(np.abs(target - self.q)) > self.max_jump:
                self.protective_stop()  # the controller faults on a jump
                return False
            if self.kinematic:
                self.qd = (target - self.q) / t
                self.q = target
            self.servo_target = target
            self.servo_active = True
        return True

    def servo_stop(self, a: float) -> bool:
        with self.lock:
            self.record("servoStop", a)
            if not self.program_running:
                return False
            self.servo_active = False
            if self.kinematic:
                self.qd = np.zeros(N_JOINTS)
        return True

    def speed_stop(self, a: float) -> bool:
        self.record("speedStop", a)
        return True

    def move_j(self, q, speed: float, acceleration: float, asynchronous: bool) -> bool:
        with self.lock:
            self.record("moveJ", list(q), speed, acceleration, asynchronous)
            if self.servo_active:
                raise RuntimeError("moveJ while in servo mode: call servoStop first")
            if self.protective_stopped or self.emergency_stopped:
                return False
            self.servo_target = np.array(q, dtype=float)
            if self.kinematic:
                self.q = self.servo_target.copy()
        return True

    def teach_mode(self, on: bool) -> bool:
        with self.lock:
            self.record("teachMode" if on else "endTeachMode")
            self.require_script("teachMode" if on else "endTeachMode")
            if on and self.servo_active:
                raise RuntimeError("teachMode while in servo mode: call servoStop first")
            if on and (self.protective_stopped or self.emergency_stopped):
                return False
            self.teach = on
            if not on:
                self.servo_target = None  # hold where the hand left the arm
        return True

    def reupload_script(self) -> bool:
        with self.lock:
            self.record("reuploadScript")
            self.check_watchdog()
            if self.program_running:
                return True  # "only if a script is not already running"
            if self.protective_stopped or self.emergency_stopped or self.robot_mode != ROBOT_RUNNING:
                return False  # a program can not start while the arm is stopped
            self.program_running = True
            self.uploads += 1
        return True

    def stop_script(self) -> None:
        self.record("stopScript")
        self.stop_program("stopScript")

    def status(self) -> dict:
        """Everything RTDE's output recipe carries that the receive interface reads, at one instant."""
        with self.lock:
            self.check_watchdog()
            return {"q": self.q.tolist(), "qd": self.qd.tolist(), "timestamp": self.timestamp(),
                    "safety_mode": int(self.safety_mode), "robot_mode": int(self.robot_mode),
                    "runtime_state": self.runtime_state, "protective_stopped": self.protective_stopped,
                    "emergency_stopped": self.emergency_stopped, "teach": self.teach,
                    "step_time": self.step_time}
