"""UR backend against fake RTDE interfaces that mirror ur_rtde's exact signatures: the servo
thread, its interpolation, faults (protective stop, disconnect, rejected servoJ, read errors),
the operator-confirmed reconnect, and the rig's `host`."""
from __future__ import annotations

import inspect
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_rtde import (  # noqa: E402
    CB3_STEP_S, CONTROLLERS, E_SERIES_STEP_S, FakeController, FakeRTDEControlInterface, FakeRTDEReceiveInterface,
    TwinRTDEControlInterface, TwinRTDEReceiveInterface,
)

from postbc_ros.drivers.arm import ArmError, ArmFault, CalibrationError, make_arm  # noqa: E402
from postbc_ros.drivers.arm.ur_interpolator import JointInterpolator  # noqa: E402
from postbc_ros.robots import get_robot_spec  # noqa: E402

SPEC = get_robot_spec("ur5e")
HOST = "10.0.0.5"
ARM_DT = 0.05  # arm_node's default control period (20 Hz)
WAIT_S = 10.0  # generous bound for the servo thread to act on a 2-core shared CI machine

CONTROL_METHODS = ["__init__", "initPeriod", "waitPeriod", "getStepTime", "setWatchdog", "kickWatchdog", "servoJ",
                   "servoStop", "speedStop", "moveJ", "teachMode", "endTeachMode", "isProgramRunning", "reuploadScript", "stopScript",
                   "isConnected", "reconnect", "disconnect"]
RECEIVE_METHODS = ["__init__", "getActualQ", "getActualQd", "getTimestamp", "getSafetyMode", "getRobotMode",
                   "getRuntimeState", "isProtectiveStopped", "isEmergencyStopped", "isConnected", "reconnect",
                   "disconnect"]


def pybind_signatures(method) -> list[list[tuple[str, str | None]]]:
    """(name, default) lists of every overload, parsed from a pybind11 docstring."""
    out = []
    for line in (method.__doc__ or "").splitlines():
        m = re.match(r"^(?:\d+\. )?\w+\((self: [^,)]+(?:, )?)(.*)\) -> ", line.strip())
        if not m:
            continue
        params = []
        for part in re.split(r", (?=\w+: )", m.group(2)) if m.group(2) else []:
            name, _, rest = part.partition(":")
            default = rest.split(" = ", 1)[1] if " = " in rest else None
            params.append((name.strip(), default))
        out.append(params)
    return out


def fake_signature(method) -> list[tuple[str, str | None]]:
    sig = inspect.signature(method)
    return [(p.name, None if p.default is inspect.Parameter.empty else p.default) for p in list(sig.parameters.values())[1:]]


@pytest.mark.parametrize("cls_name, fake, methods", [
    ("rtde_control.RTDEControlInterface", FakeRTDEControlInterface, CONTROL_METHODS),
    ("rtde_receive.RTDEReceiveInterface", FakeRTDEReceiveInterface, RECEIVE_METHODS),
    # the wire-level twin's interfaces (sim/wire/rtde_client.py), what the driver runs in the real-robot graph
    ("rtde_control.RTDEControlInterface", TwinRTDEControlInterface, CONTROL_METHODS),
    ("rtde_receive.RTDEReceiveInterface", TwinRTDEReceiveInterface, RECEIVE_METHODS),
])
def test_fakes_match_the_installed_library_signatures(cls_name, fake, methods):
    import importlib

    mod, cls = cls_name.split(".")
    real = getattr(importlib.import_module(mod), cls)
    for name in methods:
        overloads = pybind_signatures(getattr(real, name))
        assert overloads, f"could not parse {cls_name}.{name} docstring"
        ours = fake_signature(getattr(fake, name))
        names = [[n for n, _ in o] for o in overloads]
        assert [n for n, _ in ours] in names, f"{name}: fake params {ours} vs library {overloads}"
        real_o = overloads[names.index([n for n, _ in ours])]
        for (n, d_real), (_, d_fake) in zip(real_o, ours):
            assert same_default(d_real, d_fake), f"{name}.{n}: fake default {d_fake!r}, library {d_real}"


