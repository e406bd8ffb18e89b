"""The local wire between ur_rtde look-alike interfaces and the UR twin's controller (ROS-free).

A Unix SOCK_SEQPACKET socket (one datagram per message, in order, connection-oriented) carrying
JSON objects `{"op": name, "args": [...]}`. Every op but the per-cycle streaming ones is a
request answered by `{"ok": value, "status": {...}}` (the controller's state at that instant,
`URController.status()`) or `{"error": text}`; servoJ and kickWatchdog are one-way, as ur_rtde
writes them to the controller's RTDE input registers without waiting for an answer.

The arm driver names the twin with the host `twin://<absolute socket path>` (TWIN_SCHEME).
"""
from __future__ import annotations

import json
import socket

TWIN_SCHEME = "twin://"  # host prefix of a UR twin: twin:///abs/path/to/rtde.sock
ONE_WAY = frozenset({"servoJ", "kickWatchdog"})  # streamed every servo cycle, never answered
MAX_MESSAGE = 65536  # bytes: the largest datagram either side sends (a status is ~600)
HELLO = "hello"  # first request of a connection (and of each interface on it): args [role]
CONTROL, LINK = "control", "link"  # hello roles: a control interface's constructor (uploads the script); a plain link


def is_twin_host(host: str | None) -> bool:
    return isinstance(host, str) and host.startswith(TWIN_SCHEME)


def socket_path(host: str) -> str:
    """The socket path of twin host `host` (ValueError naming the expected form otherwise)."""
    path = host[len(TWIN_SCHEME):] if is_twin_host(host) else ""
    if not path.startswith("/"):
        raise ValueError(f"UR twin host {host!r} must be {TWIN_SCHEME}<absolute socket path>, e.g. "
                         f"{TWIN_SCHEME}/tmp/run/wire_twin/robot1.rtde")
    return path


def twin_host(path: str) -> str:
    return TWIN_SCHEME + path


def new_socket() -> socket.socket:
    return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, msg: dict) -> None:
    sock.sendall(json.dumps(msg, separators=(",", ":")).encode())


def recv(sock: socket.socket) -> dict | None:
    """The next message, or None when the peer closed the connection."""
    data = sock.recv(MAX_MESSAGE)
    return json.loads(data) if data else None
