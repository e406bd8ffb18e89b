"""arm_node without ROS: an `ArmController` whose decisions are executed on an arm backend.

`ArmLoop` owns the backend (anything with the drivers' ArmInterface surface: name, connect(),
disconnect(), read_state() -> state with q, dq, gripper; send(q, gripper); hold()) and the one
lock under which commands, control periods, services and lifecycle changes run. arm_node
converts messages and calls `command`, `heartbeat`, `control`, `activate`, `enable`, `stop`,
`operator_reset`, `home`, `close`; the interventions of every decision go to the `report` callback
(the node publishes arm/safety) and `status_due` says when arm/status is to be published (on every
change, and every STATUS_PERIOD_S). Nothing from outside raises out of here: a command before the
first joint state, or one that cannot be used, is dropped and counted (arm/status "dropped"), a
failing backend call is logged. arm/home succeeds once every joint is within HOME_TOLERANCE of
home, and fails after `home_deadline(planned duration)`; `close` always holds the arm first.
"""
from __future__ import annotations

import gc
import threading
import time
from typing import Callable, Sequence

import numpy as np

from postbc_ros.core.arm_controller import LATCHED_REFUSAL, RESET_HINT, ArmController, Decision

CONTROL_STALL_S = 1.0  # s without a control period (wall time) that is a fault (a loaded 2-core VM deschedules a
# healthy process for 0.5-0.6 s; during a stall nothing is sent anyway, the latch keeps it from resuming unseen)
# ... on a simulator's /clock, which stops while the twin resets its scene (measured 0.58 s at startup):
SIM_CLOCK_STALL_S = 5.0
HOME_TOLERANCE = 0.02  # rad: arm/home succeeds once every joint is this close to home
HOME_DEADLINE_FACTOR = 3.0  # arm/home fails after this many times the planned move's duration ...
HOME_DEADLINE_MARGIN_S = 5.0  # ... plus this margin (s)
HOME_POLL_S = 0.05  # s between position checks while homing
STATUS_PERIOD_S = 1.0  # arm/status is published at least this often (and on every change)


def stall_bound(configured: float, sim_clock: bool) -> float:
    """Seconds without a control period that latch the arm: `configured`, or (0) the default for the clock."""
    return float(configured) if configured > 0 else (SIM_CLOCK_STALL_S if sim_clock else CONTROL_STALL_S)


def home_deadline(duration: float) -> float:
    """Seconds arm/home waits for a move planned to take `duration` s."""
    return duration * HOME_DEADLINE_FACTOR + HOME_DEADLINE_MARGIN_S