def test_every_rtde_call_of_the_backend_is_signature_checked():
    """The backend calls no RTDE method the signature check above does not cover."""
    import postbc_ros.drivers.arm.ur_rtde as mod_arm
    import postbc_ros.drivers.arm.ur_servo as mod_servo
    import postbc_ros.drivers.arm.ur_servo_proc as mod_proc

    src = inspect.getsource(mod_arm) + inspect.getsource(mod_servo) + inspect.getsource(mod_proc)
    called = set(re.findall(r"(?:ctrl|recv|link)\.(\w+)\(", src))
    assert called, "no RTDE calls found"
    assert called <= set(CONTROL_METHODS) | set(RECEIVE_METHODS), called - set(CONTROL_METHODS) - set(RECEIVE_METHODS)


def test_the_real_library_and_the_twin_run_the_servo_loop_in_its_own_process():
    """The servo process builds its interfaces from these classes' modules; test doubles over a
    controller in the test's process keep the loop a thread (they cannot be rebuilt in a child)."""
    import rtde_control
    import rtde_receive

    from postbc_ros.drivers.arm.ur_rtde import SERVO_PROCESS_MODULES
    from postbc_ros.drivers.arm.ur_servo_proc import _resolve, class_path
    from postbc_ros.sim.wire.rtde_client import TwinRTDEControlInterface, TwinRTDEReceiveInterface

    for cls in (rtde_control.RTDEControlInterface, rtde_receive.RTDEReceiveInterface, TwinRTDEControlInterface,
                TwinRTDEReceiveInterface):
        assert cls.__module__ in SERVO_PROCESS_MODULES and _resolve(class_path(cls)) is cls
    assert FakeRTDEControlInterface.__module__ not in SERVO_PROCESS_MODULES


def same_default(real: str | None, fake) -> bool:
    """Compare a pybind default (as printed) with a Python default value."""
    if real is None:
        return fake is None
    if real.startswith("<"):  # enum, printed as <Flags.FLAG_UPLOAD_SCRIPT: 1>
        return int(real.rstrip(">").rsplit(":", 1)[1]) == int(fake)
    if real in ("True", "False"):
        return str(fake) == real
    if real == "[]":
        return fake == []
    return float(real) == float(fake)


def test_fake_pacing_sleeps_to_the_period():
    CONTROLLERS.clear()
    CONTROLLERS[HOST] = FakeController(SPEC.home, step_time=0.01)
    ctrl = FakeRTDEControlInterface(HOST)
    t0 = time.monotonic()
    for _ in range(20):
        t = ctrl.initPeriod()
        ctrl.waitPeriod(t)
    assert time.monotonic() - t0 >= 20 * 0.01 * 0.99


def wait_until(cond, what: str, timeout: float = WAIT_S):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def n_calls(c, name: str) -> int:
    return sum(1 for x in list(c.calls) if x[0] == name)


def make_ur(step_time: float = E_SERIES_STEP_S, **kw):
    CONTROLLERS.clear()
    c = CONTROLLERS[HOST] = FakeController(SPEC.home, step_time=step_time)
    arm = make_arm("ur_rtde", "ur5e", host=HOST, control_dt=ARM_DT, lookahead_time=0.05, gain=500,
                   control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface, port="", baudrate=0, **kw)
    return arm, c


@pytest.fixture
def ur():
    arm, c = make_ur()
    yield arm, c
    arm.disconnect()


def stream_to(arm, c, target, what="the arm to reach the target"):
    assert arm.send(target) is None
    wait_until(lambda: np.allclose(c.q, target, atol=1e-9), what)


