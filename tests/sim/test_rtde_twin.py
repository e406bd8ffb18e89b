"""The UR wire-level twin's RTDE link (sim/wire/rtde_*.py): ur_rtde look-alike interfaces talking to
the twin's controller over a Unix socket, driven by the real UR driver (drivers/arm/ur_rtde.py).
Their signatures are checked against the installed ur_rtde in tests/drivers/test_ur_rtde.py."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from postbc_ros.drivers.arm import ArmError, make_arm
from postbc_ros.drivers.arm.ur_rtde import TWIN_HOST_PREFIX
from postbc_ros.robots import get_robot_spec
from postbc_ros.sim.wire.rtde_client import TwinRTDEControlInterface, TwinRTDEReceiveInterface
from postbc_ros.sim.wire.rtde_controller import RUNTIME_STOPPED, SAFETY_PROTECTIVE, URController
from postbc_ros.sim.wire.rtde_protocol import TWIN_SCHEME
from postbc_ros.sim.wire.rtde_twin import RTDETwinServer

SPEC = get_robot_spec("ur5e")
ARM_DT = 0.05  # arm_node's default control period (s)
WAIT_S = 10.0  # generous bound for the servo thread to act on a 2-core shared CI machine


def wait_until(cond, what: str, timeout: float = WAIT_S):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def twin(tmp_path):
    c = URController(SPEC.home)  # kinematic: the arm is its last servoJ target
    with RTDETwinServer(c, tmp_path / "rtde.sock") as srv:
        yield c, srv


def ur_arm(srv):
    return make_arm("ur_rtde", "ur5e", host=srv.host, control_dt=ARM_DT)  # no injected classes: the host switches


def test_the_driver_streams_to_the_twin_controller_over_the_socket(twin, caplog):
    c, srv = twin
    arm = ur_arm(srv)
    arm.connect()
    try:
        assert "is the UR twin's controller" in caplog.text  # the switch is logged
        assert arm.is_connected() and arm.servo_rate == pytest.approx(500.0)
        assert ("setWatchdog", 10.0) in c.calls and c.program_running
        target = SPEC.home + 0.02
        assert arm.send(target) is None
        wait_until(lambda: np.allclose(c.q, target, atol=1e-9), "the controller's arm at the target")
        wait_until(lambda: np.allclose(arm.read_state().q, target, atol=1e-9), "the driver reading it back")
        assert c.counts["servoJ"] > 3 and c.kicks > 3  # interpolated over the arm period, watchdog kicked
        servo = next(x for x in c.calls if x[0] == "servoJ")
        assert servo[4] == pytest.approx(0.002)  # servoJ time: the controller step
        arm.hold()
        wait_until(lambda: c.counts["servoStop"] == 1, "servoStop after hold")
    finally:
        arm.disconnect()
    assert ("stopScript",) in c.calls and not c.program_running
    wait_until(lambda: not srv._conns, "the driver's connection closed")
    assert "servoJ" in srv.traffic() and "status" in srv.traffic()


def test_a_protective_stop_in_the_twin_latches_and_needs_the_operator(twin):
    c, srv = twin
    arm = ur_arm(srv)
    arm.connect()
    try:
        arm.send(SPEC.home + 0.01)
        c.protective_stop()  # the cell: a collision
        wait_until(lambda: arm.fault is not None, "the fault")
        assert arm.fault.kind == "protective_stop"
        assert arm.send(SPEC.home) is arm.fault  # setpoints dropped, never raised
        with pytest.raises(ArmError, match="still stopped: protective stop"):
            arm.reconnect(confirmed=True)
        c.clear_stops()  # the pendant
        assert "reconnected" in arm.reconnect(confirmed=True)
        assert arm.fault is None and c.program_running and c.uploads == 1  # the script was re-uploaded
        target = SPEC.home + 0.01
        arm.send(target)
        wait_until(lambda: np.allclose(c.q, target, atol=1e-9), "streaming again")
    finally:
        arm.disconnect()


def test_a_jump_is_a_protective_stop_and_the_watchdog_stops_the_script(twin):
    c, srv = twin
    ctrl, recv = TwinRTDEControlInterface(srv.host), TwinRTDEReceiveInterface(srv.host)
    try:
        assert ctrl.getStepTime() == pytest.approx(0.002) and ctrl.isProgramRunning()
        far = [float(x) for x in SPEC.home + 0.5]
        assert ctrl.servoJ(far, 0.0, 0.0, 0.002, 0.1, 300.0)  # one-way, as ur_rtde's: the controller decides
        wait_until(lambda: recv.getSafetyMode() == SAFETY_PROTECTIVE, "the protective stop")
        assert recv.isProtectiveStopped() and recv.getRuntimeState() == RUNTIME_STOPPED  # the stop ends the script
        with pytest.raises(RuntimeError, match="control script is not running"):
            ctrl.servoJ(far, 0.0, 0.0, 0.002, 0.1, 300.0)
        assert not ctrl.reuploadScript()  # not while the stop is active
        np.testing.assert_allclose(recv.getActualQ(), SPEC.home)  # the arm did not jump
        c.clear_stops()
        assert ctrl.reuploadScript() and ctrl.setWatchdog(50.0)
        time.sleep(0.1)  # no kick for 5 watchdog periods
        assert recv.getRuntimeState() == RUNTIME_STOPPED and not ctrl.isProgramRunning()
        assert ("program_stopped", "watchdog") in c.calls
        with pytest.raises(RuntimeError, match="control script is not running"):
            ctrl.servoJ([float(x) for x in SPEC.home], 0.0, 0.0, 0.002, 0.1, 300.0)
        assert ctrl.reuploadScript() and ctrl.isProgramRunning()
    finally:
        ctrl.disconnect()
        recv.disconnect()


def test_a_dropped_network_freezes_the_readings_until_reconnected(twin):
    c, srv = twin
    ctrl, recv = TwinRTDEControlInterface(srv.host), TwinRTDEReceiveInterface(srv.host)
    try:
        q0 = recv.getActualQ()
        srv.drop_network()
        c.q = c.q + 0.01  # the arm moves; nobody can see it
        wait_until(lambda: not recv.isConnected() and recv.getActualQ() == q0, "the link down, readings frozen")
        assert not ctrl.isConnected() and not ctrl.kickWatchdog() and ctrl.getStepTime() == 0.0
        with pytest.raises(RuntimeError, match="Could not connect"):
            recv.reconnect()
        srv.restore_network()
        assert recv.reconnect() and ctrl.reconnect() and recv.isConnected() and ctrl.isConnected()
        np.testing.assert_allclose(recv.getActualQ(), c.q)
    finally:
        ctrl.disconnect()
        recv.disconnect()


def test_bad_hosts_and_arguments_are_refused_as_ur_rtde_does(twin, tmp_path):
    c, srv = twin
    assert TWIN_HOST_PREFIX == TWIN_SCHEME and srv.host.startswith(TWIN_SCHEME)
    with pytest.raises(RuntimeError, match="absolute socket path"):
        TwinRTDEReceiveInterface("twin://relative/rtde.sock")
    with pytest.raises(RuntimeError, match="Could not connect to robot"):
        TwinRTDEReceiveInterface(TWIN_SCHEME + str(tmp_path / "nothing.sock"))
    arm = make_arm("ur_rtde", "ur5e", host=TWIN_SCHEME + str(tmp_path / "nothing.sock"))
    with pytest.raises(ArmError, match="cannot connect to the UR controller at twin://"):
        arm.connect()
    ctrl = TwinRTDEControlInterface(srv.host)
    try:
        q = [float(x) for x in SPEC.home]
        with pytest.raises(TypeError):
            ctrl.servoJ([1, 2, 3], 0.0, 0.0, 0.002, 0.1, 300.0)
        with pytest.raises(ValueError, match="lookahead_time"):
            ctrl.servoJ(q, 0.0, 0.0, 0.002, 0.5, 300.0)
        with pytest.raises(ValueError, match="gain"):
            ctrl.servoJ(q, 0.0, 0.0, 0.002, 0.1, 3000.0)
        assert c.counts["servoJ"] == 0
    finally:
        ctrl.disconnect()


def test_the_bridge_moves_the_twins_arm_to_the_servo_targets_and_teach_mode_goes_limp(tmp_path):
    from postbc_ros.sim import make_env
    from postbc_ros.sim.wire.rtde_twin import URTwinBridge
    from postbc_ros.sim.wire.wire_twin_loop import BRIDGE_PERIOD_S

    env = make_env("ur5e", "reach", obs_mode="state", seed=0)
    env.reset(seed=0)
    tw = env.unwrapped.twin
    c = URController(tw.joint_positions(), kinematic=False)
    with pytest.raises(ValueError, match="kinematic=False"):
        URTwinBridge(tw, URController(tw.joint_positions()))
    bridge = URTwinBridge(tw, c)
    with RTDETwinServer(c, tmp_path / "rtde.sock") as srv:
        ctrl, recv = TwinRTDEControlInterface(srv.host), TwinRTDEReceiveInterface(srv.host)
        try:
            q0 = np.asarray(recv.getActualQ())
            np.testing.assert_allclose(q0, tw.joint_positions())
            target = q0 + np.array([0.1, -0.05, 0.05, 0.0, 0.05, 0.1])
            for k in range(1, 51):  # servoJ along a line, the physics behind at its bridge period
                ctrl.servoJ([float(x) for x in q0 + (target - q0) * min(1.0, k / 40)], 0.0, 0.0, 0.002, 0.1, 300.0)
                bridge.step(BRIDGE_PERIOD_S)
            for _ in range(50):
                bridge.step(BRIDGE_PERIOD_S)
            time.sleep(0.01)  # past the receive interface's snapshot age
            q = np.asarray(recv.getActualQ())
            np.testing.assert_allclose(q, tw.joint_positions())  # RTDE reads the twin's joints
            np.testing.assert_allclose(q, target, atol=0.01)  # which followed the servoJ targets by physics
            assert ctrl.servoStop(2.0) and ctrl.teachMode()
            m = tw.model
            assert np.all(m.actuator_gainprm[bridge._act, 0] > 0.0)  # the bridge applies it at its next step
            bridge.step(BRIDGE_PERIOD_S)
            assert np.all(m.actuator_gainprm[bridge._act, 0] == 0.0)  # limp: moved by hand
            assert not ctrl.servoJ([float(x) for x in q], 0.0, 0.0, 0.002, 0.1, 300.0)  # refused in teach mode
            assert ctrl.endTeachMode()
            bridge.step(BRIDGE_PERIOD_S)
            assert np.all(m.actuator_gainprm[bridge._act, 0] > 0.0)
        finally:
            ctrl.disconnect()
            recv.disconnect()
            env.close()


def _hold_the_gil(seconds: float) -> None:
    """What a long render or a busy executor does to the twin's process: no other thread of it runs Python."""
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        pass