class ArmLoop:
    def __init__(self, controller: ArmController, home_q, report: Callable[[Decision], None], logger,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 stall_after: float = CONTROL_STALL_S):
        self.ctl = controller
        self.home_q = np.asarray(home_q, dtype=float)
        self._report = report
        self._log = logger  # .info / .warning / .error (an rclpy or a logging logger)
        self._clock, self._sleep = clock, sleep  # wall time for the arm/home wait
        self.lock = threading.RLock()
        self.backend = None
        self._logged: set[str] = set()  # problems already logged (once per kind)
        self._status_key = None
        self._last_control = np.inf  # wall time of the last control period (inf: none yet)
        self.stall_after = float(stall_after)
        self._status_at = -np.inf

    def _once(self, key: str, msg: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            self._log.warning(msg)

    def connect(self, backend) -> None:
        """Connect `backend` and execute decisions on it from now on (nothing on an exception).
        The heap built so far (imports, models) is first frozen out of the garbage collector: a
        full collection of a large heap stalls every thread of the process (measured: 0.9-1.5 s in
        a test process, past the UR's RTDE watchdog and CONTROL_STALL_S); later collections only
        walk what was made since."""
        gc.freeze()
        backend.connect()
        with self.lock:
            self.backend = backend
        self._log.info(f"connected ({backend.name})")

    def measured(self) -> tuple[np.ndarray, np.ndarray | None, float | None, float | None]:
        """(q, dq, gripper, stamp) from the backend; raises what read_state raises."""
        st = self.backend.read_state()
        stamp = getattr(st, "stamp", None)
        return (np.asarray(st.q, float), (None if st.dq is None else np.asarray(st.dq, float)), st.gripper,
                None if stamp is None else float(stamp))

    def _apply(self, d: Decision | None) -> None:
        if d is None or self.backend is None:
            return
        if d.interventions:
            self._report(d)
        try:
            if d.hold:
                self.backend.hold()
                self._log.info(f"holding ({d.reason})")
            if d.command is not None:
                self.backend.send(*self.ctl.split(d.command))
        except Exception as e:  # noqa: BLE001 -- a failing backend shows as a stale state next
            self._log.error(f"backend {'hold' if d.hold else 'send'} failed: {e}")

    def command(self, stamp: float, names: Sequence[str], points: Sequence[Sequence[float]], times: np.ndarray,
                now: float) -> None:
        """A received trajectory; dropped and counted while no backend is connected or it has no state."""
        with self.lock:
            if self.backend is None:
                self.ctl.drop("not_connected" if self.ctl.monitor.have_state else "before_first_state")
                return
            try:
                q, dq, g, _stamp = self.measured()
            except Exception as e:  # noqa: BLE001
                why = ("latched" if self._hardware_fault() else
                       "state_unavailable" if self.ctl.monitor.have_state else "before_first_state")
                self.ctl.drop(why)
                self._once(why, f"command dropped ({why}): {e}")
                return
            try:
                self._apply(self.ctl.trajectory(stamp, names, points, times, now, q, dq, g))
            except Exception as e:  # noqa: BLE001 -- an unusable message never takes the node down
                self.ctl.drop("malformed")
                self._once("malformed", f"command dropped (malformed): {type(e).__name__}: {e}")

    def heartbeat(self, text: str, now: float) -> None:
        """An episode/heartbeat message (std_msgs/String data)."""
        with self.lock:
            problem = self.ctl.heartbeat(text, now)
        if problem:
            self._once("bad_heartbeat", f"heartbeat dropped: {problem}")

    def control(self, clock: Callable[[], float]) -> tuple[float, list[str], np.ndarray] | None:
        """One control period at `clock()` (read once the state is measured). Returns the measured
        joint state (t, joint names (+ gripper when the backend has one), positions), or None when
        no backend is connected or it has no state now."""
        with self.lock:
            self._last_control = self._clock()
            if self.backend is None:
                return None
            try:
                q, dq, g, stamp = self.measured()
            except Exception as e:  # noqa: BLE001
                if not self._hardware_fault():
                    self._apply(self.ctl.unavailable(clock(), e))
                return None
            t = clock()
            if not self._hardware_fault():
                self._apply(self.ctl.step(t, q, dq, g, stamp))
            if g is None:
                return t, list(self.ctl.names), q
            return t, self.ctl.names + [self.ctl.gripper_joint], np.append(q, g)

    def stalled(self) -> None:
        """Called from a wall-clock timer: control periods that stopped coming for longer than
        `stall_after` (the clock they run on stopped -- a hung simulator's /clock -- or the executor
        is starved) are a fault: hold, latch. A stall before the first period is none."""
        with self.lock:
            gap = self._clock() - self._last_control
            if self.backend is not None and self.ctl.active and gap > self.stall_after:
                self._apply(self.ctl.latch("control_stalled", f"no control period for {gap:.2f} s (> "
                                           f"{self.stall_after:g} s): the clock or the state source stopped"))

    def _hardware_fault(self) -> bool:
        """Latch at once on a fault the backend reports (a servo error, a protective stop, a lost
        link: `backend.fault`, see drivers.arm.base); True while one is latched."""
        fault = getattr(self.backend, "fault", None)
        if fault is None:
            return False
        if self.ctl.latched is None:
            self._log.error(f"hardware fault: {fault}")
        self._apply(self.ctl.latch("hardware_fault", f"hardware fault: {fault}"))
        return True

    def activate(self, on: bool) -> None:
        """Lifecycle activate (motion allowed) / deactivate (hold)."""
        with self.lock:
            self._apply(self.ctl.activate(on))
        if on:
            self._log.info("active: motion allowed")

    def enable(self, on: bool) -> tuple[bool, str]:
        """arm/enable: (success, the service's message); refused while latched."""
        with self.lock:
            d = self.ctl.enable(on)
            self._apply(d)
        if d.refused:
            return False, d.refused
        return True, ("enabled" if on else "disabled: holding; call arm/enable true to resume")

    def stop(self) -> str:
        """arm/stop: hold, disable, latch."""
        with self.lock:
            self._apply(self.ctl.stop())
            reason = self.ctl.latched
        return f"stopped: holding, latched ({reason}); {RESET_HINT}, then arm/enable true"

    def operator_reset(self) -> tuple[bool, str]:
        """arm/operator_reset (the operator's `postbc arm reset`): (cleared, the service's message).
        A latched hardware fault is first cleared on the backend (`recover`, confirmed by this call);
        the control periods it held up (a reconnect takes a while) are not a stall."""
        with self.lock:
            try:
                return self._operator_reset()
            finally:
                if np.isfinite(self._last_control):
                    self._last_control = self._clock()

    def _operator_reset(self) -> tuple[bool, str]:
        recover = getattr(self.backend, "recover", None)
        if recover is not None and getattr(self.backend, "fault", None) is not None:
            try:  # the operator's reset is the confirmation a reboot / reconnect needs
                done = recover(confirmed=True)
            except Exception as e:  # noqa: BLE001 -- the latch stays; the answer says why
                msg = f"hardware fault not cleared, still latched: {e}"
                self._log.error(f"operator reset: {msg}")
                return False, msg
            self._log.info(f"operator reset: {done}")
        msg = self.ctl.operator_reset()
        self._log.info(f"operator reset: {msg}")
        return True, msg

    def publish_status(self, now: float, publish: Callable[[dict], None]) -> None:
        """`publish(status)` when one is due, under the loop's lock: the control timer and the wall-clock
        stall check both call this, and an older status published after a newer one would stay the
        last word (seen: arm/status saying 'disabled' for a second after arm/enable)."""
        with self.lock:
            st = self.status_due(now)
            if st is not None:
                publish(st)

    def status_due(self, now: float) -> dict | None:
        """arm/status to publish now (changed, or STATUS_PERIOD_S since the last), else None."""
        with self.lock:
            st = self.ctl.status(now)
        key = {k: v for k, v in st.items() if k != "stamp"}
        if key == self._status_key and now - self._status_at < STATUS_PERIOD_S:
            return None
        self._status_key, self._status_at = key, now
        return st

    def home(self, now: float, speed: float) -> tuple[bool, str]:
        """Move home at `speed` x the velocity limit and wait for it: (reached, message)."""
        with self.lock:
            if self.backend is None or not self.ctl.active:
                return False, "arm not active (configure + activate first)"
            if self.ctl.latched is not None:
                return False, f"{LATCHED_REFUSAL}: {self.ctl.latched}; {RESET_HINT}"
            try:
                q, _dq, g, _stamp = self.measured()
            except Exception as e:  # noqa: BLE001
                return False, f"no measured state: {e}"
            timeout = home_deadline(self.ctl.home(now, q, g, self.home_q, speed))
        deadline = self._clock() + timeout
        while self._clock() < deadline:
            with self.lock:
                if self.ctl.latched is not None:
                    return False, f"{LATCHED_REFUSAL} while homing: {self.ctl.latched}"
                try:
                    q = self.measured()[0]
                except Exception:  # noqa: BLE001 -- the control loop handles a stale state
                    q = None
            if q is not None and np.max(np.abs(q - self.home_q)) < HOME_TOLERANCE:
                return True, "home"
            self._sleep(HOME_POLL_S)
        return False, f"did not reach home within {timeout:.1f} s"

    def close(self) -> None:
        """Hold (always, whatever the arm was doing) and disconnect; a failure is logged: closing must finish."""
        with self.lock:
            if self.backend is None:
                return
            self.ctl.activate(False)
            try:
                self.backend.hold()
                self._log.info("holding (closing)")
            except Exception as e:  # noqa: BLE001
                self._log.warning(f"hold on close: {e}")
            try:
                self.backend.disconnect()
            except Exception as e:  # noqa: BLE001
                self._log.warning(f"disconnect: {e}")
            self.backend = None
