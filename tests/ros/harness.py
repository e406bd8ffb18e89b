"""Helpers for the ROS 2 integration tests: start real node graphs as processes, probe them.

* `launched(graph, args, tmp_path)`: `postbc launch`'s Supervisor on a unique ROS_DOMAIN_ID with
  loopback-only discovery; yields the Supervisor (logs collected in memory, dumped on failure).
* `Probe`: an rclpy node in this test process (own Context, same domain) spinning in a thread,
  with helpers to wait for messages and call services.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from postbc_ros.graph import build_graph
from postbc_ros.graph.supervisor import Supervisor

_DOMAIN_BASE = 100 + (os.getpid() % 40) * 3
_counter = [0]


def unique_domain() -> int:
    """A ROS_DOMAIN_ID no other test of this run (or a parallel run) uses."""
    _counter[0] += 1
    return (_DOMAIN_BASE + _counter[0] * 7) % 200 + 10


def stop_node_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15.0) -> str:
    """Send `sig` to a node started with stdout piped (text) and return its output once it exits.
    A node still alive after `timeout` s has its thread stacks dumped (SIGUSR1: node_main registers
    faulthandler), is killed, and the test fails with its output."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        proc.kill()
        raise AssertionError(f"node did not exit {timeout:.0f} s after {signal.Signals(sig).name}:\n"
                             + proc.communicate()[0]) from None


class _Log(io.StringIO):
    def __init__(self, echo: bool):
        super().__init__()
        self.echo = echo
        self._lock = threading.Lock()

    def write(self, s):
        with self._lock:
            if self.echo:
                print(s, end="", flush=True)
            return super().write(s)


@contextlib.contextmanager
def launched(graph: str, args: dict[str, str], run_dir: Path, echo: bool = False, grace: float = 5.0):
    spec = build_graph(graph, {**args, "domain_id": str(args.get("domain_id", unique_domain())),
                               "discovery_range": "LOCALHOST"})
    log = _Log(echo)
    sup = Supervisor(spec, Path(run_dir), out=log, grace=grace)
    sup.log = log
    sup.start()
    try:
        yield sup
    except BaseException:
        print(log.getvalue()[-20000:])
        raise
    finally:
        sup.shutdown()


class Probe:
    """rclpy node living in the test process (its own Context) on `domain_id`."""

    def __init__(self, domain_id: int, name: str = "probe", use_sim_time: bool = False, clock_topic: str = "/clock"):
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter

        self.rclpy = rclpy
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.ctx,
                                      cli_args=["--ros-args", "-r", f"/clock:={clock_topic}"])
        if use_sim_time:
            self.node.set_parameters([Parameter("use_sim_time", Parameter.Type.BOOL, True)])
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self.messages: dict[str, list] = {}
        self.arrivals: dict[str, list[float]] = {}
        self._clients: dict[str, object] = {}

    def _spin(self):
        try:
            self.executor.spin()
        except Exception:
            pass

    def subscribe(self, msg_type, topic: str, qos=10) -> list:
        box = self.messages.setdefault(topic, [])
        times = self.arrivals.setdefault(topic, [])

        def _cb(m):
            box.append(m)
            times.append(time.monotonic())

        self.node.create_subscription(msg_type, topic, _cb, qos)
        return box

    def publisher(self, msg_type, topic: str, qos=10):
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_for(self, cond: Callable[[], Any], timeout: float, what: str) -> Any:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            v = cond()
            if v:
                return v
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")

    def call(self, srv_type, name: str, request=None, timeout: float = 20.0):
        """One client per service, reused. `wait_for_service` only says the server's request
        reader is matched; a response sent before the server has matched the new client's reply
        reader is dropped (Fast DDS waits 100 ms, ros2/ros2#1253), so a new client waits a
        moment more before its first request."""
        cli = self._clients.get(name)
        if cli is None:
            cli = self.node.create_client(srv_type, name)
            if not cli.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available after {timeout} s")
            time.sleep(1.0)
            self._clients[name] = cli
        fut = cli.call_async(request if request is not None else srv_type.Request())
        ev = threading.Event()
        fut.add_done_callback(lambda _f: ev.set())
        if not ev.wait(timeout):
            raise TimeoutError(f"service {name} did not answer in {timeout} s")
        return fut.result()

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self._thread.join(timeout=5.0)  # no callback may still run when the node's handles go
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.ctx)
