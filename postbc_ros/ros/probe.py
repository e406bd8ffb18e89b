"""`Probe`: an rclpy node living in a process that is not part of the graph (a test, a benchmark),
on the graph's ROS_DOMAIN_ID with its own Context, spinning in a thread: subscribe and keep what
arrives (with arrival times), publish, wait for a condition, call a service.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

_DOMAIN_BASE = 100 + (os.getpid() % 40) * 3
_counter = [0]


def unique_domain() -> int:
    """A ROS_DOMAIN_ID no other graph of this process (or, likely, of a parallel run) uses."""
    _counter[0] += 1
    return (_DOMAIN_BASE + _counter[0] * 7) % 200 + 10


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

    def client(self, srv_type, name: str, timeout: float = 20.0):
        """A client of `name`, ready for its first request (made once, reused). `wait_for_service`
        only says the server's request reader is matched; a response sent before the server has
        matched the new client's reply reader is dropped (Fast DDS waits 100 ms, ros2/ros2#1253),
        so a new client waits a moment more."""
        cli = self._clients.get(name)
        if cli is None:
            cli = self.node.create_client(srv_type, name)
            if not cli.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available after {timeout} s")
            time.sleep(1.0)
            self._clients[name] = cli
        return cli

    def call(self, srv_type, name: str, request=None, timeout: float = 20.0):
        """Call `name` and return its response (TimeoutError when it does not answer)."""
        cli = self.client(srv_type, name, timeout)
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
