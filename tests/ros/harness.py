"""Helpers for the ROS 2 integration tests: start real node graphs as processes, probe them.

* `launched(graph, args, tmp_path)`: `postbc launch`'s Supervisor on a unique ROS_DOMAIN_ID with
  loopback-only discovery; yields the Supervisor (logs collected in memory, dumped on failure).
* `Probe` (postbc_ros.ros.probe): an rclpy node in this test process, on the graph's domain.
"""
from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import threading
import time
from pathlib import Path

from postbc_ros.graph import build_graph
from postbc_ros.graph.supervisor import Supervisor
from postbc_ros.ros.probe import Probe, unique_domain  # noqa: F401  (the tests import them from here)

def run_until_exit(cmd: list[str], env: dict, timeout: float, exit_timeout: float) -> tuple[int | None, str, float]:
    """Run `cmd` (a `postbc launch` that ends by itself) until it exits: (exit code or None on a
    timeout, its output, seconds). On a timeout it is stopped with Ctrl-C first (a SIGKILLed
    launcher orphans its nodes), then killed after `exit_timeout`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    t0 = time.monotonic()
    try:
        rc = proc.wait(timeout=timeout)
        reader.join(timeout=5)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=exit_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return rc, "".join(lines), time.monotonic() - t0


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
