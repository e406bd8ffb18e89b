"""The UR servo loop: one thread that owns both RTDE interfaces and runs at the robot's step rate.

Each cycle (paced with the control interface's `initPeriod` / `waitPeriod`, like ur_rtde's own
examples and Diffusion Policy's RTDE controller): read the measured joints and the controller's
safety mode, robot mode, runtime state and protective / emergency stop flags; latch a fault if any
of them forbids motion; otherwise send `servoJ` with the interpolated setpoint
(`ur_interpolator.JointInterpolator`) and kick the RTDE watchdog. Callers (arm_node's thread)
never touch RTDE: `submit` schedules a setpoint, `hold` asks for `servoStop`, `snapshot` returns
the last reading -- so no RTDE object is used from two threads.

Where it runs: for the real library and the wire-level twin, in a process of its own with both
RTDE interfaces (ur_servo_proc.ServoProcess, Diffusion Policy's design; its child runs this
class's thread). As a thread of arm_node it shared arm_node's GIL: ur_rtde's pybind11 calls
release the GIL, but each cycle's Python work needs it back, and in the UR wire twin collect graph
the thread waited 30-60 ms for it while arm_node's executor threads ran, on top of late twin
answers -- gaps of 130-210 ms, past the RTDE watchdog, in about half the runs. Test doubles over a
controller in the test's own process (tests/drivers/fake_rtde.py) still run it as a thread there.

A fault is latched (streaming stops, `servoStop` is sent once) and stays until `clear_fault`,
which only the operator-confirmed reconnect calls. Nothing in a cycle can end the thread: an
unexpected exception becomes a `servo_loop_error` fault and the loop keeps monitoring.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

import numpy as np

from postbc_ros.drivers.arm.base import ArmFault
from postbc_ros.drivers.arm.ur_interpolator import JointInterpolator
from postbc_ros.drivers.arm.ur_status import CONFIRM, URStatus, fault_of

LOG = logging.getLogger("postbc_ros.drivers.arm.ur_rtde")

MAX_READ_ERRORS = 5  # consecutive cycles whose RTDE reads raised before that is a fault (10 ms at 500 Hz)
JOIN_TIMEOUT_S = 2.0  # longest wait for the servo thread to finish its cycle and stop
LINK_FAULTS = ("disconnected", "read_error", "servo_loop_error", "frozen_state")  # no fresh measurement while latched
FOLLOWING_ERROR_RAD = 0.2  # commanded vs measured, any joint: servoJ's lookahead lag at the safety filter's speeds is < 0.15 rad
FROZEN_CYCLES = 50  # bit-identical readings for this many cycles (100 ms at 500 Hz) ...
FROZEN_MOTION_RAD = 0.005  # ... while the command moved more than this: the measurement is frozen, not the arm
LIMIT_MARGIN_RAD = 0.01  # measured position this far outside the joint limits is a fault (encoder glitch, wrong arm)


def read_status(ctrl, recv) -> URStatus:
    """Both links' state and the controller's modes (receive getters only while it is up)."""
    cc, rc = bool(ctrl.isConnected()), bool(recv.isConnected())
    if not rc:
        return URStatus(-1, -1, -1, False, False, cc, rc)
    return URStatus(int(recv.getSafetyMode()), int(recv.getRobotMode()), int(recv.getRuntimeState()),
                    bool(recv.isProtectiveStopped()), bool(recv.isEmergencyStopped()), cc, rc)


class ServoLoop:
    """Servo thread for one connected UR. `period`: the robot's step time (s); `arm_period`: how
    long each submitted setpoint takes to reach (arm_node's control period)."""

    def __init__(self, ctrl, recv, period: float, arm_period: float, lookahead_time: float, gain: float,
                 stop_deceleration: float, max_speed, cycle_log: int = 0, lower=None, upper=None,
                 following_error: float = FOLLOWING_ERROR_RAD) -> None:
        self.ctrl, self.recv = ctrl, recv
        self.period, self.arm_period = float(period), float(arm_period)
        self.lookahead_time, self.gain = float(lookahead_time), float(gain)
        self.stop_deceleration = float(stop_deceleration)
        self.max_speed = np.asarray(max_speed, dtype=float)
        self.lower = None if lower is None else np.asarray(lower, dtype=float) - LIMIT_MARGIN_RAD
        self.upper = None if upper is None else np.asarray(upper, dtype=float) + LIMIT_MARGIN_RAD
        self.following_error = float(following_error)
        self._same_reads = 0  # consecutive bit-identical readings
        self._cmd_at_freeze: np.ndarray | None = None  # command when the readings stopped changing
        self._last_cmd: np.ndarray | None = None  # last servoJ target
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._fault: ArmFault | None = None
        self._streaming = False  # a setpoint is being followed (set by submit, cleared by hold/fault)
        self._stop_pending = False  # hold() asked for servoStop
        self._servoing = False  # servoJ was sent since the last servoStop (servo thread only)
        self._read_errors = 0
        self._interp: JointInterpolator | None = None
        self._q = self._qd = None
        self._stamp = -np.inf
        self.status: URStatus | None = None
        self.controller_time = 0.0  # getTimestamp(): controller seconds since its start
        self.cycles = self.servoj_sent = self.overruns = 0
        self.cycle_log: deque[float] = deque(maxlen=cycle_log) if cycle_log else deque(maxlen=1)

    # -- lifecycle (caller thread) -----------------------------------------------------------
    def start(self, q, qd=None) -> None:
        """Start the thread holding `q` (the measured position); no servoJ until `submit`."""
        with self._lock:
            self._q = np.asarray(q, dtype=float)
            self._qd = np.zeros_like(self._q) if qd is None else np.asarray(qd, dtype=float)
            self._stamp = time.monotonic()
            self._interp = JointInterpolator(self._stamp, self._q)
            self._streaming = self._stop_pending = False
        self._running = True
        self._thread = threading.Thread(target=self._run, name="ur-servo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the current cycle, leave servo mode (servoStop) and end the thread."""
        self._running = False
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                LOG.error("ur_rtde: the servo thread did not stop within %.1f s", JOIN_TIMEOUT_S)
            self._thread = None
        self._servo_stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- caller API ------------------------------------------------------------------------------
    @property
    def fault(self) -> ArmFault | None:
        return self._fault

    def submit(self, q) -> ArmFault | None:
        """Follow setpoint `q` (reached one arm period from now). While a fault is latched the
        setpoint is dropped and the fault returned."""
        now = time.monotonic()
        with self._lock:
            if self._fault is not None:
                return self._fault
            if not self._streaming:  # (re)start from the measured position: no jump after a stop
                self._interp.reset(now, self._q)
                self._streaming = True
                self._stop_pending = False
            self._interp.drive_to(q, now, self.arm_period, self.max_speed)
        return None

    def hold(self) -> None:
        """Stop following setpoints; the thread sends servoStop on its next cycle."""
        with self._lock:
            if self._streaming:
                self._streaming = False
                self._stop_pending = True

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(q, qd, monotonic time of the reading) of the last successful read."""
        with self._lock:
            return self._q.copy(), self._qd.copy(), self._stamp

    def latch(self, fault: ArmFault) -> None:
        """Latch `fault` (the first one stays until cleared): streaming stops, the operator is told."""
        with self._lock:
            if self._fault is not None:
                return
            self._fault = fault
            self._streaming = False
            self._stop_pending = True
        LOG.error("ur_rtde: streaming halted -- %s", fault)

    def clear_fault(self) -> None:
        """Forget the latched fault (only after the operator-confirmed reconnect succeeded)."""
        self._last_cmd, self._same_reads = None, 0
        with self._lock:
            self._fault = None
            self._streaming = self._stop_pending = False
            self._read_errors = 0

    # -- servo thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while self._running:
            t_start = None
            try:
                t_start = self.ctrl.initPeriod()
            except Exception as e:  # pacing falls back to time.sleep below
                self.latch(ArmFault("servo_loop_error", f"initPeriod failed: {e!r}", "Restart arm_node"))
            t0 = time.monotonic()
            self.cycle_log.append(time.perf_counter())
            try:
                self._cycle(t0)
            except Exception as e:  # never let the thread die silently
                LOG.exception("ur_rtde: servo cycle failed")
                self.latch(ArmFault("servo_loop_error", f"unexpected error in the servo cycle: {e!r}",
                                    "Report the log above; " + CONFIRM))
            self.cycles += 1
            if time.monotonic() - t0 > self.period:
                self.overruns += 1
            try:
                if t_start is None:
                    raise RuntimeError("no period start")
                self.ctrl.waitPeriod(t_start)
            except Exception:
                time.sleep(max(0.0, self.period - (time.monotonic() - t0)))

    def _read(self, now: float) -> URStatus | None:
        try:
            st = read_status(self.ctrl, self.recv)
            if st.receive_connected:
                q = np.asarray(self.recv.getActualQ(), dtype=float)
                qd = np.asarray(self.recv.getActualQd(), dtype=float)
                ts = float(self.recv.getTimestamp())
                if q.shape != self._q.shape or qd.shape != self._q.shape or not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd))):
                    raise ValueError(f"malformed joint reading q={q.tolist()} qd={qd.tolist()}")
                self._check_measurement(q)
                with self._lock:
                    self._q, self._qd, self._stamp = q, qd, now
                self.controller_time = ts
        except Exception as e:
            self._read_errors += 1
            if self._read_errors >= MAX_READ_ERRORS:
                self.latch(ArmFault("read_error", f"{self._read_errors} consecutive RTDE reads failed, last: {e!r}",
                                    "Check the network and the controller's log, " + CONFIRM))
            return None
        self._read_errors = 0
        self.status = st
        return st

    def _check_measurement(self, q: np.ndarray) -> None:
        """Outside the joint limits, frozen while commanded to move, or too far from the command:
        each a fault the operator has to look at (never "recovered" from)."""
        if self.lower is not None and (np.any(q < self.lower) or np.any(q > self.upper)):
            j = int(np.argmax(np.maximum(self.lower - q, q - self.upper)))
            self.latch(ArmFault("state_out_of_limits", f"measured joint {j} at {q[j]:.4f} rad is outside its limits "
                                f"[{self.lower[j] + LIMIT_MARGIN_RAD:.4f}, {self.upper[j] - LIMIT_MARGIN_RAD:.4f}]",
                                "Check the arm and its reported state on the teach pendant (a glitch, the wrong robot?), "
                                "move it inside the limits there, " + CONFIRM))
        if self._q is not None and np.array_equal(q, self._q) and self._last_cmd is not None:
            if self._same_reads == 0:
                self._cmd_at_freeze = self._last_cmd.copy()
            self._same_reads += 1
            if (self._same_reads >= FROZEN_CYCLES and self._streaming
                    and float(np.max(np.abs(self._last_cmd - self._cmd_at_freeze))) > FROZEN_MOTION_RAD):
                self.latch(ArmFault("frozen_state", f"the measured joints did not change for {self._same_reads} cycles "
                                    "while the command moved", "Check the controller and the RTDE link, " + CONFIRM))
        else:
            self._same_reads = 0
        if self._streaming and self._last_cmd is not None:
            err = float(np.max(np.abs(self._last_cmd - q)))
            if err > self.following_error:
                self.latch(ArmFault("following_error", f"the arm is {err:.3f} rad from its command (bound "
                                    f"{self.following_error} rad): blocked, collided or not following",
                                    "Check the cell for an obstruction, " + CONFIRM))

    def _cycle(self, now: float) -> None:
        st = self._read(now)
        if st is not None:
            f = fault_of(st)
            if f is not None:
                self.latch(f)
        with self._lock:
            stop = self._stop_pending
            self._stop_pending = False
            q_cmd = self._interp(now) if (self._streaming and self._fault is None) else None
        if stop:
            self._servo_stop()
        if q_cmd is not None and st is not None:  # never stream on a cycle whose state was not read
            self._servo(q_cmd)
        if st is not None and st.control_connected:
            try:
                self.ctrl.kickWatchdog()
            except Exception as e:
                self.latch(ArmFault("disconnected", f"kickWatchdog failed: {e!r}", "Check the network, " + CONFIRM))

    def _servo(self, q_cmd: np.ndarray) -> None:
        err = None
        try:
            ok = self.ctrl.servoJ([float(x) for x in q_cmd], 0.0, 0.0, self.period, self.lookahead_time, self.gain)
        except Exception as e:  # ur_rtde raises when its control script is not running
            ok, err = False, e
        if ok:
            self._last_cmd = q_cmd
            self._servoing = True
            self.servoj_sent += 1
            return
        cause = self._stop_since_read()
        if cause is not None:  # the controller stopped between this cycle's read and its servoJ: report why
            self.latch(cause)
        else:
            why = f"raised {err!r}" if err is not None else "returned False"
            state = self.status.describe() if self.status is not None else "state unknown"
            self.latch(ArmFault("servo_rejected", f"servoJ {why} ({state})",
                                "Look at the teach pendant for the reason (protective stop, program stopped), "
                                "clear it, " + CONFIRM))
        self._servo_stop()

    def _stop_since_read(self) -> ArmFault | None:
        """The fault a fresh status shows (a protective stop, the program stopped, ...), or None."""
        try:
            st = read_status(self.ctrl, self.recv)
        except Exception:  # the rejection itself is then the report
            return None
        self.status = st
        return fault_of(st)

    def _servo_stop(self) -> None:
        self._last_cmd = None  # not following a command any more: no following-error / frozen check
        if not self._servoing:
            return
        self._servoing = False
        try:
            self.ctrl.servoStop(self.stop_deceleration)
        except Exception as e:  # the controller stops a dead link itself; report and go on
            LOG.warning("ur_rtde: servoStop failed: %r", e)
