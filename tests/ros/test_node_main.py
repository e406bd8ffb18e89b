"""node_main.run_node: a signal ends spinning, and further signals do not cut close() short."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from postbc_ros.ros.bootstrap import dds_env

from .harness import unique_domain

ROOT = Path(__file__).resolve().parents[2]

NODE = textwrap.dedent("""
    import os, signal, sys, time
    from postbc_ros.ros.bootstrap import ensure_rclpy
    ensure_rclpy()
    from rclpy.node import Node
    from postbc_ros.ros.node_main import run_node

    class N(Node):
        def __init__(self):
            super().__init__("node_main_probe")
            self.create_timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C while spinning

        def close(self):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while closing
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's escalation
            time.sleep(0.3)
            print("closed completely", flush=True)

    sys.exit(run_node(N, threads=%d))
""")


def _run(threads: int) -> subprocess.CompletedProcess:
    env = dds_env(domain_id=unique_domain(), base=dict(os.environ, PYTHONPATH=str(ROOT)))
    return subprocess.run([sys.executable, "-c", NODE % threads], env=env, capture_output=True, text=True, timeout=60)


def test_signals_during_close_are_reported_and_close_finishes():
    for threads in (1, 2):  # SingleThreadedExecutor (EGL nodes) and MultiThreadedExecutor
        r = _run(threads)
        assert r.returncode == 0, r.stderr
        assert "closed completely" in r.stdout, r.stderr
        assert "SIGINT ignored while the node closes" in r.stderr
        assert "SIGTERM ignored while the node closes" in r.stderr


SLOW_START = textwrap.dedent("""
    import sys, time
    from postbc_ros.ros.bootstrap import ensure_rclpy
    ensure_rclpy()
    from rclpy.node import Node
    from postbc_ros.ros.node_main import run_node

    class Slow(Node):
        def __init__(self):
            super().__init__("node_main_slow")
            print("building", flush=True)
            time.sleep(60)  # e.g. waiting for a device that never answers

    sys.exit(run_node(Slow))
""")


def test_a_signal_interrupts_a_node_that_is_still_being_built():
    import signal
    import time

    env = dds_env(domain_id=unique_domain(), base=dict(os.environ, PYTHONPATH=str(ROOT)))
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([sys.executable, "-c", SLOW_START], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout.readline().strip() == "building"
        t0 = time.monotonic()
        proc.send_signal(sig)
        out = proc.communicate(timeout=20)[0]
        assert proc.returncode == 0 and time.monotonic() - t0 < 10, out
