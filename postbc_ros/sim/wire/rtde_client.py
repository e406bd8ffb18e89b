"""ur_rtde's RTDEControlInterface / RTDEReceiveInterface for the UR twin, with the library's exact
signatures (tests/drivers/test_ur_rtde.py checks them against the installed pybind docstrings).

They talk to the twin's controller (rtde_twin.RTDETwinServer) over the Unix socket named by the
host `twin://<socket path>` (rtde_protocol). The arm driver selects them for such a host
(drivers/arm/ur_rtde.rtde_classes) and runs unchanged: its servo thread at the controller's step
rate, the watchdog, the fault checks.

Cost per servo cycle, as with ur_rtde: the receive getters read one status snapshot (one
request/response when the snapshot is older than half a controller step: RTDE's output recipe
arrives once per step), servoJ and kickWatchdog are one-way writes (ur_rtde writes them to the
input registers without waiting). Both interfaces of one host in a process share one connection
(`_Link`) and its snapshot, so a control command's reply (it carries the controller's state) is
what the receive getters read next -- never a status from before the command.

Arguments are checked as pybind and ur_rtde do (TypeError for a wrong type, ValueError for a
value out of range); servoJ without a running control script raises RuntimeError (ur_rtde's
"RTDE control script is not running!"), and returns False in a protective / emergency stop or in
teach mode. While a link is down the receive getters return the last values (ur_rtde's cache) and
isConnected() is False until reconnect().
"""
from __future__ import annotations

import datetime
import math
import os
import select
import socket
import threading
import time

from postbc_ros.sim.wire import rtde_protocol as wire
from postbc_ros.sim.wire.rtde_controller import RUNTIME_PLAYING, check_q, check_servo_args

REPLY_TIMEOUT_S = 2.0  # a controller that does not answer within this is a lost link
SNAPSHOT_STEPS = 0.5  # a status snapshot older than this many controller steps is refetched
MAX_MOVEJ_SPEED, MAX_MOVEJ_ACCEL = 3.14, 40.0  # rad/s, rad/s^2: ur_rtde's moveJ limits


