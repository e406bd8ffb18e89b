"""Suite-wide settings: headless rendering, DDS on loopback, small thread pools (2-core CI)."""
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # keep training tests from oversubscribing the 2 cores
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


def pytest_sessionstart(session):
    """Start from a clean Fast DDS shared-memory state (postbc_ros/ros/dds_shm.py says why)."""
    from postbc_ros.ros.dds_shm import clean_stale_fastdds_shm

    clean_stale_fastdds_shm()


# --- process exit ---------------------------------------------------------------------------
# The whole suite loads, into this one process, rclpy's PyPI wheels (Fast DDS, lttng-ust), MuJoCo's
# EGL renderer, torch, pyarrow and OpenCV. After every test has passed and Python has finalised,
# glibc's C-level exit handlers (C++ static destructors of those libraries) crash with SIGSEGV in
# free() on a corrupted exit-handler block (seen under gdb: __run_exit_handlers -> free). Each test
# directory alone exits cleanly; only the combination crashes, and the product's own processes
# (nodes, CLI) exit cleanly in the integration tests, which assert their exit status. So once the
# session is over, this process runs Python's atexit handlers, flushes, and leaves with pytest's own
# exit status through os._exit, skipping the C-level teardown that would turn a green run red.
_SESSION_EXIT: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _SESSION_EXIT.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if not _SESSION_EXIT:  # usage error or interrupted before the session ran: normal exit
        return
    import atexit
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_SESSION_EXIT[-1])

