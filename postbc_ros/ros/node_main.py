"""Process entry for every node: init, spin, clean shutdown on SIGINT/SIGTERM, exit code."""
from __future__ import annotations

import faulthandler
import signal
import sys
from typing import Callable

from postbc_ros.ros.bootstrap import ensure_rclpy


SPIN_WAKE_S = 0.2  # longest time the main thread stays in the executor's wait (signal latency)
WORK_DONE = "work_done"  # a node attribute: True once its work is over; the process then closes and exits 0


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _closing(signum, _frame):
    print(f"[shutdown] {signal.Signals(signum).name} ignored while the node closes (SIGKILL forces exit)",
          file=sys.stderr, flush=True)


def run_node(factory: Callable[[], object], argv: list[str] | None = None, threads: int = 2) -> int:
    """Create the node with `factory()` and spin until shutdown. Returns the process exit code.

    A MultiThreadedExecutor lets a node serve services while a long callback (inference, a
    learner update) runs in another callback group. A node whose `work_done` attribute turns True
    (e.g. a recorder whose demonstrations are all saved) stops spinning, closes and exits 0: for
    the supervisor a finished node, not a crash (docs/fault_policy.md).
    """
    rclpy = ensure_rclpy()
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    # `kill -USR1 <pid>` prints every thread's Python stack to stderr: what a stuck node is doing
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # a file-size limit (ulimit -f) makes a refused write fail with EFBIG, which the recorders
    # report like a full disk, instead of killing the node
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # Signals are handled here, not by rclpy's handlers (a C++ thread that shuts the context
    # down): with those the reset_operator node ignored SIGINT in 3 of 7 runs of tests/ros, its
    # main thread still waiting in the executor 15 s later. While the node is built (loading a
    # checkpoint, opening a device) SIGINT / SIGTERM interrupt it; once it spins they set a flag
    # that the loop checks at least every SPIN_WAKE_S -- an exception raised inside the
    # executor's thread-pool bookkeeping left a worker thread that blocked the process's exit.
    rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
    # a plain flag, not a threading.Event: Event.set() takes a lock, and a second signal arriving
    # inside the first handler's set() (terminal + supervisor Ctrl-C) would wait on it forever
    stop = [False]

    def _request_stop(_signum, _frame):
        stop[0] = True

    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)
    node = executor = None
    rc = 0
    try:
        node = factory()
        # threads=1: every callback in this (the creating) thread -- needed for EGL rendering
        executor = SingleThreadedExecutor() if threads <= 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        signal.signal(signal.SIGINT, _request_stop)
        signal.signal(signal.SIGTERM, _request_stop)
        while rclpy.ok() and not stop[0] and not getattr(node, WORK_DONE, False):
            executor.spin_once(timeout_sec=SPIN_WAKE_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as e:  # report why a node died, then exit non-zero for the supervisor
        import traceback

        traceback.print_exc()
        print(f"[fatal] {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        rc = 1
    finally:
        # a second Ctrl-C (an interactive node gets the terminal's and the supervisor's) or the
        # supervisor's SIGTERM must not cut close() short: it finalises recordings
        signal.signal(signal.SIGINT, _closing)
        signal.signal(signal.SIGTERM, _closing)
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as e:  # pragma: no cover
                    print(f"[close] {e}", file=sys.stderr)
            if executor is not None:
                executor.shutdown(timeout_sec=5.0)  # finish running callbacks, stop the thread pool
            node.destroy_node()
        rclpy.try_shutdown()
    return rc
