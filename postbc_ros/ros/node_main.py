"""Process entry for every node: init, spin, clean shutdown on SIGINT/SIGTERM, exit code."""
from __future__ import annotations

import sys
from typing import Callable

from postbc_ros.ros.bootstrap import ensure_rclpy


def run_node(factory: Callable[[], object], argv: list[str] | None = None, threads: int = 2) -> int:
    """Create the node with `factory()` and spin until shutdown. Returns the process exit code.

    A MultiThreadedExecutor lets a node serve services while a long callback (inference, a
    learner update) runs in another callback group.
    """
    rclpy = ensure_rclpy()
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

    # rclpy's default signal handlers turn SIGINT/SIGTERM into a context shutdown, which ends
    # executor.spin() with ExternalShutdownException
    rclpy.init(args=sys.argv if argv is None else argv)
    node = None
    rc = 0
    try:
        node = factory()
        # threads=1: every callback in this (the creating) thread -- needed for EGL rendering
        executor = SingleThreadedExecutor() if threads <= 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as e:  # report why a node died, then exit non-zero for the supervisor
        import traceback

        traceback.print_exc()
        print(f"[fatal] {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        rc = 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as e:  # pragma: no cover
                    print(f"[close] {e}", file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
    return rc
