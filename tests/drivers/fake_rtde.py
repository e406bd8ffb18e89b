"""Fake ur_rtde interfaces with the library's exact method signatures (checked against the
installed pybind docstrings in test_ur_rtde.py). They behave like a UR controller would:

- arguments are type- and range-checked the way the robot rejects them; servoJ targets move a
  simulated joint state and are recorded with their time; a target too far from the current
  position triggers a protective stop (servoJ returns False from then on);
- `initPeriod` / `waitPeriod` pace a loop to the controller's period (they really sleep);
- the controller's safety mode, robot mode, runtime state and stop flags (RTDE codes) can be
  injected: `protective_stop()`, `emergency_stop()`, `clear_stops()` (the operator on the pendant);
- `drop_network()` / `restore_network()`: both links report isConnected() False and keep
  returning the last (frozen) values, like ur_rtde's receive cache, until `reconnect()`;
- the RTDE watchdog: once `setWatchdog(f)` armed it, a gap of more than 1/f s between kicks stops
  the control script (runtime state STOPPED); `reuploadScript()` restarts it unless a stop is active;
- `reject_servo` / `fail_reads`: the next n servoJ calls return False / receive reads raise;
  `freeze_reads`: the receive link stays up but returns the same joint values; `blocked`: servoJ
  is accepted but the arm does not move (an obstruction);
- `q` can be set directly (an encoder glitch, an arm pushed away from its command).
"""
from __future__ import annotations

import datetime
import math
import threading
import time

import numpy as np

SAFETY_NORMAL, SAFETY_PROTECTIVE, SAFETY_ROBOT_ESTOP = 1, 3, 7  # RTDE safety_mode codes
ROBOT_RUNNING = 7  # RTDE robot_mode
RUNTIME_STOPPED, RUNTIME_PLAYING = 1, 2  # RTDE runtime_state
E_SERIES_STEP_S, CB3_STEP_S = 0.002, 0.008


class FakeController:
    """Shared robot state for one fake UR (what the real controller box holds)."""

    def __init__(self, q0, max_jump: float = 0.2, step_time: float = E_SERIES_STEP_S) -> None:
        self.lock = threading.RLock()
        self.q = np.array(q0, dtype=float)
        self.qd = np.zeros(6)
        self.max_jump = max_jump
        self.step_time = step_time
        self.t_boot = time.monotonic()
        self.safety_mode = SAFETY_NORMAL
        self.robot_mode = ROBOT_RUNNING
        self.program_running = True
        self.remote_control = True
        self.network_up = True
        self.link_epoch = 0  # bumped by drop_network: links made before it stay down until reconnect()
        self.watchdog_hz: float | None = None
        self.last_kick = time.monotonic()
        self.kicks = 0
        self.reject_servo = 0
        self.fail_reads = 0
        self.freeze_reads = False  # the receive link stays up but its values stop changing
        self.blocked = False  # servoJ is accepted but the arm does not follow (an obstruction); encoders still jitter
        self.calls: list[tuple] = []  # every call but the per-cycle pacing / watchdog / getters
        self.servo_targets: list[tuple[float, np.ndarray]] = []  # (monotonic time, q) of accepted servoJ
        self.servo_active = False
        self.teach = False  # teachMode (freedrive): the arm is moved by hand, gravity compensated
        self.uploads = 0

    # -- state the interfaces read ------------------------------------------------------------
    @property
    def protective_stopped(self) -> bool:
        return self.safety_mode == SAFETY_PROTECTIVE

    @property
    def emergency_stopped(self) -> bool:
        return self.safety_mode in (6, SAFETY_ROBOT_ESTOP)

    def check_watchdog(self) -> None:
        with self.lock:
            if (self.program_running and self.watchdog_hz is not None
                    and time.monotonic() - self.last_kick > 1.0 / self.watchdog_hz):
                self.stop_program("watchdog")

    def stop_program(self, why: str) -> None:
        with self.lock:
            self.program_running = False
            self.servo_active = False
            self.qd = np.zeros(6)
            self.watchdog_hz = None  # the script that held the watchdog is gone
            self.calls.append(("program_stopped", why))

    # -- injections (the operator, the cable, the controller) ---------------------------------
    def protective_stop(self) -> None:
        with self.lock:
            self.safety_mode = SAFETY_PROTECTIVE
            self.stop_program("protective stop")

    def emergency_stop(self) -> None:
        with self.lock:
            self.safety_mode = SAFETY_ROBOT_ESTOP
            self.robot_mode = 3  # POWER_OFF: an e-stop cuts arm power
            self.stop_program("emergency stop")

    def clear_stops(self) -> None:
        """What the operator does on the pendant: unlock the stop, power on, release brakes."""
        with self.lock:
            self.safety_mode = SAFETY_NORMAL
            self.robot_mode = ROBOT_RUNNING

    def drop_network(self) -> None:
        with self.lock:
            self.network_up = False
            self.link_epoch += 1

    def restore_network(self) -> None:
        with self.lock:
            self.network_up = True