def test_servo_loop_streams_at_the_robots_rate_with_the_watchdog(ur):
    arm, c = ur
    arm.connect()
    assert arm.is_connected() and arm.servo_rate == pytest.approx(500.0)
    assert ("setWatchdog", 10.0) in c.calls  # ur_rtde's default minimum frequency
    st = arm.read_state()
    np.testing.assert_allclose(st.q, SPEC.home)
    assert st.gripper is None
    assert n_calls(c, "servoJ") == 0  # nothing is streamed before the first setpoint
    target = SPEC.home + 0.01
    arm.send(np.asarray(target, dtype=np.float32), 0.7)  # numpy input is converted to list[float]
    wait_until(lambda: np.allclose(c.q, target, atol=1e-6), "the target")
    name, q, speed, acc, t, look, gain = next(x for x in c.calls if x[0] == "servoJ")
    assert t == E_SERIES_STEP_S and look == 0.05 and gain == 500.0  # servoJ time = the robot step
    assert n_calls(c, "servoJ") > 3  # interpolated over the arm period, not one jump
    wait_until(lambda: c.kicks > 10, "watchdog kicks")
    wait_until(lambda: np.allclose(arm.read_state().q, target, atol=1e-6), "the measured state (read one cycle later)")
    arm.hold()
    wait_until(lambda: n_calls(c, "servoStop") == 1, "servoStop after hold")
    n = n_calls(c, "servoJ")
    arm.hold()  # not servoing: no second servoStop, no more servoJ
    time.sleep(0.05)
    assert n_calls(c, "servoStop") == 1 and n_calls(c, "servoJ") == n
    thread = arm._loop._thread
    arm.disconnect()
    assert not arm.is_connected() and not thread.is_alive()
    assert ("stopScript",) in c.calls and ("disconnect_receive",) in c.calls


def test_cb3_runs_at_125_hz():
    arm, c = make_ur(step_time=CB3_STEP_S)
    with arm:
        assert arm.servo_rate == pytest.approx(125.0)
        stream_to(arm, c, SPEC.home + 0.01)
        assert next(x for x in c.calls if x[0] == "servoJ")[4] == CB3_STEP_S


def test_interpolator_lies_on_the_segment_and_never_jumps():
    a, b, d = np.zeros(6), np.linspace(0.0, 0.05, 6), np.array([0.05, -0.02, 0.0, 0.03, 0.01, -0.04])
    ip = JointInterpolator(0.0, a)
    ip.drive_to(b, 0.0, 0.05)
    for t in np.arange(0.0, 0.05, 0.002):  # a 500 Hz servo between two setpoints 50 ms apart
        np.testing.assert_allclose(ip(t), a + (t / 0.05) * (b - a), atol=1e-12)
    np.testing.assert_allclose(ip(0.2), b)  # a late setpoint: wait at the last target, never extrapolate
    ip.drive_to(d, 0.075, 0.05)  # an early one (mid-segment after a reset) starts where the command is
    mid = ip(0.075)
    ip2 = JointInterpolator(0.0, a)
    ip2.drive_to(b, 0.0, 0.05)
    ip2.drive_to(d, 0.025, 0.05)
    np.testing.assert_allclose(ip2(0.025), (a + b) / 2, atol=1e-12)  # continuous: no jump to b
    np.testing.assert_allclose(mid, b)
    slow = JointInterpolator(0.0, a)
    slow.drive_to(a + 1.0, 0.0, 0.05, max_speed=2.0)  # 1 rad at 2 rad/s takes 0.5 s, not 0.05
    np.testing.assert_allclose(slow(0.25), a + 0.5)


def test_servo_targets_lie_on_the_segments_between_setpoints(ur):
    """Each servoJ target at the robot rate lies on the segment between consecutive setpoints."""
    arm, c = ur
    arm.connect()
    rng = np.random.default_rng(0)
    waypoints = [SPEC.home.copy()]
    for _ in range(5):  # a zig-zag, so a point off its own segment can not hide on a shared line
        waypoints.append(waypoints[-1] + rng.uniform(-0.04, 0.04, 6))
    t_marks = []
    for w in waypoints[1:]:
        t_marks.append(time.monotonic())
        stream_to(arm, c, w)  # the next setpoint only once this one is reached
    t_marks.append(time.monotonic())
    for k, (a, b) in enumerate(zip(waypoints[:-1], waypoints[1:])):
        pts = [q for t, q in c.servo_targets if t_marks[k] <= t < t_marks[k + 1]]
        assert len(pts) >= 5, f"segment {k}: only {len(pts)} servo targets (not interpolated)"
        for q in pts:
            s = float(np.dot(q - a, b - a) / np.dot(b - a, b - a))
            assert -1e-9 <= s <= 1 + 1e-9, f"segment {k}: target outside the segment (s={s})"
            np.testing.assert_allclose(q, a + s * (b - a), atol=1e-9, err_msg=f"segment {k}: target off the segment")


