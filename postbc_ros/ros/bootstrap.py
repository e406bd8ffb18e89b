"""Make `import rclpy` work both on a ROS 2 install and with the PyPI ROS 2 wheels.

On a sourced ROS 2 install rclpy imports directly. With the PyPI wheels the shared libraries live
in `site-packages/ros_*.libs`; most setups find them through RPATH, but when they do not,
`ros_wheels_bootstrapper` re-executes the interpreter with LD_LIBRARY_PATH set. We only take that
(costly) path when the plain import fails.

`dds_env()` builds the environment every process of a graph gets: loopback-only discovery and a
ROS domain by default for the twin, Fast DDS's large-data transport for images.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: discovery range / domain used for the twin when the user sets nothing (loopback only).
DEFAULT_DISCOVERY_RANGE = "LOCALHOST"
DEFAULT_DOMAIN_ID = 42


def ensure_rclpy():
    """Import and return rclpy, re-executing once through ros_wheels_bootstrapper if needed."""
    try:
        import rclpy  # noqa: F401

        return rclpy
    except ImportError as first:
        if os.environ.get("_ROS_WHEELS_BOOTSTRAP_COMPLETE"):
            raise ImportError(
                f"rclpy cannot be imported ({first}). Source your ROS 2 install "
                "(`source /opt/ros/<distro>/setup.bash`) or `pip install -e .[ros]`."
            ) from first
        try:
            import ros_wheels_bootstrapper  # noqa: F401  (re-executes this process)
        except ImportError:
            raise ImportError(
                f"rclpy cannot be imported ({first}). Source your ROS 2 install "
                "(`source /opt/ros/<distro>/setup.bash`) or `pip install -e .[ros]`."
            ) from first
        import rclpy  # pragma: no cover  (reached only after the re-exec)

        return rclpy


def wheel_library_path() -> str | None:
    """LD_LIBRARY_PATH entries for the PyPI ROS 2 wheels (None on a system ROS install)."""
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    dirs = sorted(str(p) for p in site.glob("ros_*.libs") if p.is_dir())
    if not dirs:
        return None
    old = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dirs + [p for p in old if p not in dirs])


def dds_env(
    domain_id: int | None = None,
    discovery_range: str | None = None,
    large_data: bool = True,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment variables for one process of a graph.

    Explicit arguments win over the caller's environment, which wins over the loopback defaults.
    """
    env = dict(os.environ if base is None else base)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = (
        discovery_range or env.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or DEFAULT_DISCOVERY_RANGE
    )
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(int(domain_id))
    env.setdefault("ROS_DOMAIN_ID", str(DEFAULT_DOMAIN_ID))
    if large_data:
        env.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return env
