"""The UR twin's controller box: the controller, its RTDE socket AND the cell's physics in a process of
their own (ROS-free).

Why a process: a real UR answers its RTDE clients every 2 ms and its arm moves on, whatever else
happens in the cell. In wire_twin_node the controller and the physics shared one Python process --
one GIL, one thread -- with the renderer: a 640x480 scene render holds the GIL ~16 ms (more when the
2 CPUs are busy), the node's executor more. First the socket threads answered the driver 20-77 ms
late and the RTDE watchdog stopped the script; with the controller alone in a box, the physics,
still stepped by the node's render thread, stalled >= 100 ms under load, and the driver rightly
latched `frozen_state` (50 identical readings while commanded to move). Here the scene's physics
(URTwinBridge over the twin task env) steps on the box's own clock in a thread beside the socket
threads, so what the driver reads moves as a real arm does; and when the box itself is
descheduled, the driver's status request waits for it instead of reading a stale arm.

The twin's process (wire_twin_node) keeps a mirror of the same scene: `ControllerBox.state()` is
MuJoCo's integration state (mj_getState: joints, mocap goal, ...), which the mirror loads to judge success, build the
observation and render the cameras, never moving the arm itself.

`ControllerBox` spawns the box (multiprocessing 'spawn': no copy of the twin's MuJoCo / GL state)
and talks to it over a pipe: the physics state, scene resets, traffic. The box ignores SIGINT (the
driver's Ctrl-C shutdown still reaches it: servoStop, stopScript) and ends when told or when the
pipe reaches EOF -- its parent died -- so it never outlives the twin.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

LOG = logging.getLogger("postbc_ros.sim.wire.rtde_box")
START_TIMEOUT_S = 60.0  # spawn + imports (MuJoCo, the task env) + bind, on a loaded 2-core machine
REPLY_TIMEOUT_S = 10.0  # a box that does not answer a pipe request within this is dead
JOIN_TIMEOUT_S = 5.0  # longest wait for the box to close its socket and exit
PHYSICS_PERIOD_S = 0.02  # s of physics per bridge step (Twin's setpoint rate limit works in 5 x 4 ms substeps)
MAX_CATCHUP_S = 0.1  # s: the most physics run at once after the box was descheduled (the rest dropped)


class ControllerBoxError(RuntimeError):
    """The controller box did not start or stopped answering."""


@dataclass(frozen=True)
class BoxSpec:
    """What the box builds: the twin task env (`make_env(robot, task, obs_mode="state", seed)`, reset
    with `seed`) and the controller on the Unix socket `path`, its step `step_time` s."""

    robot: str
    task: str
    seed: int
    path: str
    step_time: float


class PhysicsClock:
    """Runs `bridge.step(PHYSICS_PERIOD_S)` on the monotonic clock in a thread of the box (and on demand:
    `catch_up`), under `lock`.

    After a stall at most MAX_CATCHUP_S of physics is run and the rest dropped (the arm slows rather
    than jumps); `stats()` says how many steps ran, how much time was dropped and the worst lateness."""

    def __init__(self, bridge, lock: threading.Lock) -> None:
        self.bridge, self.lock = bridge, lock
        self.steps, self.dropped_s, self.max_late_s = 0, 0.0, 0.0
        self._stop = threading.Event()
        self._t = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="ur-twin-physics", daemon=True)

    def start(self) -> "PhysicsClock":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, self._t + PHYSICS_PERIOD_S - time.monotonic())):
            self.catch_up()

    def catch_up(self) -> None:
        """Run the physics up to now: from the clock's thread, and before the controller answers a
        request (RTDETwinServer's `before_reply`), so a reading is never older than a period even when
        this thread waits for the GIL."""
        now = time.monotonic()
        with self.lock:
            self.max_late_s = max(self.max_late_s, now - self._t - PHYSICS_PERIOD_S)
            if now - self._t > MAX_CATCHUP_S:
                self.dropped_s += now - MAX_CATCHUP_S - self._t
                self._t = now - MAX_CATCHUP_S
            while now - self._t >= PHYSICS_PERIOD_S:
                self.bridge.step(PHYSICS_PERIOD_S)
                self._t += PHYSICS_PERIOD_S
                self.steps += 1

    def stats(self) -> str:
        return (f"physics {self.steps} steps of {PHYSICS_PERIOD_S * 1e3:.0f} ms, late at most "
                f"{self.max_late_s * 1e3:.0f} ms, dropped {self.dropped_s:.2f} s")


def full_state(twin) -> np.ndarray:
    """MuJoCo's integration state of `twin` (time, qpos, qvel, act, ctrl, mocap poses, ...): what a mirror loads."""
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(twin.model, spec))
    mujoco.mj_getState(twin.model, twin.data, state, spec)
    return state