CONTROLLERS: dict[str, FakeController] = {}


def _check_q(q, what):
    assert isinstance(q, list) and len(q) == 6, f"{what}: q must be a list of 6 floats (pybind list[float]), got {q!r}"
    assert all(isinstance(x, float) and math.isfinite(x) for x in q), f"{what}: q must hold finite Python floats, got {q!r}"


def _controller(hostname: str) -> FakeController:
    if hostname not in CONTROLLERS or not CONTROLLERS[hostname].network_up:
        raise RuntimeError(f"Could not connect to robot at {hostname}")  # what ur_rtde raises
    return CONTROLLERS[hostname]


class FakeRTDEControlInterface:
    def __init__(self, hostname: str, frequency: float = -1.0, flags: int = 1, ur_cap_port: int = 50002, rt_priority: int = 0) -> None:
        self.c = c = _controller(hostname)
        if not c.remote_control:
            raise RuntimeError("ur_rtde: Please enable remote control on the robot!")
        assert isinstance(frequency, float) and isinstance(rt_priority, int)
        # frequency -1: ur_rtde runs at the controller's own rate (500 Hz e-Series, 125 Hz CB3)
        self.period = 1.0 / frequency if frequency > 0 else c.step_time
        self._connected, self._epoch = True, c.link_epoch
        with c.lock:
            if not c.program_running:
                c.program_running = True  # the constructor uploads the control script
                c.uploads += 1

    def _link(self) -> bool:
        return self._connected and self.c.network_up and self._epoch == self.c.link_epoch

    def _require_script(self, what: str) -> None:
        self.c.check_watchdog()
        if not self._link():
            raise RuntimeError(f"{what}: RTDE control interface is not connected")
        if not self.c.program_running:
            raise RuntimeError("RTDE control script is not running!")  # ur_rtde's sendCommand

    # -- pacing ------------------------------------------------------------------------------
    def initPeriod(self) -> datetime.timedelta:
        return datetime.timedelta(microseconds=time.monotonic_ns() // 1000)

    def waitPeriod(self, arg0: datetime.timedelta) -> None:
        assert isinstance(arg0, datetime.timedelta), "waitPeriod takes the timedelta initPeriod returned"
        deadline = arg0.total_seconds() + self.period
        remaining = deadline - time.monotonic_ns() / 1e9
        if remaining > 0:
            time.sleep(remaining)

    def getStepTime(self) -> float:
        return self.c.step_time if self._link() else 0.0  # 0 is ur_rtde's error value

    # -- watchdog ------------------------------------------------------------------------------
    def setWatchdog(self, min_frequency: float = 10.0) -> bool:
        assert isinstance(min_frequency, float) and min_frequency > 0
        self.c.calls.append(("setWatchdog", min_frequency))
        if not self._link():
            return False
        with self.c.lock:
            self.c.watchdog_hz = min_frequency
            self.c.last_kick = time.monotonic()
        return True

    def kickWatchdog(self) -> bool:
        self.c.check_watchdog()
        if not self._link():
            return False
        with self.c.lock:
            self.c.last_kick = time.monotonic()
            self.c.kicks += 1
        return True

    # -- motion ------------------------------------------------------------------------------
    def servoJ(self, arg0: list, arg1: float, arg2: float, arg3: float, arg4: float, arg5: float) -> bool:
        c = self.c
        c.calls.append(("servoJ", arg0, arg1, arg2, arg3, arg4, arg5))
        _check_q(arg0, "servoJ")
        assert all(isinstance(a, float) for a in (arg1, arg2, arg3, arg4, arg5)), "servoJ: speed, acceleration, time, lookahead, gain are floats"
        assert arg3 > 0, "servoJ: time must be > 0"
        assert 0.03 <= arg4 <= 0.2, f"servoJ: lookahead_time {arg4} outside [0.03, 0.2]"
        assert 100 <= arg5 <= 2000, f"servoJ: gain {arg5} outside [100, 2000]"
        self._require_script("servoJ")
        with c.lock:
            assert not c.teach, "servoJ in teach mode (the controller does not follow trajectories): endTeachMode first"
            if c.protective_stopped or c.emergency_stopped:
                return False
            if c.reject_servo > 0:
                c.reject_servo -= 1
                return False
            target = np.array(arg0)
            if c.blocked:
                c.q = c.q + np.random.default_rng().normal(0.0, 1e-6, 6)  # encoder noise, no motion
                return True
            if np.max(np.abs(target - c.q)) > c.max_jump:
                c.protective_stop()  # the controller faults on a jump
                return False
            c.qd = (target - c.q) / arg3
            c.q = target
            c.servo_active = True
            c.servo_targets.append((time.monotonic(), target))
        return True

    def servoStop(self, a: float = 10.0) -> bool:
        assert isinstance(a, float) and a > 0
        self.c.calls.append(("servoStop", a))
        if not (self._link() and self.c.program_running):
            return False
        with self.c.lock:
            self.c.servo_active = False
            self.c.qd = np.zeros(6)
        return True

    def speedStop(self, a: float = 10.0) -> bool:
        self.c.calls.append(("speedStop", a))
        return True

    def moveJ(self, q: list, speed: float = 1.05, acceleration: float = 1.4, asynchronous: bool = False) -> bool:
        self.c.calls.append(("moveJ", q, speed, acceleration, asynchronous))
        _check_q(q, "moveJ")
        assert self.c.servo_active is False, "moveJ while in servo mode: call servoStop first"
        assert 0 < speed <= 3.14 and 0 < acceleration <= 40.0
        if self.c.protective_stopped:
            return False
        self.c.q = np.array(q)
        return True

    def teachMode(self) -> bool:
        self.c.calls.append(("teachMode",))
        self._require_script("teachMode")
        with self.c.lock:
            assert not self.c.servo_active, "teachMode while in servo mode: call servoStop first"
            if self.c.protective_stopped or self.c.emergency_stopped:
                return False
            self.c.teach = True
        return True

    def endTeachMode(self) -> bool:
        self.c.calls.append(("endTeachMode",))
        self._require_script("endTeachMode")
        with self.c.lock:
            self.c.teach = False
        return True

    # -- script and link ---------------------------------------------------------------------
    def isProgramRunning(self) -> bool:
        self.c.check_watchdog()
        return self._link() and self.c.program_running

    def reuploadScript(self) -> bool:
        self.c.calls.append(("reuploadScript",))
        if not self._link():
            raise RuntimeError("reuploadScript: RTDE control interface is not connected")
        with self.c.lock:
            if self.c.program_running:
                return True  # "only if a script is not already running"
            if self.c.protective_stopped or self.c.emergency_stopped or self.c.robot_mode != ROBOT_RUNNING:
                return False  # a program can not start while the arm is stopped
            self.c.program_running = True
            self.c.uploads += 1
        return True

    def stopScript(self) -> None:
        self.c.calls.append(("stopScript",))
        if self._link():
            self.c.stop_program("stopScript")

    def isConnected(self) -> bool:
        return self._link()

    def reconnect(self) -> bool:
        self.c.calls.append(("reconnect_control",))
        if not self.c.network_up:
            raise RuntimeError("Could not connect to robot")  # ur_rtde's connect() failure
        self._connected, self._epoch = True, self.c.link_epoch
        return True

    def disconnect(self) -> None:
        self.c.calls.append(("disconnect_control",))
        self._connected = False


class FakeRTDEReceiveInterface:
    def __init__(self, hostname: str, frequency: float = -1.0, variables: list = [], verbose: bool = False,  # noqa: B006 - mirrors the library
                 use_upper_range_registers: bool = False, rt_priority: int = 0) -> None:
        self.c = _controller(hostname)
        self._connected, self._epoch = True, self.c.link_epoch
        self._cache = (self.c.q.copy(), self.c.qd.copy())

    def _link(self) -> bool:
        return self._connected and self.c.network_up and self._epoch == self.c.link_epoch

    def _values(self):
        """Fresh values while the link is up; the last received (frozen) ones otherwise."""
        c = self.c
        with c.lock:
            if c.fail_reads > 0:
                c.fail_reads -= 1
                raise RuntimeError("RTDE receive: failed to read data package")
            if self._link() and not c.freeze_reads:
                self._cache = (c.q.copy(), c.qd.copy())
        return self._cache

    def getActualQ(self) -> list:
        return [float(x) for x in self._values()[0]]

    def getActualQd(self) -> list:
        return [float(x) for x in self._values()[1]]

    def getTimestamp(self) -> float:
        return time.monotonic() - self.c.t_boot

    def getSafetyMode(self) -> int:
        return int(self.c.safety_mode)

    def getRobotMode(self) -> int:
        return int(self.c.robot_mode)

    def getRuntimeState(self) -> int:
        self.c.check_watchdog()
        return RUNTIME_PLAYING if self.c.program_running else RUNTIME_STOPPED

    def isProtectiveStopped(self) -> bool:
        return self.c.protective_stopped

    def isEmergencyStopped(self) -> bool:
        return self.c.emergency_stopped

    def isConnected(self) -> bool:
        return self._link()

    def reconnect(self) -> bool:
        self.c.calls.append(("reconnect_receive",))
        if not self.c.network_up:
            raise RuntimeError("Could not connect to robot")
        self._connected, self._epoch = True, self.c.link_epoch
        return True

    def disconnect(self) -> None:
        self.c.calls.append(("disconnect_receive",))
        self._connected = False