def test_protective_stop_mid_motion_halts_streaming_and_reconnect_needs_confirmation(ur, caplog):
    arm, c = ur
    arm.connect()
    q = SPEC.home.copy()
    with caplog.at_level(logging.ERROR, logger="postbc_ros.drivers.arm.ur_rtde"):
        for _ in range(5):
            q = q + 0.01
            arm.send(q)
            time.sleep(0.02)
        c.protective_stop()  # mid-motion: the controller stops the arm
        f = wait_until(lambda: arm.fault, "the fault")
    assert isinstance(f, ArmFault) and f.kind == "protective_stop"
    assert "clear it on the teach pendant" in str(f).lower() and "confirm the reconnect" in str(f)
    assert any("protective stop" in r.getMessage() and "streaming halted" in r.getMessage() for r in caplog.records)
    n = n_calls(c, "servoJ")
    assert arm.send(q + 0.01) is f  # dropped and reported, never raised
    time.sleep(0.1)
    assert n_calls(c, "servoJ") == n, "servoJ was sent after the protective stop"
    assert arm._loop.alive and arm.is_connected()  # the thread monitors on; the links are up
    np.testing.assert_allclose(arm.read_state().q, c.q)  # the measured state is still fresh
    with pytest.raises(ArmError, match="needs the operator's confirmation"):
        arm.reconnect()
    with pytest.raises(ArmError, match="still stopped: protective stop"):
        arm.reconnect(confirmed=True)  # the operator has not cleared it on the pendant yet
    assert arm.fault is f and arm._loop.alive
    c.clear_stops()
    assert arm.fault is f  # clearing on the pendant alone does not resume streaming
    uploads = c.uploads
    assert "cleared protective_stop" in arm.reconnect(confirmed=True)
    assert arm.fault is None and c.uploads == uploads + 1 and c.program_running  # script re-uploaded
    assert n_calls(c, "setWatchdog") == 2  # re-armed
    stream_to(arm, c, c.q + 0.01, "streaming to resume after the reconnect")


def test_disconnect_is_a_fault_and_reconnect_after_confirmation_resumes(ur):
    arm, c = ur
    arm.connect()
    stream_to(arm, c, SPEC.home + 0.01)
    q_before = c.q.copy()
    c.drop_network()
    f = wait_until(lambda: arm.fault, "the disconnect fault")
    assert f.kind == "disconnected" and "confirm the reconnect" in str(f)
    assert not arm.is_connected() and arm._loop.alive
    with pytest.raises(ArmFault, match="disconnected"):
        arm.read_state()  # no fresh reading: never reported as current
    assert arm.send(q_before + 0.01) is f
    with pytest.raises(ArmError, match="cannot reconnect the RTDE receive link"):
        arm.reconnect(confirmed=True)  # the cable is still out
    c.restore_network()
    assert not arm.is_connected()  # a link that dropped stays down until reconnect()
    with pytest.raises(ArmError, match="confirmation"):
        arm.reconnect(False)
    time.sleep(0.15)  # longer than the 10 Hz watchdog: the controller stopped the script meanwhile
    msg = arm.reconnect(confirmed=True)
    assert "cleared disconnected" in msg and arm.fault is None and arm.is_connected()
    assert ("reconnect_receive",) in c.calls and ("reconnect_control",) in c.calls and ("reuploadScript",) in c.calls
    np.testing.assert_allclose(arm.read_state().q, q_before)
    stream_to(arm, c, q_before + 0.01, "streaming to resume after the reconnect")


def test_a_stalled_servo_thread_trips_the_rtde_watchdog():
    """No kick for longer than 1/min_frequency: the controller stops the script; the loop reports
    program_stopped and the confirmed reconnect re-uploads it."""
    arm, c = make_ur(watchdog_min_frequency=50.0)
    with arm:
        stream_to(arm, c, SPEC.home + 0.01)
        assert ("setWatchdog", 50.0) in c.calls
        arm._loop.stop()  # the servo thread stalls (what a hung workstation looks like to the robot)
        time.sleep(0.1)
        arm._loop.start(c.q)
        f = wait_until(lambda: arm.fault, "the program_stopped fault")
        assert f.kind == "program_stopped" and "RTDE watchdog" in str(f)
        assert ("program_stopped", "watchdog") in c.calls
        uploads = c.uploads
        arm.reconnect(confirmed=True)
        assert c.uploads == uploads + 1 and arm.fault is None
        stream_to(arm, c, SPEC.home + 0.02)