def test_the_arm_moves_in_the_controller_box_whatever_the_twins_process_does(tmp_path):
    """The scene's physics runs in the controller box on its own clock: the arm follows servoJ while the
    twin's process holds its GIL and never calls advance(); the loop's twin mirrors the box's scene."""
    from postbc_ros.sim import make_env
    from postbc_ros.sim.wire.rtde_twin import URWireTwinLoop

    now = 100.0
    loop = URWireTwinLoop(make_env("ur5e", "reach", obs_mode="state", seed=0), seed=0, now=now,
                          socket_path=tmp_path / "rtde.sock")
    loop.start()
    box = loop.controller
    ctrl, recv = TwinRTDEControlInterface(TWIN_SCHEME + loop.port), TwinRTDEReceiveInterface(TWIN_SCHEME + loop.port)
    try:
        assert box.pid != os.getpid()
        q0 = np.asarray(recv.getActualQ())
        np.testing.assert_allclose(q0, loop.twin.joint_positions())  # the mirror starts as the box's scene
        target = q0 + np.array([0.1, -0.05, 0.05, 0.0, 0.05, 0.1])
        assert ctrl.servoJ([float(x) for x in target], 0.0, 0.0, 0.002, 0.1, 300.0)
        _hold_the_gil(0.5)
        moved = np.asarray(recv.getActualQ())
        assert np.abs(moved - q0).max() > 0.02  # it moved while this process held its GIL
        wait_until(lambda: np.abs(np.asarray(recv.getActualQ()) - target).max() < 0.01
                   and np.abs(recv.getActualQd()).max() < 1e-3, "the arm to settle at the servoJ target")
        assert loop.twin.joint_positions() == pytest.approx(q0)  # the mirror moves only when loaded ...
        assert loop.advance(now + loop.control_dt)  # ... once per control period
        np.testing.assert_allclose(loop.twin.joint_positions(), recv.getActualQ(), atol=1e-4)
        goal = loop.twin.goal_position()
        record = loop.reset_scene()  # drawn in the box, the arm left where the driver holds it
        assert record["reset"] == 1 and loop.resets == 1
        assert not np.allclose(loop.twin.goal_position(), goal)
        np.testing.assert_allclose(loop.twin.goal_position(), record["layout"]["goal"], atol=1e-3)
        np.testing.assert_allclose(loop.twin.joint_positions(), target, atol=0.01)
        assert box.counts["servoJ"] == 1 and "servoJ 1" in loop.traffic() and "physics" in loop.traffic()
    finally:
        ctrl.disconnect()
        recv.disconnect()
        loop.close()
    assert _gone(box.pid) and "servoJ" in loop.traffic()  # closed; what it received stays readable


