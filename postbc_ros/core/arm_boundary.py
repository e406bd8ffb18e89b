"""The arm node's checks on what the hardware reports (ROS-free, used by core.arm_controller).

A controller that died can keep a joint-state stream going with frozen values, a glitch can report
1e6 rad, a blocked arm lets the commands walk away from the measured position (issue 13). Every
finding here is a fault `Verdict` (core.arm_supervision): the arm holds, disables and latches
until an operator resets it (`postbc arm reset`).

* out of limits: a measured joint beyond its safety limits by more than MEASURED_LIMIT_TOLERANCE_RAD
  (or not finite) -- never "recovered" from by a command;
* frozen: the measured values bit-identical for FROZEN_PERIODS consecutive periods (and at least
  FROZEN_MIN_S) while the setpoint sent asks for motion (more than MOTION_REQUEST_RAD away), or the
  backend's state stamp unchanged for longer than `state_timeout`;
* stale: read_state failing for longer than `state_timeout` after a state had been read (before
  the first state the arm simply has nothing to do);
* following error: |last sent setpoint - measured| beyond `max_following_error` rad on an arm
  joint for longer than `following_error_time` (the gripper may legitimately be blocked by what
  it holds).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from postbc_ros.core.arm_supervision import Verdict
from postbc_ros.core.safety import SafetyLimits

MEASURED_LIMIT_TOLERANCE_RAD = 0.05  # rad a measured joint may sit beyond a limit (servo overshoot, noise)
FROZEN_PERIODS = 10  # consecutive control periods of bit-identical values while commanding motion ...
FROZEN_MIN_S = 0.2  # ... lasting at least this long (s), so a 500 Hz loop does not judge 20 ms
MOTION_REQUEST_RAD = 0.005  # a setpoint this far (rad) from the measured position asks for motion
FROZEN = "measured state frozen: controller not responding"


class StateMonitor:
    """Tracks measured states and sent setpoints; each method answers a fault Verdict or None.
    Thresholds given as callables are read on every use (live node parameters)."""

    def __init__(self, limits: SafetyLimits, state_timeout: Callable[[], float],
                 max_following_error: Callable[[], float], following_error_time: Callable[[], float]):
        self.limits = limits
        self.n = limits.n_joints
        self._state_timeout, self._max_err, self._err_time = state_timeout, max_following_error, following_error_time
        self.have_state = False
        self.last_good: float | None = None  # clock time of the last state read
        self._stamp: float | None = None
        self._stamp_since: float | None = None
        self._prev_q: np.ndarray | None = None
        self._frozen_n, self._frozen_since = 0, None
        self._sent: np.ndarray | None = None  # the setpoint sent last period (arm joints)
        self._err_since: float | None = None

    # ------------------------------------------------------------ every state read
    def measured(self, now: float, q: np.ndarray, stamp: float | None) -> Verdict | None:
        self.have_state, self.last_good = True, now
        q = np.asarray(q, dtype=float)
        lim = self.limits
        if q.shape != (self.n,) or not np.all(np.isfinite(q)):
            return Verdict("invalid_state", f"measured joint state {q.tolist()} is not {self.n} finite values "
                           f"{list(lim.joint_names)}: check the controller / encoders, then postbc arm reset", True)
        out = np.flatnonzero((q < lim.lower - MEASURED_LIMIT_TOLERANCE_RAD) | (q > lim.upper + MEASURED_LIMIT_TOLERANCE_RAD))
        if out.size:
            i = int(out[0])
            return Verdict("measured_out_of_limits",
                           f"joint {lim.joint_names[i]} measured at {q[i]:.4g} rad, outside [{lim.lower[i]:.4g}, "
                           f"{lim.upper[i]:.4g}]: move it back by hand / check calibration, then postbc arm reset", True)
        if stamp is not None:
            if stamp != self._stamp:
                self._stamp, self._stamp_since = stamp, now
            elif now - self._stamp_since > self._state_timeout():
                return Verdict("frozen_state", f"{FROZEN} (state stamp {stamp:.3f} unchanged for "
                               f"{now - self._stamp_since:.2f} s)", True)
        return None

    def unavailable(self, now: float, error: BaseException) -> Verdict | None:
        """read_state raised: a fault once no state came for longer than state_timeout (after the first)."""
        if not self.have_state:
            return None
        age, bound = now - self.last_good, self._state_timeout()
        if age > bound:
            return Verdict("stale_state", f"measured state unavailable for {age:.2f} s (> {bound:g} s): {error}", True)
        return None

    # ------------------------------------------------------------ while commanding
    def motion(self, now: float, q: np.ndarray) -> Verdict | None:
        """Check the setpoint sent last period against the state measured now (call before sending)."""
        q = np.asarray(q, dtype=float)
        prev, self._prev_q = self._prev_q, q.copy()
        if self._sent is None:
            self._frozen_n, self._err_since = 0, None
            return None
        err = np.abs(self._sent - q)
        if prev is not None and np.array_equal(prev, q) and float(err.max()) > MOTION_REQUEST_RAD:
            if self._frozen_n == 0:
                self._frozen_since = now
            self._frozen_n += 1
            if self._frozen_n >= FROZEN_PERIODS and now - self._frozen_since >= FROZEN_MIN_S:
                return Verdict("frozen_state", f"{FROZEN} (joint values unchanged for {self._frozen_n} periods "
                               f"while the setpoint is {err.max():.3g} rad away)", True)
        else:
            self._frozen_n = 0
        i = int(np.argmax(err))
        bound = self._max_err()
        if err[i] > bound:
            if self._err_since is None:
                self._err_since = now
            if now - self._err_since > self._err_time():
                return Verdict("following_error",
                               f"following error on {self.limits.joint_names[i]}: setpoint {self._sent[i]:.4g} rad, "
                               f"measured {q[i]:.4g} rad ({err[i]:.3g} > max_following_error {bound:g} rad for "
                               f"{now - self._err_since:.2f} s): is the arm blocked? Clear it, then postbc arm reset", True)
        else:
            self._err_since = None
        return None

    def sent(self, command: np.ndarray | None) -> None:
        """The setpoint sent this period (None: holding)."""
        self._sent = None if command is None else np.asarray(command, dtype=float)[: self.n].copy()