def load_state(twin, state) -> None:
    """Set `twin` (a mirror of the box's scene) to `state` (full_state) and recompute its kinematics."""
    import mujoco

    mujoco.mj_setState(twin.model, twin.data, np.asarray(state, dtype=float), mujoco.mjtState.mjSTATE_INTEGRATION)
    mujoco.mj_forward(twin.model, twin.data)


class _Box:
    """The box's side: env + controller + socket + physics clock, and the pipe ops on them."""

    def __init__(self, spec: BoxSpec) -> None:
        from postbc_ros.sim import make_env
        from postbc_ros.sim.wire.rtde_controller import URController
        from postbc_ros.sim.wire.rtde_twin import RTDETwinServer, URTwinBridge

        self.spec, self.resets = spec, 0
        self.env = make_env(spec.robot, spec.task, obs_mode="state", seed=spec.seed)
        self.env.reset(seed=spec.seed)
        self.task = self.env.unwrapped
        self.twin = self.task.twin
        self.controller = URController(self.twin.joint_positions(), step_time=spec.step_time, kinematic=False)
        self.lock = threading.Lock()  # the scene: the physics clock's steps vs a reset or a state read
        self.bridge = URTwinBridge(self.twin, self.controller)
        self.clock = PhysicsClock(self.bridge, self.lock)
        self.server = RTDETwinServer(self.controller, spec.path, before_reply=self.clock.catch_up).start()
        self.clock.start()
        self._closed = False

    def close(self) -> str:
        if not self._closed:
            self._closed = True
            self.clock.stop()
            self.server.close()
            self.env.close()
        return self.traffic()

    def traffic(self) -> str:
        return f"{self.server.traffic()}; {self.clock.stats()}"

    def op(self, op: str, args):
        if op == "state":
            self.clock.catch_up()
            with self.lock:
                return full_state(self.twin)
        if op == "reset":
            return self.reset_scene()
        if op == "traffic":
            return self.traffic()
        if op == "counts":
            return dict(self.server.counts)
        raise ValueError(f"controller box: unknown op {op!r}")

    def reset_scene(self) -> dict:
        """The next scene layout (seeded as sim_node's TwinLoop), the arm left where it is (the human
        reset moves objects, not the arm); the layout record and the new state."""
        from postbc_ros.core.twin_loop import reset_scene

        with self.lock:
            q, closure = self.twin.joint_positions(), self.twin.gripper_position()
            self.resets += 1
            record = reset_scene(self.env, self.task, self.spec.seed, self.resets)
            self.twin.set_joint_positions(q, closure)
            return {"record": record, "state": full_state(self.twin)}


def _box_main(conn, spec: BoxSpec) -> None:
    """The box process: serve the controller and run the physics until told to close or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's and the twin's to act on
    try:
        box = _Box(spec)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", box.server.path))
    try:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):  # the twin's process is gone
                return
            if op == "close":
                conn.send(box.close())
                return
            conn.send(box.op(op, args))
    finally:
        box.close()


class ControllerBox:
    """The twin's handle on a controller box (see the module doc) built from `spec`."""

    def __init__(self, spec: BoxSpec) -> None:
        ctx = mp.get_context("spawn")
        self._lock = threading.Lock()  # one pipe request at a time (the node's tick, its reset service, its close)
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_box_main, args=(child, spec), name="ur-twin-controller", daemon=True)
        self._proc.start()
        child.close()  # the box's end lives in the box only: its EOF is our exit
        if not self._conn.poll(START_TIMEOUT_S):
            self._kill()
            raise ControllerBoxError(f"the UR twin's controller box did not start within {START_TIMEOUT_S:.0f} s")
        try:
            status, value = self._conn.recv()
        except EOFError:  # it died before answering (its traceback is on stderr)
            status, value = "error", f"the box exited with code {self._proc.join(JOIN_TIMEOUT_S) or self._proc.exitcode}"
        if status != "ready":
            self._kill()
            raise ControllerBoxError(f"the UR twin's controller box failed to serve {spec.path}: {value}")
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

    def state(self) -> np.ndarray:
        """The scene's integration state now (full_state of the box's twin)."""
        return self._call("state")

    def reset_scene(self) -> tuple[dict, np.ndarray]:
        """Draw the next layout in the box (the arm stays); (its record, the state after it)."""
        reply = self._call("reset")
        return reply["record"], reply["state"]

    def traffic(self) -> str:
        """What the controller received, by op, and how its physics kept time."""
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
