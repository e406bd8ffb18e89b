"""Robotiq 2F gripper on a UR through the Robotiq URCap's ASCII socket (TCP port 63352).

Protocol (Robotiq URCap "gripper socket"): one command per line, ``SET <VAR> <value>`` is
answered with ``ack``, ``GET <VAR>`` with ``<VAR> <value>``. Variables used: ACT (activate),
GTO (go to), POS (0 = open .. 255 = closed), SPE (speed), FOR (force), STA (3 = activated).
The normalised gripper command of postbc_ros (0 open .. 1 closed) maps linearly to POS.
"""
from __future__ import annotations

import socket
import time

from postbc_ros.drivers.arm.base import ArmError


class RobotiqSocketGripper:
    """Minimal client for the URCap gripper socket."""

    def __init__(self, host: str, port: int = 63352, timeout: float = 2.0, speed: int = 255, force: int = 100,
                 activation_timeout: float = 5.0) -> None:
        self.host, self.port = host, int(port)
        self.timeout = float(timeout)
        self.speed, self.force = int(speed), int(force)
        self.activation_timeout = float(activation_timeout)
        self._sock: socket.socket | None = None
        self._buf = b""
        self._last_pos: int | None = None

    def _ask(self, line: str) -> str:
        if self._sock is None:
            raise ArmError("robotiq gripper: not connected")
        try:
            self._sock.sendall(line.encode() + b"\n")
            while b"\n" not in self._buf:
                chunk = self._sock.recv(1024)
                if not chunk:
                    raise ArmError(f"robotiq gripper at {self.host}:{self.port}: connection closed by the URCap")
                self._buf += chunk
        except socket.timeout as e:
            raise ArmError(f"robotiq gripper at {self.host}:{self.port}: no answer to {line!r} within {self.timeout} s") from e
        reply, self._buf = self._buf.split(b"\n", 1)
        return reply.decode().strip()

    def _set(self, var: str, value: int) -> None:
        reply = self._ask(f"SET {var} {int(value)}")
        if reply != "ack":
            raise ArmError(f"robotiq gripper: SET {var} {value} answered {reply!r} (expected 'ack')")

    def _get(self, var: str) -> int:
        reply = self._ask(f"GET {var}")
        name, _, value = reply.partition(" ")
        if name != var or not value.strip().lstrip("-").isdigit():
            raise ArmError(f"robotiq gripper: GET {var} answered {reply!r}")
        return int(value)

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise ArmError(f"robotiq gripper: cannot connect to {self.host}:{self.port} ({e}); is the Robotiq URCap installed "
                           "and the gripper socket enabled on the robot?") from e
        if self._get("STA") != 3:
            self._set("ACT", 1)
            t_end = time.monotonic() + self.activation_timeout
            while self._get("STA") != 3:
                if time.monotonic() > t_end:
                    raise ArmError(f"robotiq gripper: not activated within {self.activation_timeout} s (check the gripper cable / faults)")
                time.sleep(0.05)
        self._set("GTO", 1)
        self._set("SPE", self.speed)
        self._set("FOR", self.force)

    def command(self, closure: float) -> None:
        """Go to normalised closure 0 (open) .. 1 (closed); repeated equal commands are not resent."""
        pos = int(round(min(max(float(closure), 0.0), 1.0) * 255))
        if pos != self._last_pos:
            self._set("POS", pos)
            self._last_pos = pos

    def position(self) -> float:
        return self._get("POS") / 255.0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
