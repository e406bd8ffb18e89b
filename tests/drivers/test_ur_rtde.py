"""UR backend against fake RTDE interfaces that mirror ur_rtde's exact signatures."""
from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_rtde import CONTROLLERS, FakeController, FakeRTDEControlInterface, FakeRTDEReceiveInterface  # noqa: E402

from postbc_ros.drivers.arm import ArmError, make_arm  # noqa: E402
from postbc_ros.robots import get_robot_spec  # noqa: E402

SPEC = get_robot_spec("ur5e")


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
    ("rtde_control.RTDEControlInterface", FakeRTDEControlInterface,
     ["__init__", "servoJ", "servoStop", "speedStop", "moveJ", "stopScript", "isConnected", "disconnect"]),
    ("rtde_receive.RTDEReceiveInterface", FakeRTDEReceiveInterface,
     ["__init__", "getActualQ", "getActualQd", "getTimestamp", "isConnected", "disconnect"]),
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


@pytest.fixture
def ur():
    CONTROLLERS.clear()
    c = CONTROLLERS["10.0.0.5"] = FakeController(SPEC.home)
    arm = make_arm("ur_rtde", "ur5e", host="10.0.0.5", control_dt=0.008, lookahead_time=0.05, gain=500,
                   control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface, port="", baudrate=0)
    yield arm, c
    arm.disconnect()


def test_stream_hold_home_disconnect(ur):
    arm, c = ur
    arm.connect()
    assert arm.is_connected()
    st = arm.read_state()
    np.testing.assert_allclose(st.q, SPEC.home)
    assert st.gripper is None
    target = SPEC.home + 0.01
    arm.command(np.asarray(target, dtype=np.float32), 0.7)  # numpy input is converted to list[float]
    name, q, speed, acc, t, look, gain = c.calls[-1]
    assert name == "servoJ" and t == 0.008 and look == 0.05 and gain == 500.0
    np.testing.assert_allclose(arm.read_state().q, target, atol=1e-6)
    np.testing.assert_allclose(arm.read_state().dq, 0.01 / 0.008, atol=1e-3)
    arm.hold()
    assert c.calls[-1][0] == "servoStop"
    arm.hold()  # not servoing: no second servoStop
    assert [x[0] for x in c.calls].count("servoStop") == 1
    arm.disconnect()
    assert not arm.is_connected()
    assert ("stopScript",) in c.calls and ("disconnect_receive",) in c.calls


def test_protective_stop_is_reported(ur):
    arm, c = ur
    arm.connect()
    with pytest.raises(ArmError, match="protective stop"):
        arm.command(SPEC.home + 1.0)  # a jump the controller refuses
    with pytest.raises(ArmError, match="non-finite"):
        arm.command([np.nan] * 6)


def test_bad_parameters_and_unreachable_robot():
    CONTROLLERS.clear()
    with pytest.raises(ArmError, match="lookahead_time"):
        make_arm("ur_rtde", "ur5e", host="x", lookahead_time=0.5)
    with pytest.raises(ArmError, match="gain"):
        make_arm("ur_rtde", "ur5e", host="x", gain=5)
    arm = make_arm("ur_rtde", "ur5e", host="10.9.9.9", control_cls=FakeRTDEControlInterface, receive_cls=FakeRTDEReceiveInterface)
    with pytest.raises(ArmError, match=r"cannot connect to the UR controller at 10\.9\.9\.9.*remote control"):
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