def test_rejected_servoj_holds_and_reports(ur):
    arm, c = ur
    arm.connect()
    stream_to(arm, c, SPEC.home + 0.01)
    c.reject_servo = 1
    assert arm.send(SPEC.home + 0.02) is None
    f = wait_until(lambda: arm.fault, "the servo_rejected fault")
    assert f.kind == "servo_rejected" and "returned False" in str(f)
    wait_until(lambda: n_calls(c, "servoStop") >= 1, "servoStop after the rejection")
    n = n_calls(c, "servoJ")
    assert arm.send(SPEC.home + 0.02) is f
    time.sleep(0.05)
    assert n_calls(c, "servoJ") == n and arm._loop.alive
    arm.reconnect(confirmed=True)  # nothing to reconnect: clears the fault after confirmation
    stream_to(arm, c, SPEC.home + 0.02)


def test_servoj_that_raises_holds_and_reports():
    class ScriptGone(FakeRTDEControlInterface):
        def servoJ(self, arg0, arg1, arg2, arg3, arg4, arg5):
            raise RuntimeError("RTDE control script is not running!")

    CONTROLLERS.clear()
    c = CONTROLLERS[HOST] = FakeController(SPEC.home)
    arm = make_arm("ur_rtde", "ur5e", host=HOST, control_cls=ScriptGone, receive_cls=FakeRTDEReceiveInterface)
    with arm:
        arm.send(SPEC.home + 0.01)
        f = wait_until(lambda: arm.fault, "the fault")
        assert f.kind == "servo_rejected" and "script is not running" in str(f)
        assert arm._loop.alive and arm.send(SPEC.home) is f
    assert ("stopScript",) in c.calls


def test_a_stop_between_the_read_and_the_servoj_is_reported_as_that_stop():
    """The cell stops the arm after the cycle read its state and before its servoJ: the controller refuses
    the servoJ, and the fault names the stop (from a fresh reading), not just the refusal."""
    class StoppedMeanwhile(FakeRTDEControlInterface):
        def servoJ(self, arg0, arg1, arg2, arg3, arg4, arg5):
            if self.c.counts["servoJ"] >= 3:  # a few cycles streamed, then a collision
                self.c.protective_stop()
            return super().servoJ(arg0, arg1, arg2, arg3, arg4, arg5)

    CONTROLLERS.clear()
    CONTROLLERS[HOST] = FakeController(SPEC.home)
    arm = make_arm("ur_rtde", "ur5e", host=HOST, control_cls=StoppedMeanwhile, receive_cls=FakeRTDEReceiveInterface)
    with arm:
        arm.send(SPEC.home + 0.01)
        f = wait_until(lambda: arm.fault, "the fault")
        assert f.kind == "protective_stop", f


def test_read_errors_are_a_fault_after_a_bound(ur):
    arm, c = ur
    arm.connect()
    c.fail_reads = 2  # a glitch below the bound: no fault
    wait_until(lambda: c.fail_reads == 0, "the reads to fail")
    time.sleep(0.02)
    assert arm.fault is None
    c.fail_reads = 10 ** 6
    f = wait_until(lambda: arm.fault, "the read fault")
    assert f.kind == "read_error" and "consecutive RTDE reads failed" in str(f)
    with pytest.raises(ArmFault, match="read error"):
        arm.read_state()
    c.fail_reads = 0
    arm.reconnect(confirmed=True)
    assert arm.read_state().q.shape == (6,)