class _Link:
    """One connection to a twin controller, shared by the interfaces of a process (thread-safe)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.sock: socket.socket | None = None
        self.epoch = 0  # bumped at every (re)connection: interfaces of an older one stay down
        self.status: dict | None = None
        self.status_time = -math.inf
        self.users = 0

    @property
    def alive(self) -> bool:
        """Connected, and the controller has not closed the connection (a peek: nothing is ever
        waiting to be read between two requests but the end of the connection)."""
        with self.lock:
            if self.sock is None:
                return False
            try:
                readable = select.select([self.sock], [], [], 0.0)[0]
                closed = bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                closed = True
            if closed:
                self._drop()
            return not closed

    def attach(self, role: str) -> None:
        """Connect if needed, then say hello as `role` (RuntimeError as ur_rtde when refused)."""
        with self.lock:
            fresh = self.sock is None
            if fresh:
                s = wire.new_socket()
                s.settimeout(REPLY_TIMEOUT_S)
                try:  # resolved: the twin links a long path to its short socket (AF_UNIX paths < 108 bytes)
                    s.connect(os.path.realpath(self.path))
                except OSError as e:
                    s.close()
                    raise RuntimeError(f"Could not connect to robot at {wire.twin_host(self.path)}: {e}") from None
                self.sock, self.epoch = s, self.epoch + 1
            try:
                self._request(wire.HELLO, role)
            except RuntimeError:
                if fresh:  # refused: no half-open link (another interface's link stays)
                    self._drop()
                raise

    def detach(self) -> None:
        with self.lock:
            self.users = max(0, self.users - 1)
            if self.users == 0:
                self._drop()

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _request(self, op: str, *args):
        if self.sock is None:
            raise RuntimeError(f"{op}: the RTDE link to {wire.twin_host(self.path)} is not connected")
        try:
            wire.send(self.sock, {"op": op, "args": list(args), "t": time.monotonic()})
            reply = wire.recv(self.sock)
        except (OSError, ValueError) as e:
            self._drop()
            raise RuntimeError(f"{op}: lost the RTDE link to {wire.twin_host(self.path)}: {e!r}") from None
        if reply is None:
            self._drop()
            raise RuntimeError(f"{op}: the controller at {wire.twin_host(self.path)} closed the connection")
        if "error" in reply:
            raise RuntimeError(reply["error"])
        self.status, self.status_time = reply["status"], time.monotonic()
        return reply["ok"]

    def request(self, op: str, *args):
        with self.lock:
            return self._request(op, *args)

    def post(self, op: str, *args) -> bool:
        """A one-way message; False when the link is (now) down."""
        with self.lock:
            if self.sock is None:
                return False
            try:
                wire.send(self.sock, {"op": op, "args": list(args), "t": time.monotonic()})
            except OSError:
                self._drop()
                return False
            return True

    def snapshot(self, max_age: float) -> dict:
        """The controller status, refetched when older than `max_age` s and the link is up."""
        with self.lock:
            if self.sock is not None and time.monotonic() - self.status_time > max_age:
                try:
                    self._request("status")
                except RuntimeError:
                    pass  # link lost: the last values stay (isConnected() says so)
            return self.status


_LINKS: dict[str, _Link] = {}
_LINKS_LOCK = threading.Lock()


def _link(hostname: str, role: str) -> _Link:
    try:
        path = wire.socket_path(hostname)
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    with _LINKS_LOCK:
        lk = _LINKS.setdefault(path, _Link(path))
        lk.users += 1
    try:
        lk.attach(role)
    except RuntimeError:
        lk.detach()
        raise
    return lk


class _Interface:
    def _attach(self, hostname: str, role: str) -> None:
        self._lk = _link(hostname, role)
        self._epoch, self._connected = self._lk.epoch, True

    def _link_up(self) -> bool:
        return self._connected and self._lk.alive and self._epoch == self._lk.epoch

    def _step(self) -> float:
        return float(self._lk.status["step_time"])

    def _status(self) -> dict:
        """This cycle's controller status while the link is up, else the last one received."""
        if not self._link_up():
            return self._lk.status
        return self._lk.snapshot(SNAPSHOT_STEPS * self._step())

    def isConnected(self) -> bool:
        return self._link_up()

    def reconnect(self) -> bool:
        if not self._connected:  # after disconnect(): use the link again
            with _LINKS_LOCK:
                self._lk.users += 1
            self._connected = True
        if not self._lk.alive:
            self._lk.attach(wire.LINK)
        self._epoch, self._connected = self._lk.epoch, True
        return True

    def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self._lk.detach()


