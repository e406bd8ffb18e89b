"""The UR servo loop in a process of its own: both RTDE interfaces and `ur_servo.ServoLoop` live in
a child process, out of arm_node's GIL (Diffusion Policy's RTDEInterpolationController design).

Why: the servo loop is Python at the robot's step rate (500 Hz e-Series). In arm_node it shared
one GIL with the node's executor threads; in the UR wire twin collect graph the servo thread then
waited 30-60 ms for the GIL after its status read had already been answered (arm_node's own
threads used ~90 % of that time on the CPU), besides the twin's own late answers
(sim/wire/rtde_box.py), and the RTDE watchdog (10 Hz) stopped the script in about half the runs.
A child process has its own interpreter and its own GIL: arm_node's callbacks cannot delay it.

`ServoProcess(control_cls, receive_cls, host, rt_priority)` spawns the child ('spawn' context:
nothing of arm_node's state is copied), which builds the interfaces from the classes' importable
names (the real `rtde_control.RTDEControlInterface`, or the twin's look-alikes) and then answers
requests on a pipe, one at a time:
- `control` / `receive`: proxies whose method calls run on the child's interfaces (ur_rtde.py's
  connect, reconnect, teach mode and shutdown use them while the servo loop is stopped, as before);
- `servo_loop(...)`: a `RemoteServoLoop` with ServoLoop's API (start / stop / alive / submit /
  hold / snapshot / fault / latch / clear_fault / status / counters / cycle_log) whose loop thread
  runs in the child.
An exception in the child is raised again in the caller with its type where it is a builtin or an
arm error (ArmFault keeps kind / detail / action), so ur_rtde.py's handling is unchanged.

The child never outlives arm_node: it ignores SIGINT (arm_node's orderly shutdown still talks to
it: servoStop, stopScript, disconnect) and, when the pipe reaches EOF or its parent pid changes
(arm_node died), it leaves servo mode, closes the links and exits -- no more watchdog kicks, so
the controller's RTDE watchdog stops the program as for any dead client.

Injected test doubles (tests/drivers/fake_rtde.py: classes whose controller lives in the test's
process) keep the in-process ServoLoop thread; ur_rtde.py uses this process for the real library
and the wire-level twin.
"""
from __future__ import annotations

import builtins
import importlib
import logging
import multiprocessing as mp
import os
import signal
import threading
from collections import deque

import numpy as np

from postbc_ros.drivers.arm.base import ArmError, ArmFault

LOG = logging.getLogger("postbc_ros.drivers.arm.ur_rtde")
START_TIMEOUT_S = 60.0  # spawn + imports + both RTDE connections (ur_rtde's own connect timeouts are shorter)
CALL_TIMEOUT_S = 30.0  # one request: ur_rtde's reconnect / reuploadScript wait on the controller for seconds
PARENT_POLL_S = 0.5  # how often the child looks whether arm_node is still its parent
JOIN_TIMEOUT_S = 5.0  # longest wait for the child to leave servo mode, close its links and exit