def test_measured_state_out_of_limits_frozen_or_off_the_command_is_a_fault():
    """Issue 12 item 3 for the UR: none of these is "recovered" from; each holds until the
    operator confirms the reconnect."""
    for inject, kind in [(lambda c: c.q.__setitem__(0, 1e6), "state_out_of_limits"),
                         (lambda c: setattr(c, "freeze_reads", True), "frozen_state"),
                         (lambda c: setattr(c, "blocked", True), "following_error")]:
        arm, c = make_ur()
        with arm:
            stream_to(arm, c, SPEC.home + 0.01)
            with c.lock:
                inject(c)
            q = SPEC.home + 0.01
            for _ in range(60):  # keep commanding a motion at 0.5 rad/s, as arm_node would
                q = q + 0.01
                arm.send(q)
                if arm.fault is not None:
                    break
                time.sleep(0.02)
            f = wait_until(lambda: arm.fault, f"the {kind} fault")
            assert f.kind == kind and "confirm the reconnect" in str(f), str(f)
            n = n_calls(c, "servoJ")
            time.sleep(0.05)
            assert n_calls(c, "servoJ") == n and arm._loop.alive


def test_robot_not_ready_or_not_in_remote_control_at_connect():
    arm, c = make_ur()
    c.protective_stop()
    with pytest.raises(ArmError, match="not ready: protective stop.*teach pendant"):
        arm.connect()
    assert not arm.is_connected() and ("disconnect_control",) in c.calls
    arm, c = make_ur()
    c.remote_control = False
    with pytest.raises(ArmError, match="Remote Control mode"):
        arm.connect()


def test_host_comes_from_the_rig_file_and_empty_or_placeholder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTBC_CALIBRATION_DIR", str(tmp_path))
    with pytest.raises(CalibrationError, match=r"rtde.yaml: UR controller settings not found.*Settings > System > Network"):
        make_arm("ur_rtde", "ur5e", host="")
    (tmp_path / "ur5e").mkdir()
    f = tmp_path / "ur5e" / "rtde.yaml"
    for text, why in [("host: ''\n", "missing or empty"), ("other: 1\n", "missing or empty"),
                      ("host: SET_ME\n", "still the placeholder"), ("host: 'not a host!'\n", "neither an IP"),
                      ("host: 3\n", "must be a string")]:
        f.write_text(text)
        with pytest.raises(CalibrationError, match=f"rtde.yaml: field 'host'.*{why}.*set `host:` to the robot's IP"):
            make_arm("ur_rtde", "ur5e", host="")
    f.write_text("host: 10.1.2.3\n")
    assert make_arm("ur_rtde", "ur5e", host="").host == "10.1.2.3"
    assert make_arm("ur_rtde", "ur5e", host="ur5e-cell.local").host == "ur5e-cell.local"  # the parameter wins


def test_shipped_rig_file_has_no_address():
    """The source tree ships a placeholder: starting the real arm without setting it is refused."""
    from postbc_ros.drivers.arm.ur_rig import load_ur_rig
    from postbc_ros.resources import calibration_root

    with pytest.raises(CalibrationError, match="still the placeholder 'SET_ME'"):
        load_ur_rig(calibration_root() / "ur5e" / "rtde.yaml")
    src = Path(inspect.getsourcefile(make_arm)).parent
    assert not [p.name for p in src.glob("ur_*.py") if re.search(r"\b\d+\.\d+\.\d+\.\d+\b", p.read_text())]


def test_bad_parameters_and_unreachable_robot():
    CONTROLLERS.clear()
    with pytest.raises(ArmError, match="lookahead_time"):
        make_arm("ur_rtde", "ur5e", host="x", lookahead_time=0.5)
    with pytest.raises(ArmError, match="gain"):
        make_arm("ur_rtde", "ur5e", host="x", gain=5)
    arm = make_arm("ur_rtde", "ur5e", host="10.9.9.9", control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface)
    with pytest.raises(ArmError, match=r"cannot connect to the UR controller at 10\.9\.9\.9.*Remote Control"):
        arm.connect()
    with pytest.raises(TypeError, match="no parameter 'lookahed'"):
        make_arm("ur_rtde", "ur5e", host="x", lookahed=0.1)