def test_the_watchdog_times_kicks_by_their_sending_not_by_when_the_twin_got_to_them():
    """The twin's controller shares a Python process with the physics and the renderer; a kick that
    waited in the socket while that process was descheduled was still sent on time."""
    c = URController(SPEC.home)
    t0 = time.monotonic()
    with c.at(t0):
        c.set_watchdog(10.0)
    time.sleep(0.4)  # the twin stalls; the driver kept kicking every 50 ms
    for k in range(1, 5):
        with c.at(t0 + 0.05 * k):
            c.kick_watchdog()
    assert c.program_running
    with c.at(t0 + 0.2 + 0.15):  # the driver itself stopped kicking for 150 ms: that expires it
        c.kick_watchdog()
    assert not c.program_running and ("program_stopped", "watchdog") in c.calls
    c.reupload_script()
    c.set_watchdog(10.0)
    c.connection_lost()  # the driver's process died: no kick will come
    assert not c.program_running


def test_the_box_physics_catches_up_before_a_reply_and_drops_what_a_stall_left(tmp_path):
    """A reading is never older than a physics period, even when the box's physics thread waits: the
    server runs the physics up to now before it answers a request (not for one-way servoJ / kicks);
    after a long stall at most MAX_CATCHUP_S is run and the rest dropped."""
    import threading

    from postbc_ros.sim.wire.rtde_box import MAX_CATCHUP_S, PHYSICS_PERIOD_S, PhysicsClock

    class CountingBridge:
        def __init__(self):
            self.steps = []

        def step(self, dt):
            self.steps.append(dt)

    bridge = CountingBridge()
    clock = PhysicsClock(bridge, threading.Lock())  # its thread not started: only on-demand steps
    c = URController(SPEC.home)
    with RTDETwinServer(c, tmp_path / "rtde.sock", before_reply=clock.catch_up) as srv:
        ctrl, recv = TwinRTDEControlInterface(srv.host), TwinRTDEReceiveInterface(srv.host)
        try:
            time.sleep(3 * PHYSICS_PERIOD_S)
            recv.getActualQ()  # a status request: the physics runs up to now first
            assert len(bridge.steps) >= 3 and set(bridge.steps) == {PHYSICS_PERIOD_S}
            n = len(bridge.steps)
            ctrl.servoJ([float(x) for x in SPEC.home], 0.0, 0.0, 0.002, 0.1, 300.0)
            ctrl.kickWatchdog()
            time.sleep(3 * PHYSICS_PERIOD_S)
            assert len(bridge.steps) == n  # one-way messages wait for nothing
            time.sleep(3 * MAX_CATCHUP_S)
            recv.getActualQ()
            assert len(bridge.steps) - n <= round(MAX_CATCHUP_S / PHYSICS_PERIOD_S) + 1
            assert clock.dropped_s > MAX_CATCHUP_S and clock.max_late_s > 2 * MAX_CATCHUP_S
            assert "dropped" in clock.stats()
        finally:
            ctrl.disconnect()
            recv.disconnect()