def class_path(cls) -> str:
    """`module:qualname` of an importable class (what the child imports)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: str):
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _pack_exc(e: BaseException) -> tuple:
    if isinstance(e, ArmFault):
        return ("ArmFault", (e.kind, e.detail, e.action))
    return (type(e).__name__, str(e))


def _unpack_exc(packed: tuple) -> BaseException:
    name, payload = packed
    if name == "ArmFault":
        return ArmFault(*payload)
    if name in ("ArmError", "CalibrationError"):
        return ArmError(payload)
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls(payload)
    return RuntimeError(f"{name}: {payload}")


def _pack_fault(f: ArmFault | None):
    return None if f is None else (f.kind, f.detail, f.action)


# -- the child ------------------------------------------------------------------------------------
class _Child:
    """What runs in the servo process: the interfaces, the loop, the request dispatcher."""

    def __init__(self, ctrl, recv) -> None:
        self.ctrl, self.recv, self.loop = ctrl, recv, None

    def handle(self, op: str, args):
        if op == "call":
            which, name, a, kw = args
            return getattr(self.ctrl if which == "control" else self.recv, name)(*a, **kw)
        if op == "loop_new":
            from postbc_ros.drivers.arm.ur_servo import ServoLoop

            a, kw = args
            self.loop = ServoLoop(self.ctrl, self.recv, *a, **kw)
            return None
        loop = self.loop
        if op == "start":
            return loop.start(*args)
        if op == "stop":
            return loop.stop()
        if op == "submit":
            return _pack_fault(loop.submit(args))
        if op == "hold":
            return loop.hold()
        if op == "latch":
            return loop.latch(ArmFault(*args))
        if op == "clear_fault":
            return loop.clear_fault()
        if op == "state":
            q, qd, stamp = loop.snapshot()
            return (q, qd, stamp, _pack_fault(loop.fault), loop.status, loop.alive, loop.controller_time,
                    loop.cycles, loop.servoj_sent, loop.overruns)
        if op == "cycle_log":
            return list(loop.cycle_log)
        raise ValueError(f"ur servo process: unknown request {op!r}")

    def shutdown(self) -> None:
        """arm_node is gone or closed us: leave servo mode and close the links (the watchdog does the rest)."""
        if self.loop is not None and self.loop.alive:
            self.loop.stop()
        for link in (self.ctrl, self.recv):
            try:
                link.disconnect()
            except Exception as e:  # noqa: BLE001 - a dead link has nothing to close
                LOG.warning("ur_rtde servo process: disconnect failed: %r", e)


def _next_request(conn, parent: int):
    """The next request, or None once arm_node is gone (pipe EOF, or we were re-parented)."""
    while True:
        try:
            if conn.poll(PARENT_POLL_S):
                return conn.recv()
        except (EOFError, OSError):
            return None
        if os.getppid() != parent:
            return None


def _child_main(conn, ctrl_path: str, recv_path: str, host: str, rt_priority: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is arm_node's: it stops us in order
    try:
        ctrl_cls, recv_cls = _resolve(ctrl_path), _resolve(recv_path)
        recv = recv_cls(host, rt_priority=rt_priority)
        try:
            ctrl = ctrl_cls(host, rt_priority=rt_priority)
        except BaseException:
            recv.disconnect()
            raise
    except Exception as e:  # noqa: BLE001 - raised again in arm_node
        conn.send(("raise", _pack_exc(e)))
        return
    child = _Child(ctrl, recv)
    conn.send(("ok", os.getpid()))
    try:
        while (msg := _next_request(conn, parent)) is not None:
            op, args = msg
            if op == "close":
                child.shutdown()
                conn.send(("ok", None))
                return
            try:
                reply = ("ok", child.handle(op, args))
            except Exception as e:  # noqa: BLE001 - raised again in arm_node
                reply = ("raise", _pack_exc(e))
            conn.send(reply)
        LOG.error("ur_rtde servo process: arm_node (pid %d) is gone; leaving servo mode", parent)
        child.shutdown()
    except (EOFError, OSError):
        child.shutdown()


# -- arm_node's side --------------------------------------------------------------------------------
class ServoProcess:
    """The child holding `control_cls(host)` / `receive_cls(host)`; RuntimeError (as ur_rtde's
    constructors raise) when it cannot connect."""

    def __init__(self, control_cls, receive_cls, host: str, rt_priority: int = 0) -> None:
        ctx = mp.get_context("spawn")
        self._lock = threading.Lock()  # one request at a time on the pipe (arm_node calls from several threads)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child_main, name="ur-servo",
                                 args=(child, class_path(control_cls), class_path(receive_cls), host, int(rt_priority),
                                       os.getpid()), daemon=True)
        self._proc.start()
        child.close()  # its only copy is the child's: the child's exit is our EOF and ours its
        self._closed = False
        self.pid = self._request(None, START_TIMEOUT_S)
        self.control = RemoteInterface(self, "control")
        self.receive = RemoteInterface(self, "receive")

    def _request(self, msg, timeout: float = CALL_TIMEOUT_S):
        with self._lock:
            if self._closed:
                raise RuntimeError("ur_rtde: the servo process is closed")
            try:
                if msg is not None:
                    self._conn.send(msg)
                if not self._conn.poll(timeout):
                    raise RuntimeError(f"ur_rtde: the servo process did not answer {msg and msg[0]!r} within {timeout:.0f} s")
                status, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError) as e:
                self._proc.join(0.5)
                raise RuntimeError(f"ur_rtde: the servo process is gone (exit code {self._proc.exitcode}): {e!r}") from None
        if status == "raise":
            raise _unpack_exc(value)
        return value

    def call(self, op: str, args=None):
        return self._request((op, args))

    @property
    def alive(self) -> bool:
        return not self._closed and self._proc.is_alive()

    def servo_loop(self, *args, **kwargs) -> "RemoteServoLoop":
        """ServoLoop(control, receive, *args, **kwargs), its thread in the child."""
        return RemoteServoLoop(self, args, kwargs)

    def close(self) -> None:
        """Leave servo mode, close the child's links and end it (idempotent)."""
        if self._closed:
            return
        try:
            self._request(("close", None), JOIN_TIMEOUT_S)
        except RuntimeError as e:
            LOG.warning("ur_rtde: the servo process did not close in order: %s", e)
        with self._lock:
            self._closed = True
            self._conn.close()
        self._proc.join(JOIN_TIMEOUT_S)
        if self._proc.is_alive():
            LOG.error("ur_rtde: the servo process did not exit within %.1f s; terminating it", JOIN_TIMEOUT_S)
            self._proc.terminate()
            self._proc.join(JOIN_TIMEOUT_S)