class URCapGripperServer:
    """Loopback TCP server speaking the Robotiq URCap gripper socket protocol (port 63352)."""

    def __init__(self):
        import socket
        import threading

        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.vars = {"ACT": 0, "STA": 0, "GTO": 0, "POS": 0, "SPE": 0, "FOR": 0}
        self.log: list[str] = []
        self._polls = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.srv.accept()
        buf = b""
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    conn.sendall(self._handle(line.decode().strip()).encode() + b"\n")

    def _handle(self, line: str) -> str:
        self.log.append(line)
        parts = line.split()
        if len(parts) == 3 and parts[0] == "SET" and parts[1] in self.vars and parts[2].isdigit():
            v = int(parts[2])
            if parts[1] == "POS" and not self.vars["STA"] == 3:
                return "ack"  # ignored until activated, like the real gripper
            self.vars[parts[1]] = min(v, 255)
            if parts[1] == "ACT" and v == 1:
                self.vars["STA"] = 1  # activation in progress
            return "ack"
        if len(parts) == 2 and parts[0] == "GET" and parts[1] in self.vars:
            if parts[1] == "STA" and self.vars["STA"] == 1:
                self._polls += 1
                if self._polls >= 3:
                    self.vars["STA"] = 3
            return f"{parts[1]} {self.vars[parts[1]]}"
        return "?"


def test_robotiq_gripper_through_urcap_socket():
    CONTROLLERS.clear()
    c = CONTROLLERS["127.0.0.1"] = FakeController(SPEC.home)
    server = URCapGripperServer()
    arm = make_arm("ur_rtde", "ur5e", host="127.0.0.1", gripper="robotiq", gripper_port=server.port,
                   control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface)
    with arm:
        assert server.vars["STA"] == 3 and server.vars["GTO"] == 1  # activated on connect
        assert arm.read_state().gripper == 0.0
        arm.command(SPEC.home, 1.0)
        assert server.vars["POS"] == 255 and arm.read_state().gripper == 1.0
        arm.command(SPEC.home, 1.0)
        assert server.log.count("SET POS 255") == 1  # unchanged closure is not resent
        arm.command(SPEC.home, 0.5)
        assert arm.read_state().gripper == pytest.approx(128 / 255)
    assert ("stopScript",) in c.calls


def test_robotiq_unreachable():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    CONTROLLERS.clear()
    CONTROLLERS["127.0.0.1"] = FakeController(SPEC.home)
    arm = make_arm("ur_rtde", "ur5e", host="127.0.0.1", gripper="robotiq", gripper_port=port,
                   control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface)
    with pytest.raises(ArmError, match=f"cannot connect to 127.0.0.1:{port}.*URCap"):
        arm.connect()
    assert not arm.is_connected() and ("stopScript",) in CONTROLLERS["127.0.0.1"].calls


def test_free_drive_is_teach_mode_between_servo_streams(ur):
    """free_drive(True) leaves servo mode before teachMode (the fake asserts both orders), refuses
    setpoints meanwhile while the thread keeps reading and kicking the watchdog; the hand-moved
    arm is held where it is after endTeachMode, and streaming resumes from there without a jump."""
    arm, c = ur
    arm.connect()
    assert arm.can_free_drive
    stream_to(arm, c, SPEC.home + 0.01)
    with pytest.raises(ArmError, match="refused without the operator's confirmation"):
        arm.free_drive(True)
    assert not c.teach
    assert "teach mode" in arm.free_drive(True, confirmed=True)
    assert c.teach and not c.servo_active
    with pytest.raises(ArmError, match="free drive"):
        arm.send(SPEC.home)
    kicks = c.kicks
    with c.lock:  # the operator moves the arm by hand
        c.q = c.q + np.array([0.3, -0.2, 0.1, 0.0, 0.0, 0.0])
    moved = c.q.copy()
    wait_until(lambda: np.allclose(arm.read_state().q, moved), "the hand-moved arm's reading")
    wait_until(lambda: c.kicks > kicks + 5, "watchdog kicks during free drive")
    assert "holding" in arm.free_drive(False)
    assert not c.teach and arm.fault is None
    stream_to(arm, c, moved + 0.01, "streaming to resume from where the hand left the arm")
    assert arm.fault is None, "resuming from the moved pose tripped a fault (a jump back to the old setpoint?)"
    arm.free_drive(True, confirmed=True)
    arm.disconnect()  # ends teach mode before the script stops
    assert not c.teach and ("endTeachMode",) in c.calls
