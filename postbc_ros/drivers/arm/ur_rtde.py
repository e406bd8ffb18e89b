"""UR arm over RTDE (SDU Robotics' ur_rtde): a servo thread at the robot's step rate, faults
surfaced with what to do, reconnect only after the operator confirms.

The robot must be in **Remote Control** mode (ur_rtde uploads its own control script; the
External Control URCap belongs to Universal Robots' ROS driver and is not used here). `host`
comes from arm_node's `host` parameter or, when that is empty, from ``calibration/ur5e/rtde.yaml``
(`ur_rig.load_ur_rig`); there is no built-in address.

Streaming (`ur_servo.ServoLoop`, run in a process of its own with both RTDE interfaces:
`ur_servo_proc.ServoProcess`, out of arm_node's GIL; injected test doubles keep it a thread of this
process): arm_node's `send(q, gripper)` at its control rate schedules a
setpoint reached one arm period later; the servo thread interpolates and sends servoJ every robot
step (`getStepTime()`: 2 ms e-Series, 8 ms CB3), kicks the RTDE watchdog (`setWatchdog`), and reads
the safety mode, robot mode, runtime state and protective / emergency stop flags every cycle.
A fault (an `ArmFault`: protective_stop, emergency_stop, safeguard_stop, safety_fault,
robot_not_running, program_stopped, disconnected, read_error, servo_rejected, and from the
measurement itself: state_out_of_limits, frozen_state, following_error) halts streaming
with servoStop and is logged once with what to do. Then:
- `send` drops setpoints and returns the fault (it never raises for a hardware fault, so a
  rejected servoJ can not take arm_node down); `fault` holds it;
- `read_state` still returns the measured state while it is fresh (a protective stop keeps the
  receive link up) and raises the fault when there is no fresh measurement (link down, reads
  failing, servo thread stalled): a frozen reading is never reported as current;
- `reconnect(confirmed=True)`, and only that, reconnects the links, re-uploads the control script
  when it is not running, re-arms the watchdog and clears the fault; without confirmation, or
  while the stop is still active on the pendant, it is refused with the reason.

servoJ parameters (ur_rtde docs): `lookahead_time` in [0.03, 0.2] s smooths the trajectory,
`gain` in [100, 2000] is the proportional gain; `time` is the robot step. speed/acceleration are
unused by servoJ but must be passed.

Gripper: a UR has none built in. ``gripper="robotiq"`` drives a Robotiq 2F through the
Robotiq URCap's socket on the same host (`postbc_ros.drivers.arm.robotiq`); with the default
``gripper="none"`` the state reports gripper None and gripper commands are ignored.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmFault, ArmInterface, ArmState
from postbc_ros.drivers.arm.ur_rig import check_host, load_ur_rig
from postbc_ros.drivers.arm.ur_servo import LINK_FAULTS, LOG, ServoLoop, read_status
from postbc_ros.drivers.arm.ur_servo_proc import RemoteServoLoop, ServoProcess
from postbc_ros.drivers.arm.ur_status import fault_of
from postbc_ros.robots.ur5e import NAME as UR5E

WATCHDOG_MIN_HZ = 10.0  # ur_rtde's default: the controller stops the script when no kick came for 100 ms
MAX_STEP_TIME_S = 0.01  # a getStepTime() above this (or 0, ur_rtde's error value) is not a UR controller's
STALE_STEPS = 50  # read_state refuses a measurement older than this many robot steps (100 ms e-Series)
STALE_MIN_S = 0.1  # ... and never less than this (scheduling noise on a loaded workstation)
DEFAULT_ARM_PERIOD_S = 0.05  # time to reach each setpoint when built outside arm_node (its 20 Hz default)
REMOTE_CONTROL_HINT = ("Check the IP, that the robot is powered on and in Remote Control mode (teach pendant: Settings > "
                       "System > Remote Control, then Local/Remote at the top right), and that RTDE (port 30004) and the "
                       "script port 30002 are reachable")
# host naming the wire-level twin's controller socket instead of a robot: twin://<socket path>. Equal to
# sim/wire/rtde_protocol.TWIN_SCHEME (tested), spelled here so that a real arm does not import the sim package
TWIN_HOST_PREFIX = "twin://"
# modules of RTDE interfaces whose state is behind a socket (the library's, the twin's look-alikes): the servo
# process can build its own from their names. Any other class (a test double over a controller in this
# process) keeps the servo loop a thread of this process.
SERVO_PROCESS_MODULES = ("rtde_control", "rtde_receive", "postbc_ros.sim.wire.rtde_client")


def is_twin_host(host: object) -> bool:
    return isinstance(host, str) and host.strip().startswith(TWIN_HOST_PREFIX)


def twin_rtde_classes(host: str):
    """For a `twin://<socket>` host (the wire-level twin, `postbc launch ... wire_twin:=true`): the
    look-alikes of ur_rtde's interfaces, with the library's signatures, that talk to the twin's
    controller over that socket (sim/wire/rtde_client.py)."""
    from postbc_ros.sim.wire.rtde_client import TwinRTDEControlInterface, TwinRTDEReceiveInterface

    LOG.warning("ur_rtde: host %s is the UR twin's controller, not a robot: RTDE calls go to the wire-level twin "
                "(sim/wire/rtde_client.py)", host)
    return TwinRTDEControlInterface, TwinRTDEReceiveInterface


def rtde_classes():
    """ur_rtde's (RTDEControlInterface, RTDEReceiveInterface)."""
    try:
        import rtde_control
        import rtde_receive
    except ImportError as e:  # pragma: no cover - ur_rtde is a declared dependency
        raise ArmError(f"ur_rtde backend needs the ur-rtde package (pip install ur-rtde): {e}") from e
    return rtde_control.RTDEControlInterface, rtde_receive.RTDEReceiveInterface


