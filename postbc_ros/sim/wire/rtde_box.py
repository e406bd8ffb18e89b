"""The UR twin's controller box: `URController` + `RTDETwinServer` in a process of their own (ROS-free).

Why a process: a real UR answers its RTDE clients every 2 ms whatever else happens in the cell.
In wire_twin_node the controller shared a Python process -- one GIL -- with MuJoCo: a 640x480
scene render holds that GIL ~16 ms (more when the 2 CPUs are busy), the node's executor more, so
the socket threads answered the driver's per-cycle status request 20-77 ms late and, the twin's
Unix socket queue holding only `net.unix.max_dgram_qlen` (10) messages, its one-way servoJ /
kickWatchdog writes blocked too. The driver's servo loop then went 130-210 ms without a kick and
the RTDE watchdog stopped the script (measured in the UR wire twin collect graph, see
tests/ros/test_wire_twin_ur.py). Here nothing but the controller and its socket run in the box's
interpreter, so the driver sees a controller that answers in time, as on a real cell.

`ControllerBox` (the twin's side, URTwinBridge's controller) spawns the box (multiprocessing
'spawn': no copy of the twin's MuJoCo / GL state) and exchanges with it over a pipe, once per
bridge step: the servoJ target and teach mode out, the measured joints in. The box ignores SIGINT
(the driver's Ctrl-C shutdown still reaches it: servoStop, stopScript) and ends when told or when
the pipe reaches EOF -- its parent died -- so it never outlives the twin.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import threading

import numpy as np

LOG = logging.getLogger("postbc_ros.sim.wire.rtde_box")
START_TIMEOUT_S = 60.0  # spawn + imports + bind, on a loaded 2-core machine
REPLY_TIMEOUT_S = 10.0  # a box that does not answer a pipe request within this is dead
JOIN_TIMEOUT_S = 5.0  # longest wait for the box to close its socket and exit


class ControllerBoxError(RuntimeError):
    """The controller box did not start or stopped answering."""


def _box_main(conn, path: str, q0: list, step_time: float) -> None:
    """The box process: serve the controller on `path` until told to close or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's and the twin's to act on
    from postbc_ros.sim.wire.rtde_controller import URController
    from postbc_ros.sim.wire.rtde_twin import RTDETwinServer

    try:
        c = URController(q0, step_time=step_time, kinematic=False)
        server = RTDETwinServer(c, path).start()
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", server.path))
    try:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):  # the twin's process is gone
                return
            if op == "close":
                conn.send(server.traffic())
                return
            conn.send(_box_op(c, server, op, args))
    finally:
        server.close()


def _box_op(c, server, op: str, args):
    if op == "measured":
        c.set_measured(*args)
        return None
    if op == "goal":
        target, teach = c.servo_goal()
        return None if target is None else target.tolist(), teach
    if op == "traffic":
        return server.traffic()
    if op == "counts":
        return dict(server.counts)
    raise ValueError(f"controller box: unknown op {op!r}")


class ControllerBox:
    """The twin's handle on a controller box serving `path` (URTwinBridge's `controller`)."""

    kinematic = False  # the twin's physics moves the arm

    def __init__(self, path: str, q0, step_time: float) -> None:
        ctx = mp.get_context("spawn")
        self._lock = threading.Lock()  # one pipe request at a time (the node's tick, its close)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_box_main, args=(child, str(path), [float(x) for x in q0], float(step_time)),
                                 name="ur-twin-controller", daemon=True)
        self._proc.start()
        child.close()  # the box's end lives in the box only: its EOF is our exit
        if not self._conn.poll(START_TIMEOUT_S):
            self._kill()
            raise ControllerBoxError(f"the UR twin's controller box did not start within {START_TIMEOUT_S:.0f} s")
        status, value = self._conn.recv()
        if status != "ready":
            self._kill()
            raise ControllerBoxError(f"the UR twin's controller box failed to serve {path}: {value}")
        self.path = value
        self._traffic: str | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _call(self, op: str, args=None):
        with self._lock:
            if self._traffic is not None:
                raise ControllerBoxError("the UR twin's controller box is closed")
            try:
                self._conn.send((op, args))
                if not self._conn.poll(REPLY_TIMEOUT_S):
                    raise ControllerBoxError(f"the UR twin's controller box did not answer {op!r} within {REPLY_TIMEOUT_S} s")
                return self._conn.recv()
            except (EOFError, OSError) as e:
                raise ControllerBoxError(f"the UR twin's controller box is gone (exit code {self._proc.exitcode}): {e!r}") from None

    # -- what URTwinBridge uses ----------------------------------------------------------------
    def set_measured(self, q, qd) -> None:
        """The physics' measured joints (what getActualQ / getActualQd return from now on)."""
        self._call("measured", (np.asarray(q, dtype=float).tolist(), np.asarray(qd, dtype=float).tolist()))

    def servo_goal(self) -> tuple[np.ndarray | None, bool]:
        """(last accepted servoJ target or None, teach mode): URController.servo_goal in the box."""
        target, teach = self._call("goal")
        return (None if target is None else np.asarray(target, dtype=float)), bool(teach)

    def traffic(self) -> str:
        return self._traffic if self._traffic is not None else self._call("traffic")

    @property
    def counts(self) -> dict[str, int]:
        """Messages the controller received, by op."""
        return self._call("counts")

    def close(self) -> None:
        """Close the socket and end the box (the traffic stays readable)."""
        with self._lock:
            if self._traffic is not None:
                return
            traffic = "unknown (the box did not answer)"
            try:
                self._conn.send(("close", None))
                if self._conn.poll(JOIN_TIMEOUT_S):
                    traffic = self._conn.recv()
            except (EOFError, OSError):
                pass
            self._traffic = traffic
            self._conn.close()
        self._proc.join(JOIN_TIMEOUT_S)
        if self._proc.is_alive():
            LOG.error("UR twin: the controller box did not exit within %.1f s; terminating it", JOIN_TIMEOUT_S)
            self._kill()

    def _kill(self) -> None:
        self._proc.terminate()
        self._proc.join(JOIN_TIMEOUT_S)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
