"""Fake ur_rtde interfaces with the library's exact method signatures (checked against the
installed pybind docstrings in test_ur_rtde.py), in-process, over the package's UR controller
(postbc_ros.sim.wire.rtde_controller.URController: the same controller the wire-level twin serves
on a socket to rtde_client's look-alikes). They behave like a UR controller would:

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
import time

import numpy as np

from postbc_ros.sim.wire.rtde_client import TwinRTDEControlInterface, TwinRTDEReceiveInterface  # noqa: F401 - re-exported
from postbc_ros.sim.wire.rtde_controller import (  # noqa: F401 - re-exported for the tests
    CB3_STEP_S, E_SERIES_STEP_S, ROBOT_RUNNING, RUNTIME_PLAYING, RUNTIME_STOPPED, SAFETY_NORMAL, SAFETY_PROTECTIVE,
    SAFETY_ROBOT_ESTOP, URController, check_q, check_servo_args,
)


class FakeController(URController):
    """One fake UR (URController, kinematic: the arm is its last servoJ target) plus what the tests
    inject: the network, rejected servoJ, failing / frozen reads, an obstruction; every call kept."""

    def __init__(self, q0, max_jump: float = 0.2, step_time: float = E_SERIES_STEP_S) -> None:
        super().__init__(q0, max_jump=max_jump, step_time=step_time, kinematic=True)
        self.network_up = True
        self.link_epoch = 0  # bumped by drop_network: links made before it stay down until reconnect()
        self.reject_servo = 0
        self.fail_reads = 0
        self.freeze_reads = False  # the receive link stays up but its values stop changing
        self.blocked = False  # servoJ is accepted but the arm does not follow (an obstruction); encoders still jitter
        self.calls: list[tuple] = []  # every call but the per-cycle pacing / watchdog / getters
        self.servo_targets: list[tuple[float, np.ndarray]] = []  # (monotonic time, q) of accepted servoJ

    def servo_j(self, q, speed, acceleration, t, lookahead_time, gain) -> bool:
        with self.lock:
            if self.reject_servo > 0 or self.blocked:
                self.record("servoJ", list(q), speed, acceleration, t, lookahead_time, gain)
                self.require_script("servoJ")
                if self.protective_stopped or self.emergency_stopped:
                    return False
                if self.reject_servo > 0:
                    self.reject_servo -= 1
                    return False
                self.q = self.q + np.random.default_rng().normal(0.0, 1e-6, 6)  # encoder noise, no motion
                return True
            ok = super().servo_j(q, speed, acceleration, t, lookahead_time, gain)
            if ok:
                self.servo_targets.append((time.monotonic(), self.q.copy()))
            return ok

    def drop_network(self) -> None:
        with self.lock:
            self.network_up = False
            self.link_epoch += 1

    def restore_network(self) -> None:
        with self.lock:
            self.network_up = True


CONTROLLERS: dict[str, FakeController] = {}


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
        c.upload_script()  # the constructor uploads the control script

    def _link(self) -> bool:
        return self._connected and self.c.network_up and self._epoch == self.c.link_epoch

    def _require_link(self, what: str) -> None:
        self.c.check_watchdog()
        if not self._link():
            raise RuntimeError(f"{what}: RTDE control interface is not connected")

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
        if not self._link():
            self.c.record("setWatchdog", min_frequency)
            return False
        return self.c.set_watchdog(min_frequency)

    def kickWatchdog(self) -> bool:
        self.c.check_watchdog()
        return self._link() and self.c.kick_watchdog()

    # -- motion ------------------------------------------------------------------------------
    def servoJ(self, arg0: list, arg1: float, arg2: float, arg3: float, arg4: float, arg5: float) -> bool:
        q = check_q(arg0, "servoJ")
        check_servo_args(arg1, arg2, arg3, arg4, arg5)
        self._require_link("servoJ")
        with self.c.lock:
            assert not self.c.teach, "servoJ in teach mode (the controller does not follow trajectories): endTeachMode first"
            return self.c.servo_j(q, arg1, arg2, arg3, arg4, arg5)

    def servoStop(self, a: float = 10.0) -> bool:
        assert isinstance(a, float) and a > 0
        if not self._link():
            self.c.record("servoStop", a)
            return False
        return self.c.servo_stop(a)

    def speedStop(self, a: float = 10.0) -> bool:
        return self.c.speed_stop(a)

    def moveJ(self, q: list, speed: float = 1.05, acceleration: float = 1.4, asynchronous: bool = False) -> bool:
        check_q(q, "moveJ")
        assert 0 < speed <= 3.14 and 0 < acceleration <= 40.0
        return self.c.move_j(q, speed, acceleration, asynchronous)

    def teachMode(self) -> bool:
        self._require_link("teachMode")
        return self.c.teach_mode(True)

    def endTeachMode(self) -> bool:
        self._require_link("endTeachMode")
        return self.c.teach_mode(False)

    # -- script and link ---------------------------------------------------------------------
    def isProgramRunning(self) -> bool:
        self.c.check_watchdog()
        return self._link() and self.c.program_running

    def reuploadScript(self) -> bool:
        if not self._link():
            self.c.record("reuploadScript")
            raise RuntimeError("reuploadScript: RTDE control interface is not connected")
        return self.c.reupload_script()

    def stopScript(self) -> None:
        if self._link():
            self.c.stop_script()
        else:
            self.c.record("stopScript")

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