class RemoteInterface:
    """An RTDE interface of the servo process: `proxy.servoStop(2.0)` runs there."""

    def __init__(self, proc: ServoProcess, which: str) -> None:
        self._proc, self._which = proc, which

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            return self._proc.call("call", (self._which, name, args, kwargs))

        call.__name__ = name
        return call


class RemoteServoLoop:
    """ServoLoop's API (ur_servo.ServoLoop) for the loop running in the servo process."""

    def __init__(self, proc: ServoProcess, args, kwargs) -> None:
        self._proc = proc
        proc.call("loop_new", (args, kwargs))
        self._fault_key = None
        self._fault: ArmFault | None = None

    def _as_fault(self, packed) -> ArmFault | None:
        if packed != self._fault_key:  # the same latched fault stays the same object
            self._fault_key, self._fault = packed, None if packed is None else ArmFault(*packed)
        return self._fault

    def _state(self):
        if not self._proc.alive:
            return None
        try:
            return self._proc.call("state")
        except RuntimeError:
            return None

    def start(self, q, qd=None) -> None:
        self._proc.call("start", (np.asarray(q, dtype=float), None if qd is None else np.asarray(qd, dtype=float)))

    def stop(self) -> None:
        if self._proc.alive:
            self._proc.call("stop")

    @property
    def alive(self) -> bool:
        s = self._state()
        return s is not None and bool(s[5])

    @property
    def fault(self) -> ArmFault | None:
        s = self._state()
        if s is None:
            return ArmFault("servo_loop_error", "the ur_rtde servo process is gone", "Restart arm_node")
        return self._as_fault(s[3])

    @property
    def status(self):
        s = self._state()
        return None if s is None else s[4]

    @property
    def controller_time(self) -> float:
        s = self._state()
        return 0.0 if s is None else s[6]

    @property
    def cycles(self) -> int:
        s = self._state()
        return 0 if s is None else s[7]

    @property
    def servoj_sent(self) -> int:
        s = self._state()
        return 0 if s is None else s[8]

    @property
    def overruns(self) -> int:
        s = self._state()
        return 0 if s is None else s[9]

    @property
    def cycle_log(self) -> deque:
        return deque(self._proc.call("cycle_log"))

    def submit(self, q) -> ArmFault | None:
        return self._as_fault(self._proc.call("submit", np.asarray(q, dtype=float)))

    def hold(self) -> None:
        if self._proc.alive:
            try:
                self._proc.call("hold")
            except RuntimeError as e:  # hold never raises: a dead process streams nothing
                LOG.warning("ur_rtde: hold: %s", e)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, float]:
        s = self._state()
        if s is None:
            raise ArmFault("servo_loop_error", "the ur_rtde servo process is gone", "Restart arm_node")
        return s[0], s[1], s[2]

    def latch(self, fault: ArmFault) -> None:
        self._proc.call("latch", _pack_fault(fault))

    def clear_fault(self) -> None:
        self._proc.call("clear_fault")

