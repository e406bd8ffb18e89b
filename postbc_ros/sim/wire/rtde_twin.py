"""The UR5e wire-level twin (ROS-free): a UR controller on a Unix socket whose arm is the MuJoCo twin.

- `RTDETwinServer`: serves one `URController` to the ur_rtde look-alike interfaces
  (rtde_client.TwinRTDEControlInterface / TwinRTDEReceiveInterface, rtde_protocol's wire): a thread
  accepts connections, one thread per connection applies its messages to the controller. It can
  drop and restore the "network" (connections closed, new ones refused) like a pulled cable.
- `URTwinBridge`: the controller's arm IS the twin's arm, as servo_bridge does for the WidowX bus:
  every `step(dt)` the last accepted servoJ target becomes the twin's joint setpoint, the physics
  runs `dt`, and the measured joints / velocities become the controller's actual q / qd (what
  getActualQ / getActualQd return). Teach mode: the arm's actuators go limp (the twin's links are
  gravity compensated) and their setpoints follow the measured angles.
- `URWireTwinLoop`: wire_twin_loop.WireTwinLoop with this controller instead of the Dynamixel bus.
  Its controller, server, bridge and the scene's physics run in a process of their own
  (rtde_box.ControllerBox: a UR answers in time and its arm moves on whatever the renderer holds
  this process's GIL for); the loop's twin is a mirror of that scene, loaded once per control
  period, for the success detector, the observation and the cameras.

The arm_node UR driver has no gripper on this cell (its `gripper` is "none": no Robotiq socket is
simulated), so the twin's fingers stay where the scene reset left them and the observation's
gripper entry is the twin's own reading.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from postbc_ros.core.twin_loop import FRAME_TIME_SLACK, FramePacer
from postbc_ros.sim.wire import rtde_protocol as wire
from postbc_ros.sim.wire.rtde_box import BoxSpec, ControllerBox, load_state
from postbc_ros.sim.wire.rtde_controller import E_SERIES_STEP_S, URController
from postbc_ros.sim.wire.servo_bridge import BIAS_POS, BIAS_VEL, GAIN
from postbc_ros.sim.wire.wire_twin_loop import JOINT_STATE_MAX_AGE_S, WireTwinLoop

LOG = logging.getLogger("postbc_ros.sim.wire.rtde_twin")
LISTEN_BACKLOG = 4  # pending connections (one arm driver opens two)
JOIN_TIMEOUT_S = 2.0  # longest wait for a server thread at close
SOCKET_NAME = "rtde.sock"  # the controller's socket in its temporary directory


def link_hardware(link: Path, target: str) -> Path:
    """Point `link` (made absolute) at the hardware a driver opens (a pty, the controller's socket),
    atomically replacing a link an earlier run left."""
    link = link.resolve()
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + f".{os.getpid()}")
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def unlink_hardware(link: Path, target: str) -> None:
    """Remove `link` if it still points at `target` (a later run may have taken it over)."""
    if link.is_symlink() and os.readlink(link) == target:
        link.unlink()


class RTDETwinServer:
    """`controller` on the Unix socket `path` (created; removed at close); `before_reply()`, if given,
    runs before each request that gets a reply is applied (the controller box: its physics up to now)."""

    def __init__(self, controller: URController, path: str | Path, before_reply=None) -> None:
        self.controller = controller
        self.before_reply = before_reply  # called before a request is answered (the box: physics up to now)
        self.path = str(Path(path).resolve())
        self.network_up = True
        self.counts: Counter[str] = Counter()  # messages received, by op
        self._first: float | None = None  # monotonic time of the first message
        self.max_reply_s = 0.0  # longest a request waited for its reply (sent -> answered)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)  # a socket left by an earlier run
        self._listener = wire.new_socket()
        self._listener.bind(self.path)
        self._listener.listen(LISTEN_BACKLOG)
        self._open = True

    @property
    def host(self) -> str:
        """What the arm driver's `host` must be."""
        return wire.twin_host(self.path)

    def start(self) -> "RTDETwinServer":
        t = threading.Thread(target=self._accept, name="rtde-twin-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __enter__(self) -> "RTDETwinServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._open = False
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._close_connections()
        for t in self._threads:
            t.join(JOIN_TIMEOUT_S)
        if os.path.exists(self.path):
            os.unlink(self.path)

    def traffic(self) -> str:
        """What the controller received so far, by op, and over how long since the first connection
        (e.g. "servoJ 4100, status 4100, ... in 9.8 s; replies within 3 ms, ...")."""
        with self._lock:
            counts, t0, late = dict(self.counts), self._first, self.max_reply_s
        ops = ", ".join(f"{op} {n}" for op, n in sorted(counts.items(), key=lambda x: -x[1]))
        return (f"{ops or 'nothing'} in {0.0 if t0 is None else time.monotonic() - t0:.1f} s; replies within "
                f"{late * 1e3:.0f} ms, {self.controller.excused_s * 1e3:.0f} ms of waits excused from the watchdog")

    # -- the cable ------------------------------------------------------------------------------
    def drop_network(self) -> None:
        """Both links go down (connections closed); new connections are refused until restored."""
        self.network_up = False
        self._close_connections()

    def restore_network(self) -> None:
        self.network_up = True

    def _close_connections(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- serving ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while self._open:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            t = threading.Thread(target=self._serve, args=(conn,), name="rtde-twin-conn", daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                hello = wire.recv(conn)
                if hello is None:
                    return
                if not self.network_up or hello.get("op") != wire.HELLO:
                    wire.send(conn, {"error": f"Could not connect to robot at {self.host}"})  # what ur_rtde raises
                    return
                with self._lock:
                    self._conns.add(conn)
                msg = hello
                while self._open and msg is not None:
                    reply = self._apply(msg)
                    if reply is not None:
                        wire.send(conn, reply)
                        self._answered(msg.get("t"))
                    msg = wire.recv(conn)
            except OSError:
                return  # the peer (or drop_network) closed the connection
            finally:
                with self._lock:
                    self._conns.discard(conn)
                self.controller.connection_lost()

    def _answered(self, sent: float | None) -> None:
        """The reply to a request sent at `sent` is out: how late (the worst is in `traffic`), and the
        client's wait is the controller's lateness, not the client's (URController.client_waited)."""
        if sent is None:
            return
        now = time.monotonic()
        with self._lock:
            self.max_reply_s = max(self.max_reply_s, now - float(sent))
        self.controller.client_waited(float(sent), now)

    def _apply(self, msg: dict) -> dict | None:
        op, args = msg.get("op"), msg.get("args", [])
        with self._lock:
            self.counts[op] += 1
            if self._first is None:
                self._first = time.monotonic()
        c = self.controller
        if op not in wire.ONE_WAY and self.before_reply is not None:
            self.before_reply()
        try:
            with c.at(msg.get("t")):
                return self._apply_op(c, op, args)
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            if op in wire.ONE_WAY:  # nobody waits for an answer: the refusal shows in the status
                LOG.debug("UR twin: %s refused: %s", op, e)
                return None
            return {"error": str(e)}

    @staticmethod
    def _apply_op(c: URController, op: str, args: list) -> dict | None:
        if op == "servoJ":
            c.servo_j(*args)
            return None
        if op == "kickWatchdog":
            c.kick_watchdog()
            return None
        if op == wire.HELLO:
            if args[0] == wire.CONTROL:
                if not c.remote_control:
                    raise RuntimeError("ur_rtde: Please enable remote control on the robot!")
                c.upload_script()  # the control interface's constructor uploads the control script
            value = True
        elif op == "status":
            value = None
        elif op == "setWatchdog":
            value = c.set_watchdog(args[0])
        elif op == "servoStop":
            value = c.servo_stop(args[0])
        elif op == "speedStop":
            value = c.speed_stop(args[0])
        elif op == "moveJ":
            value = c.move_j(*args)
        elif op in ("teachMode", "endTeachMode"):
            value = c.teach_mode(op == "teachMode")
        elif op == "reuploadScript":
            value = c.reupload_script()
        elif op == "stopScript":
            value = c.stop_script()
        else:
            return {"error": f"UR twin: unknown op {op!r}"}
        return {"ok": value, "status": c.status()}


class URTwinBridge:
    """Couples `controller` (URController(kinematic=False): what it uses is `servo_goal` and
    `set_measured`) to `twin` (postbc_ros.sim.twin.Twin); in the controller box, rtde_box steps it."""

    def __init__(self, twin, controller: URController) -> None:
        if controller.kinematic:
            raise ValueError("URTwinBridge: the controller must be URController(kinematic=False): the twin moves the arm")
        self.twin, self.controller = twin, controller
        m = twin.model
        self._act = np.array([m.actuator(n).id for n in twin.joint_names])
        self._gain = m.actuator_gainprm[self._act, GAIN].copy()
        self._bias = m.actuator_biasprm[self._act, BIAS_POS:BIAS_VEL + 1].copy()
        self._hold = twin.joint_positions()  # setpoint with no servoJ target (holds where the arm is)
        self.hold_here()

    def hold_here(self) -> None:
        """Hold the arm where it is (at connect, after a scene reset) and report it."""
        self._hold = self.twin.joint_positions()
        self.controller.set_measured(self._hold, np.zeros_like(self._hold))

    def step(self, dt: float) -> None:
        """servoJ target -> twin setpoint, `dt` of physics, measured joints -> controller."""
        c, twin = self.controller, self.twin
        target, teach = c.servo_goal()  # in teach mode the controller forgets its target
        q = twin.joint_positions()
        self._set_limp(teach)
        if teach:
            self._hold = q
        goal = self._hold if target is None else target
        twin.set_joint_targets(goal, twin.gripper_position())
        if teach:
            twin.data.ctrl[self._act] = q
        twin.step(max(1, int(round(dt / twin.model.opt.timestep))))
        c.set_measured(twin.joint_positions(), twin.joint_velocities())

    def _set_limp(self, limp: bool) -> None:
        m = self.twin.model
        m.actuator_gainprm[self._act, GAIN] = 0.0 if limp else self._gain
        m.actuator_biasprm[self._act, BIAS_POS:BIAS_VEL + 1] = 0.0 if limp else self._bias


class URWireTwinLoop(WireTwinLoop):
    """The twin scene behind a UR controller on `socket_path` (API of WireTwinLoop: advance,
    success, observation, reset_scene, frame_due, traffic; `port` is the driver's host).

    The scene's physics runs in the controller box (rtde_box.ControllerBox, its own process and
    clock: the renderer here never delays the arm); `twin` is a mirror of it, loaded with the box's
    physics state once per control period (`advance`) and after a reset, for the success detector,
    the observation and the cameras."""

    hardware = "RTDE controller"

    def __init__(self, env, seed: int, now: float, gripper_joint: str = "gripper", step_time: float = E_SERIES_STEP_S,
                 socket_path: str | Path | None = None) -> None:
        self.env, self.task = env, env.unwrapped
        self.seed, self.resets = int(seed), 0
        env.reset(seed=self.seed)
        self.twin = self.task.twin
        self._tmp = None if socket_path else tempfile.mkdtemp(prefix="postbc_rtde_")  # short: AF_UNIX paths < 108 bytes
        self.controller = ControllerBox(BoxSpec(self.task.robot, self.task.task, self.seed,
                                                str(socket_path or Path(self._tmp) / SOCKET_NAME), float(step_time)))
        self.joint_names, self.gripper_joint = list(self.twin.joint_names), gripper_joint
        self.control_dt = float(self.twin.control_dt)
        self.time = float(now)
        self._next_control = self.time + self.control_dt
        self.frames = FramePacer(self.time)
        load_state(self.twin, self.controller.state())

    @property
    def port(self) -> str:
        """The controller's socket (the node links the driver's `twin://<link>` host to it)."""
        return self.controller.path

    def start(self) -> None:
        """The controller box answers on its socket and runs its physics from its start (kept: WireTwinLoop's API)."""

    def close(self) -> None:
        self.controller.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self.env.close()

    def traffic(self) -> str:
        return self.controller.traffic()

    def advance(self, now: float) -> bool:
        """True when a control period ended at wall time `now`; the mirror then shows the box's scene."""
        self.time = max(self.time, float(now))
        if self.time + FRAME_TIME_SLACK < self._next_control:
            return False
        self._next_control = max(self._next_control + self.control_dt, self.time)
        load_state(self.twin, self.controller.state())
        return True

    def reset_scene(self) -> dict:
        """The box draws the next layout, the arm left where the driver holds it; the mirror follows."""
        record, state = self.controller.reset_scene()
        self.resets = int(record["reset"])
        load_state(self.twin, state)
        return record

    def observation(self, measured, stamp, now):
        """As WireTwinLoop's; the gripper entry is the twin's when the arm driver has none."""
        if measured is not None and self.gripper_joint not in measured and stamp is not None \
                and now - stamp <= JOINT_STATE_MAX_AGE_S:
            measured = {**measured, self.gripper_joint: self.twin.gripper_position()}
        return super().observation(measured, stamp, now)