class TwinRTDEControlInterface(_Interface):
    def __init__(self, hostname: str, frequency: float = -1.0, flags: int = 1, ur_cap_port: int = 50002,
                 rt_priority: int = 0) -> None:
        if not isinstance(frequency, float) or not isinstance(rt_priority, int):
            raise TypeError("RTDEControlInterface: frequency is a float, rt_priority an int")
        self._attach(hostname, wire.CONTROL)  # uploads the control script
        # frequency -1: the controller's own rate (500 Hz e-Series, 125 Hz CB3)
        self.period = 1.0 / frequency if frequency > 0 else self._step()

    def _require_up(self, what: str) -> None:
        if not self._link_up():
            raise RuntimeError(f"{what}: RTDE control interface is not connected")

    # -- pacing ------------------------------------------------------------------------------
    def initPeriod(self) -> datetime.timedelta:
        return datetime.timedelta(microseconds=time.monotonic_ns() // 1000)

    def waitPeriod(self, arg0: datetime.timedelta) -> None:
        if not isinstance(arg0, datetime.timedelta):
            raise TypeError("waitPeriod takes the timedelta initPeriod returned")
        remaining = arg0.total_seconds() + self.period - time.monotonic_ns() / 1e9
        if remaining > 0:
            time.sleep(remaining)

    def getStepTime(self) -> float:
        return self._step() if self._link_up() else 0.0  # 0 is ur_rtde's error value

    # -- watchdog ------------------------------------------------------------------------------
    def setWatchdog(self, min_frequency: float = 10.0) -> bool:
        if not isinstance(min_frequency, float) or not min_frequency > 0:
            raise ValueError(f"setWatchdog: min_frequency must be a float > 0, got {min_frequency!r}")
        return bool(self._link_up() and self._lk.request("setWatchdog", min_frequency))

    def kickWatchdog(self) -> bool:
        return self._link_up() and self._lk.post("kickWatchdog")

    # -- motion ------------------------------------------------------------------------------
    def servoJ(self, arg0: list, arg1: float, arg2: float, arg3: float, arg4: float, arg5: float) -> bool:
        q = check_q(arg0, "servoJ")
        check_servo_args(arg1, arg2, arg3, arg4, arg5)
        self._require_up("servoJ")
        st = self._status()
        if st["runtime_state"] != RUNTIME_PLAYING:
            raise RuntimeError("RTDE control script is not running!")  # ur_rtde's sendCommand
        if st["protective_stopped"] or st["emergency_stopped"] or st["teach"]:
            return False
        return self._lk.post("servoJ", q, arg1, arg2, arg3, arg4, arg5)

    def servoStop(self, a: float = 10.0) -> bool:
        if not isinstance(a, float) or not a > 0:
            raise ValueError(f"servoStop: deceleration must be a float > 0, got {a!r}")
        return bool(self._link_up() and self._lk.request("servoStop", a))

    def speedStop(self, a: float = 10.0) -> bool:
        return bool(self._link_up() and self._lk.request("speedStop", float(a)))

    def moveJ(self, q: list, speed: float = 1.05, acceleration: float = 1.4, asynchronous: bool = False) -> bool:
        q = check_q(q, "moveJ")
        if not (0 < speed <= MAX_MOVEJ_SPEED and 0 < acceleration <= MAX_MOVEJ_ACCEL):
            raise ValueError(f"moveJ: speed {speed} / acceleration {acceleration} outside (0, {MAX_MOVEJ_SPEED}] / "
                             f"(0, {MAX_MOVEJ_ACCEL}]")
        self._require_up("moveJ")
        return bool(self._lk.request("moveJ", q, float(speed), float(acceleration), bool(asynchronous)))

    def teachMode(self) -> bool:
        self._require_up("teachMode")
        return bool(self._lk.request("teachMode"))

    def endTeachMode(self) -> bool:
        self._require_up("endTeachMode")
        return bool(self._lk.request("endTeachMode"))

    # -- script --------------------------------------------------------------------------------
    def isProgramRunning(self) -> bool:
        return self._link_up() and self._lk.snapshot(0.0)["runtime_state"] == RUNTIME_PLAYING

    def reuploadScript(self) -> bool:
        self._require_up("reuploadScript")
        return bool(self._lk.request("reuploadScript"))

    def stopScript(self) -> None:
        if self._link_up():
            self._lk.request("stopScript")


class TwinRTDEReceiveInterface(_Interface):
    def __init__(self, hostname: str, frequency: float = -1.0, variables: list = [], verbose: bool = False,  # noqa: B006 - mirrors the library
                 use_upper_range_registers: bool = False, rt_priority: int = 0) -> None:
        self._attach(hostname, wire.LINK)

    def getActualQ(self) -> list:
        return list(self._status()["q"])

    def getActualQd(self) -> list:
        return list(self._status()["qd"])

    def getTimestamp(self) -> float:
        return float(self._status()["timestamp"])

    def getSafetyMode(self) -> int:
        return int(self._status()["safety_mode"])

    def getRobotMode(self) -> int:
        return int(self._status()["robot_mode"])

    def getRuntimeState(self) -> int:
        return int(self._status()["runtime_state"])

    def isProtectiveStopped(self) -> bool:
        return bool(self._status()["protective_stopped"])

    def isEmergencyStopped(self) -> bool:
        return bool(self._status()["emergency_stopped"])