class URRtdeArm(ArmInterface):
    """UR5e (or any 6-joint UR) through ur_rtde."""

    name = "ur_rtde"

    def __init__(
        self,
        robot: str = UR5E,
        host: str | None = None,
        calibration: str | Path | None = None,
        control_dt: float = DEFAULT_ARM_PERIOD_S,
        lookahead_time: float = 0.1,
        gain: float = 300.0,
        stop_deceleration: float = 2.0,
        watchdog_min_frequency: float | None = None,
        rt_priority: int = 0,
        gripper: str = "none",
        gripper_port: int = 63352,
        control_cls: Any = None,
        receive_cls: Any = None,
        cycle_log: int = 0,
    ) -> None:
        super().__init__(robot)
        if not 0.03 <= float(lookahead_time) <= 0.2:
            raise ArmError(f"ur_rtde: lookahead_time must be in [0.03, 0.2] s (ur_rtde servoJ), got {lookahead_time}")
        if not 100 <= float(gain) <= 2000:
            raise ArmError(f"ur_rtde: gain must be in [100, 2000] (ur_rtde servoJ), got {gain}")
        if not float(control_dt) > 0:
            raise ArmError(f"ur_rtde: control_dt must be > 0 s, got {control_dt}")
        if watchdog_min_frequency is None:
            watchdog_min_frequency = WATCHDOG_MIN_HZ
        if not float(watchdog_min_frequency) > 0:
            raise ArmError(f"ur_rtde: watchdog_min_frequency must be > 0 Hz, got {watchdog_min_frequency}")
        if is_twin_host(host):  # the wire-level twin's controller socket (checked when connecting)
            self.host = host.strip()
        elif host:
            self.host = check_host(host, "ur_rtde parameter")
        else:  # the rig's file (calibration/<rig>/rtde.yaml); refuses a missing / placeholder host with the fix
            from postbc_ros.robots.registry import get_robot

            self.host = load_ur_rig(calibration, get_robot(self.spec.name).rig).host
        self.control_dt = float(control_dt)
        self.lookahead_time = float(lookahead_time)
        self.gain = float(gain)
        self.stop_deceleration = float(stop_deceleration)
        self.watchdog_min_frequency = float(watchdog_min_frequency)
        self.rt_priority = int(rt_priority)
        self._control_cls = control_cls
        self._receive_cls = receive_cls
        self._cycle_log = int(cycle_log)
        self._ctrl = None
        self._recv = None
        self._loop: ServoLoop | RemoteServoLoop | None = None
        self._proc: ServoProcess | None = None  # the servo process (real library, twin); None with injected classes
        self._free = False  # free_drive: the robot is in teach mode
        self.step_time: float | None = None  # the robot's step (s), read at connect
        if gripper not in ("none", "robotiq"):
            raise ArmError(f"ur_rtde: gripper must be 'none' or 'robotiq', got {gripper!r}")
        self._gripper = None
        if gripper == "robotiq":
            from postbc_ros.drivers.arm.robotiq import RobotiqSocketGripper

            self._gripper = RobotiqSocketGripper(self.host, gripper_port)

    # -- lifecycle ---------------------------------------------------------------------------
    def connect(self) -> None:
        ctrl_cls, recv_cls = self._control_cls, self._receive_cls
        if ctrl_cls is None or recv_cls is None:
            # the one switch between a robot and the wire-level twin: the host names the twin's socket
            real_ctrl, real_recv = twin_rtde_classes(self.host) if is_twin_host(self.host) else rtde_classes()
            ctrl_cls, recv_cls = ctrl_cls or real_ctrl, recv_cls or real_recv
        try:  # frequency left at -1: ur_rtde uses the controller's own rate
            if ctrl_cls.__module__ in SERVO_PROCESS_MODULES and recv_cls.__module__ in SERVO_PROCESS_MODULES:
                # both interfaces and the servo loop in a process of their own, out of arm_node's GIL
                self._proc = ServoProcess(ctrl_cls, recv_cls, self.host, self.rt_priority)
                self._ctrl, self._recv = self._proc.control, self._proc.receive
            else:  # test doubles over a controller in this process: the servo loop is a thread here
                self._recv = recv_cls(self.host, rt_priority=self.rt_priority)
                self._ctrl = ctrl_cls(self.host, rt_priority=self.rt_priority)
        except RuntimeError as e:
            self._close_links()
            raise ArmError(f"ur_rtde: cannot connect to the UR controller at {self.host}: {e}. {REMOTE_CONTROL_HINT}.") from e
        try:
            self._start()
        except Exception:
            self._close_links()
            raise
        if self._gripper is not None:
            try:
                self._gripper.connect()
            except ArmError:
                self.disconnect()  # leave nothing half-connected
                raise

    def _start(self) -> None:
        """Check the robot is ready, arm the watchdog and start the servo thread."""
        self._free = False
        step = float(self._ctrl.getStepTime())
        if not 0 < step <= MAX_STEP_TIME_S:
            raise ArmError(f"ur_rtde: the controller reports a step time of {step} s (expected 0.002 e-Series or 0.008 "
                           f"CB3; 0 means the request failed). {REMOTE_CONTROL_HINT}.")
        self.step_time = step
        fault = fault_of(read_status(self._ctrl, self._recv))
        if fault is not None:
            raise ArmError(f"ur_rtde: the robot at {self.host} is not ready: {fault}")
        q = np.asarray(self._recv.getActualQ(), dtype=float)
        if q.shape != (len(self.joint_names),):
            raise ArmError(f"ur_rtde: controller reports {q.size} joints, expected {len(self.joint_names)}")
        if not self._ctrl.setWatchdog(self.watchdog_min_frequency):
            raise ArmError(f"ur_rtde: the controller refused setWatchdog({self.watchdog_min_frequency}). {REMOTE_CONTROL_HINT}.")
        args = (step, self.control_dt, self.lookahead_time, self.gain, self.stop_deceleration, self.spec.velocity_limits,
                self._cycle_log)
        limits = dict(lower=self.spec.lower, upper=self.spec.upper)
        self._loop = (self._proc.servo_loop(*args, **limits) if self._proc is not None
                      else ServoLoop(self._ctrl, self._recv, *args, **limits))
        self._loop.start(q, self._recv.getActualQd())

    def _close_links(self) -> None:
        for link in (self._ctrl, self._recv):
            if link is not None:
                try:
                    link.disconnect()
                except Exception as e:
                    LOG.warning("ur_rtde: disconnect failed: %r", e)
        self._ctrl = self._recv = None
        if self._proc is not None:
            self._proc.close()
            self._proc = None

    def disconnect(self) -> None:
        """Stop the servo thread (servoStop), stop the control script, close both links."""
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._ctrl is not None:
            try:
                if self._free:  # the script's end ends teach mode too; say so explicitly first
                    self._free = not self._ctrl.endTeachMode()
                self._ctrl.stopScript()
            except Exception as e:  # a dead link has no script to stop; closing must finish
                LOG.warning("ur_rtde: stopScript failed: %r", e)
        self._close_links()
        if self._gripper is not None:
            self._gripper.close()

    def is_connected(self) -> bool:
        """Both RTDE links up (as the servo thread last saw them) and no link fault latched."""
        loop = self._loop
        if loop is None or not loop.alive:
            return False
        f, st = loop.fault, loop.status
        return not (f is not None and f.kind in LINK_FAULTS) and (st is None or (st.control_connected and st.receive_connected))

    def _require_connected(self) -> None:
        if self._loop is None:
            raise ArmError(f"{self.name}: not connected; call connect() first")

    # -- faults --------------------------------------------------------------------------------
    @property
    def fault(self) -> ArmFault | None:
        """The latched fault (streaming halted until `reconnect(confirmed=True)`), or None."""
        return None if self._loop is None else self._loop.fault

    @property
    def servo_rate(self) -> float | None:
        """Servo loop rate (Hz): the robot's own, 500 e-Series / 125 CB3."""
        return None if self.step_time is None else 1.0 / self.step_time

    def recover(self, confirmed: bool = False) -> str:
        """The operator's reset (arm_node's arm/operator_reset): `reconnect`."""
        return self.reconnect(confirmed) if self.fault is not None else "no hardware fault to clear"

    def reconnect(self, confirmed: bool = False) -> str:
        """After the operator cleared the cause (pendant) and confirmed: reconnect lost links,
        re-upload the control script when it is not running, re-arm the watchdog, clear the fault.
        Refused (ArmError, nothing done) without `confirmed` or while the robot is still stopped."""
        self._require_connected()
        fault = self._loop.fault
        if not confirmed:
            what = f"the fault: {fault}" if fault is not None else "no fault is latched"
            raise ArmError(f"ur_rtde: reconnect refused: it needs the operator's confirmation (reconnect(confirmed=True)) "
                           f"after checking the cell; {what}")
        self._loop.stop()  # nothing touches RTDE from here until the thread restarts
        try:
            for link, which in ((self._recv, "receive"), (self._ctrl, "control")):
                if not link.isConnected():
                    try:
                        ok = link.reconnect()
                    except RuntimeError as e:
                        ok = False
                        LOG.warning("ur_rtde: %s reconnect: %r", which, e)
                    if not ok:
                        raise ArmError(f"ur_rtde: cannot reconnect the RTDE {which} link to {self.host}; {REMOTE_CONTROL_HINT}, "
                                       "then confirm the reconnect again")
            st = read_status(self._ctrl, self._recv)
            blocking = fault_of(st)
            if blocking is not None and blocking.kind != "program_stopped":
                raise ArmError(f"ur_rtde: reconnect refused, the robot is still stopped: {blocking}")
            if not self._ctrl.isProgramRunning():
                if not self._ctrl.reuploadScript():
                    raise ArmError("ur_rtde: the controller refused the control script re-upload; check Remote Control mode "
                                   "and the pendant's log, then confirm the reconnect again")
            if not self._ctrl.setWatchdog(self.watchdog_min_frequency):
                raise ArmError(f"ur_rtde: the controller refused setWatchdog({self.watchdog_min_frequency}) after reconnecting")
            blocking = fault_of(read_status(self._ctrl, self._recv))
            if blocking is not None:
                raise ArmError(f"ur_rtde: reconnect did not make the robot ready: {blocking}")
            self._loop.clear_fault()
            q = self._recv.getActualQ()
            self._ctrl.kickWatchdog()  # the armed watchdog's clock starts now, not at the thread's first cycle
        finally:
            if self._loop.fault is not None:  # refused: keep monitoring from the last known position
                q = self._loop.snapshot()[0]
            self._loop.start(q)
        LOG.warning("ur_rtde: reconnected to %s after the operator's confirmation (was: %s)", self.host, fault)
        return f"reconnected to {self.host}" + (f"; cleared {fault.kind}" if fault is not None else "")

    # -- moving by hand ------------------------------------------------------------------------
    can_free_drive = True
    free_drive_hazard = "teach mode: it can be pushed anywhere by hand, clear the cell around it"

    def free_drive(self, on: bool, confirmed: bool = False) -> str:
        """on (after the operator `confirmed`): leave servo mode and put the robot in teach mode
        (freedrive: gravity compensated, moved by hand; setpoints are refused meanwhile). off: end
        teach mode; the servo thread holds where the arm now is until the next setpoint. The servo
        thread pauses for the switch (ur_rtde's interfaces are driven from one thread at a time)."""
        self._require_connected()
        if self.fault is not None:
            raise self.fault
        if on and not confirmed:
            raise ArmError("ur_rtde: free drive refused without the operator's confirmation: the arm can then be moved "
                           "by hand (teach mode). Clear the cell around it, then call free_drive(True, confirmed=True).")
        if on == self._free:
            return "already in free drive" if on else "not in free drive: the arm holds"
        self._loop.stop()  # servoStop; nothing touches RTDE from here until the thread restarts
        try:
            ok = self._ctrl.teachMode() if on else self._ctrl.endTeachMode()
            if not ok:
                raise ArmError(f"ur_rtde: the controller refused {'teachMode' if on else 'endTeachMode'}() "
                               f"({read_status(self._ctrl, self._recv).describe()}); check the teach pendant")
            self._free = on
        finally:
            self._loop.start(self._recv.getActualQ())
        return ("teach mode: the arm moves by hand; free_drive(False) holds it" if on
                else "teach mode ended: holding where the arm is")

    # -- I/O -----------------------------------------------------------------------------------
    def read_state(self) -> ArmState:
        """The servo thread's last reading; raises the fault when it is not fresh."""
        self._require_connected()
        loop = self._loop
        q, qd, stamp = loop.snapshot()
        f = loop.fault
        if f is not None and f.kind in LINK_FAULTS:
            raise f
        age = time.monotonic() - stamp
        if age > max(STALE_STEPS * (self.step_time or 0.0), STALE_MIN_S):
            raise ArmFault("stale_state", f"no fresh joint reading for {age:.3f} s (servo thread "
                           f"{'alive' if loop.alive else 'not running'})", "Restart arm_node if this persists")
        g = self._gripper.position() if self._gripper is not None else None
        return ArmState(q=q, dq=qd, gripper=g, stamp=stamp)

    def command(self, q, gripper: float | None = None) -> ArmFault | None:
        """Validate and schedule setpoint `q`; returns the latched fault (setpoint dropped) or None."""
        super().command(q, gripper)
        return self.fault

    send = command

    def _command(self, q: np.ndarray, gripper: float | None) -> None:
        if self._free:
            raise ArmError("ur_rtde: the robot is in free drive (teach mode, moved by hand); free_drive(False) "
                           "ends it and accepts setpoints again")
        if self._loop.submit(q) is None and gripper is not None and self._gripper is not None:
            self._gripper.command(gripper)

    def hold(self) -> None:
        """Leave servo mode decelerating at `stop_deceleration` (the servo thread sends servoStop
        on its next cycle); never raises, whatever the link's state."""
        if self._loop is not None:
            self._loop.hold()