def test_a_wait_on_a_late_controller_is_not_held_against_the_clients_watchdog():
    """A real UR never keeps its client waiting: the time a status request waited beyond a step for
    the twin's reply (its process descheduled) is excused; a client that just stops kicking is not."""
    c = URController(SPEC.home)
    t0 = time.monotonic() - 1.0  # calls sent in the last second (a call is never applied before it was sent)
    with c.at(t0):
        c.set_watchdog(10.0)
    c.client_waited(t0 + 0.01, t0 + 0.01 + 0.5 * c.step_time)  # answered within a step: nothing to excuse
    assert c.excused_s == 0.0
    c.client_waited(t0 + 0.05, t0 + 0.25)  # the twin answered 200 ms late: the client could not kick
    with c.at(t0 + 0.26):
        c.kick_watchdog()
    assert c.program_running and c.excused_s == pytest.approx(0.2 - c.step_time)
    with c.at(t0 + 0.26 + 0.15):  # no wait on the controller, just no kick for 150 ms: that expires it
        c.kick_watchdog()
    assert not c.program_running and c.watchdog_gap == pytest.approx(0.15)


def _gone(pid: int) -> bool:
    """Process `pid` ended (a zombie waiting for its reaper counts: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


CHILD_SCRIPT = """
import sys, time
from postbc_ros.drivers.arm import make_arm
arm = make_arm("ur_rtde", "ur5e", host=sys.argv[1], control_dt=0.05)
arm.connect()
print(arm._proc.pid, flush=True)
time.sleep(600)
"""


def test_the_twin_runs_the_servo_loop_in_a_process_that_ends_with_arm_node(twin):
    """Out of arm_node's GIL, but never outliving it: arm_node killed (no orderly shutdown), the
    servo process leaves, its kicks stop and the controller's watchdog stops the program."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    c, srv = twin
    root = Path(__file__).resolve().parents[2]
    node = subprocess.Popen([sys.executable, "-c", CHILD_SCRIPT, srv.host], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(root)))
    try:
        servo_pid = int(node.stdout.readline())
        assert servo_pid != node.pid and not _gone(servo_pid)
        wait_until(lambda: c.kicks > 50, "the servo process kicking the watchdog")
        assert c.program_running
        node.send_signal(signal.SIGKILL)
        node.wait(10)
        wait_until(lambda: _gone(servo_pid), "the servo process to end after arm_node died")
        wait_until(lambda: not c.program_running, "the controller to stop the program")
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


def test_the_driver_streams_from_its_servo_process_and_closes_it(twin):
    c, srv = twin
    arm = ur_arm(srv)
    arm.connect()
    proc = arm._proc
    assert proc is not None and proc.pid != os.getpid() and proc.alive
    arm.disconnect()
    assert not proc.alive and _gone(proc.pid)
    assert ("stopScript",) in c.calls  # through the servo process's control interface, in order
