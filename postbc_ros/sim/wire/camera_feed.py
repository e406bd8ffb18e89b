"""The wire twin's camera as a device feed: rendered frames with their capture times over a local socket.

With `camera_backend:=realsense` the wire twin does not publish the scene camera itself: it serves
each rendered frame here, and camera_node's RealSense driver injects it into librealsense's
software device (drivers/camera/realsense_twin.py), so the images reach ROS through the real
backend (syncer, stamping, conversion, intrinsics, reopen after an unplug).

Transport: a Unix stream socket in Linux's abstract namespace, named after the feed's path (the
graph passes `<output_dir>/wire_twin/<ns>.camera`): no socket file is left behind by a killed
twin, and a long output_dir does not hit sun_path's 108-byte limit. A second twin on the same
path fails to bind, naming the path. Protocol (little-endian):

- on connect the server sends a hello: `HELLO_MAGIC`, u32 JSON length, JSON `FeedInfo` (image
  size, frame rate, pinhole intrinsics of the rendered image, the camera's name);
- then per frame: `FRAME_MAGIC`, u64 frame number, f64 capture time (time.time() seconds, the
  host system clock -- what librealsense calls global time), then height*width*3 RGB bytes.

`CameraFeedServer.send` never blocks the twin: it leaves the newest frame in a one-slot mailbox
that a sender thread writes to every client (a slow client sees fewer frames, never old ones; a
client that takes longer than SEND_TIMEOUT_S for one frame is dropped). ROS-free and
librealsense-free: `FeedClient` is the reading side, used by the driver.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import threading
from dataclasses import asdict, dataclass

import numpy as np

HELLO_MAGIC, FRAME_MAGIC = b"PBCH", b"PBCF"  # start of the hello and of every frame (a stream out of step is refused)
HELLO_HEADER = struct.Struct("<4sI")  # magic, JSON length
FRAME_HEADER = struct.Struct("<4sQd")  # magic, frame number, capture time [s, time.time()]
ADDRESS_PREFIX = "\0postbc_ros.camera_feed."  # abstract-namespace socket name (leading NUL: no file)
ADDRESS_HASH_CHARS = 32  # hex chars of sha256(path) in the address (sun_path holds 107 bytes)
MAX_HELLO_BYTES = 1 << 16  # a hello larger than this is not from a camera feed
LISTEN_BACKLOG = 4  # camera_node connects once (again after a reopen)
SEND_TIMEOUT_S = 1.0  # a client that takes longer to take one frame is dropped (it reconnects)
CONNECT_TIMEOUT_S = 1.0  # client: connect + hello
JOIN_S = 2.0  # close(): how long to wait for the server's threads


class FeedError(RuntimeError):
    """No feed at the path, or the stream broke / is not a camera feed; the message says which."""


@dataclass(frozen=True)
class FeedInfo:
    """What a client needs to build the device before the first frame: size, rate, pinhole model."""

    camera: str
    width: int
    height: int
    fps: int
    fx: float
    fy: float
    cx: float
    cy: float
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)  # plumb_bob k1 k2 p1 p2 k3 (a twin renders none)

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3


def feed_address(path: str | os.PathLike) -> str:
    """The abstract socket name of the feed at `path` (made absolute, so both processes agree)."""
    digest = hashlib.sha256(os.path.abspath(os.fspath(path)).encode()).hexdigest()[:ADDRESS_HASH_CHARS]
    return ADDRESS_PREFIX + digest


class CameraFeedServer:
    """Serves `send(image, capture_time)` frames to every connected client (see the module doc)."""

    def __init__(self, path: str | os.PathLike, info: FeedInfo) -> None:
        self.path, self.info = os.path.abspath(os.fspath(path)), info
        hello = json.dumps(asdict(info)).encode()
        self._hello = HELLO_HEADER.pack(HELLO_MAGIC, len(hello)) + hello
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.bind(feed_address(self.path))
        except OSError as e:
            self._sock.close()
            raise FeedError(f"camera feed {self.path}: cannot listen ({e}); is another wire twin serving this path? "
                            "Give each twin its own output_dir / namespace") from e
        self._sock.listen(LISTEN_BACKLOG)
        self._clients: list[socket.socket] = []
        self._cond = threading.Condition()
        self._mail: tuple[int, float, bytes] | None = None
        self._closed = False
        self.frames = 0  # frames handed to send()
        self._threads = [threading.Thread(target=t, name=f"camera-feed-{t.__name__}", daemon=True)
                         for t in (self._accept, self._deliver)]
        for t in self._threads:
            t.start()

    @property
    def clients(self) -> int:
        with self._cond:
            return len(self._clients)

    def send(self, image: np.ndarray, capture_time: float) -> None:
        """Queue `image` (H x W x 3 uint8 at the hello's size), captured at `capture_time`
        (time.time() seconds); replaces a frame not yet delivered."""
        shape = (self.info.height, self.info.width, 3)
        if image.shape != shape or image.dtype != np.uint8:
            raise ValueError(f"camera feed {self.path}: frame {image.shape} {image.dtype} differs from the announced "
                             f"{shape} uint8 (render at the FeedInfo's width x height)")
        with self._cond:
            self._mail = (self.frames, float(capture_time), np.ascontiguousarray(image).tobytes())
            self.frames += 1
            self._cond.notify()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            conn.settimeout(SEND_TIMEOUT_S)
            try:
                conn.sendall(self._hello)  # before it joins the list: no frame can interleave
            except OSError:
                conn.close()
                continue
            with self._cond:
                if self._closed:
                    conn.close()
                    return
                self._clients.append(conn)

    def _deliver(self) -> None:
        while True:
            with self._cond:
                while self._mail is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                (number, capture, data), self._mail = self._mail, None
                clients = list(self._clients)
            header = FRAME_HEADER.pack(FRAME_MAGIC, number, capture)
            for conn in clients:
                try:
                    conn.sendall(header)
                    conn.sendall(data)
                except OSError:  # gone, or too slow (SEND_TIMEOUT_S): it reconnects after its driver's reopen
                    with self._cond:
                        self._clients.remove(conn)
                    conn.close()

    def close(self) -> None:
        """Stop serving: clients see the stream end (their camera disappears)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            clients, self._clients = self._clients, []
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._sock.close()
        for t in self._threads:
            t.join(timeout=JOIN_S)
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> "CameraFeedServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeedClient:
    """The reading side: `FeedClient(path)` connects and reads the hello (`info`); `recv()` returns
    (frame number, capture time [time.time() s], H x W x 3 uint8 image) and raises FeedError when the
    stream ends. `close()` (from any thread) makes a blocked `recv()` raise."""

    def __init__(self, path: str | os.PathLike, timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(feed_address(self.path))
            magic, n = HELLO_HEADER.unpack(self._exact(HELLO_HEADER.size))
            if magic != HELLO_MAGIC or n > MAX_HELLO_BYTES:
                raise FeedError(f"camera feed {self.path}: not a camera feed (hello {magic!r}, {n} bytes)")
            fields = json.loads(self._exact(n))
            self.info = FeedInfo(**{**fields, "coeffs": tuple(fields.get("coeffs", ()))})
        except FeedError:
            self._sock.close()
            raise
        except (OSError, ValueError, TypeError) as e:
            self._sock.close()
            raise FeedError(f"camera feed {self.path}: no wire twin serving it ({e}); is wire_twin_node running "
                            "with camera_feed set to this path?") from e
        self._sock.settimeout(None)  # frames come at the twin's rate; close() ends a blocked read

    def _exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self._sock.recv_into(view[got:])
            if k == 0:
                raise FeedError(f"camera feed {self.path}: the twin stopped serving (stream closed)")
            got += k
        return buf

    def recv(self) -> tuple[int, float, np.ndarray]:
        try:
            magic, number, capture = FRAME_HEADER.unpack(self._exact(FRAME_HEADER.size))
            if magic != FRAME_MAGIC:
                raise FeedError(f"camera feed {self.path}: stream out of step (got {magic!r}, expected {FRAME_MAGIC!r})")
            data = self._exact(self.info.frame_bytes)
        except OSError as e:
            raise FeedError(f"camera feed {self.path}: stream broke ({e})") from e
        image = np.frombuffer(data, np.uint8).reshape(self.info.height, self.info.width, 3)
        return int(number), float(capture), image

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def serve_scene_camera(path: str, camera: str, intrinsics, rate: float) -> CameraFeedServer | None:
    """The wire twin's feed of `camera` rendered with `intrinsics` (anything with width, height, fx,
    fy, cx, cy, D: drivers.camera's CameraIntrinsics) at `rate` Hz; None when `path` is '' (the twin
    publishes the camera topics itself). The announced rate is the nearest whole fps (librealsense's
    stream profiles have integer rates; the graph asks camera_node for the same)."""
    if not path:
        return None
    if rate <= 0:
        raise ValueError(f"camera feed {path}: camera_rate must be > 0 to feed a camera (got {rate}); "
                         "camera_rate:=0 disables images")
    coeffs = tuple(float(x) for x in list(intrinsics.D)[:5])
    return CameraFeedServer(path, FeedInfo(camera, int(intrinsics.width), int(intrinsics.height), feed_fps(rate),
                                           float(intrinsics.fx), float(intrinsics.fy), float(intrinsics.cx),
                                           float(intrinsics.cy), coeffs + (0.0,) * (5 - len(coeffs))))


def feed_fps(rate: float) -> int:
    """The integer frame rate a feed at `rate` Hz announces (at least 1)."""
    return max(1, round(rate))
