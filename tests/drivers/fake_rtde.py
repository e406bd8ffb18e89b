"""Fake ur_rtde interfaces with the library's exact method signatures (checked against the
installed pybind docstrings in test_ur_rtde.py). They behave like a UR controller would:
arguments are type- and range-checked the way the robot rejects them, servoJ targets move a
simulated joint state, and a target too far from the current position triggers a protective
stop (servoJ returns False from then on)."""
from __future__ import annotations

import math

import numpy as np


class FakeController:
    """Shared robot state for one fake UR (what the real controller box holds)."""

    def __init__(self, q0, max_jump: float = 0.2) -> None:
        self.q = np.array(q0, dtype=float)
        self.qd = np.zeros(6)
        self.max_jump = max_jump
        self.protective_stop = False
        self.connected = True
        self.calls: list[tuple] = []
        self.servo_active = False


CONTROLLERS: dict[str, FakeController] = {}


def _check_q(q, what):
    assert isinstance(q, list) and len(q) == 6, f"{what}: q must be a list of 6 floats (pybind list[float]), got {q!r}"
    assert all(isinstance(x, float) and math.isfinite(x) for x in q), f"{what}: q must hold finite Python floats, got {q!r}"


class FakeRTDEControlInterface:
    def __init__(self, hostname: str, frequency: float = -1.0, flags: int = 1, ur_cap_port: int = 50002, rt_priority: int = 0) -> None:
        if hostname not in CONTROLLERS:
            raise RuntimeError(f"Could not connect to robot at {hostname}")  # what ur_rtde raises
        self.c = CONTROLLERS[hostname]

    def servoJ(self, arg0: list, arg1: float, arg2: float, arg3: float, arg4: float, arg5: float) -> bool:
        c = self.c
        c.calls.append(("servoJ", arg0, arg1, arg2, arg3, arg4, arg5))
        _check_q(arg0, "servoJ")
        assert all(isinstance(a, float) for a in (arg1, arg2, arg3, arg4, arg5)), "servoJ: speed, acceleration, time, lookahead, gain are floats"
        assert arg3 > 0, "servoJ: time must be > 0"
        assert 0.03 <= arg4 <= 0.2, f"servoJ: lookahead_time {arg4} outside [0.03, 0.2]"
        assert 100 <= arg5 <= 2000, f"servoJ: gain {arg5} outside [100, 2000]"
        if c.protective_stop or not c.connected:
            return False
        target = np.array(arg0)
        if np.max(np.abs(target - c.q)) > c.max_jump:
            c.protective_stop = True  # the controller faults on a jump
            return False
        c.qd = (target - c.q) / arg3
        c.q = target
        c.servo_active = True
        return True

    def servoStop(self, a: float = 10.0) -> bool:
        assert isinstance(a, float) and a > 0
        self.c.calls.append(("servoStop", a))
        self.c.servo_active = False
        self.c.qd = np.zeros(6)
        return True

    def speedStop(self, a: float = 10.0) -> bool:
        self.c.calls.append(("speedStop", a))
        return True

    def moveJ(self, q: list, speed: float = 1.05, acceleration: float = 1.4, asynchronous: bool = False) -> bool:
        self.c.calls.append(("moveJ", q, speed, acceleration, asynchronous))
        _check_q(q, "moveJ")
        assert self.c.servo_active is False, "moveJ while in servo mode: call servoStop first"
        assert 0 < speed <= 3.14 and 0 < acceleration <= 40.0
        if self.c.protective_stop:
            return False
        self.c.q = np.array(q)
        return True

    def stopScript(self) -> None:
        self.c.calls.append(("stopScript",))

    def isConnected(self) -> bool:
        return self.c.connected

    def disconnect(self) -> None:
        self.c.calls.append(("disconnect_control",))
        self.c.connected = False


class FakeRTDEReceiveInterface:
    def __init__(self, hostname: str, frequency: float = -1.0, variables: list = [], verbose: bool = False,  # noqa: B006 - mirrors the library
                 use_upper_range_registers: bool = False, rt_priority: int = 0) -> None:
        if hostname not in CONTROLLERS:
            raise RuntimeError(f"Could not connect to robot at {hostname}")
        self.c = CONTROLLERS[hostname]

    def getActualQ(self) -> list:
        return [float(x) for x in self.c.q]

    def getActualQd(self) -> list:
        return [float(x) for x in self.c.qd]

    def getTimestamp(self) -> float:
        return 0.0

    def isConnected(self) -> bool:
        return self.c.connected

    def disconnect(self) -> None:
        self.c.calls.append(("disconnect_receive",))
