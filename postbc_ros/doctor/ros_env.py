"""Doctor checks of the ROS 2 environment: ROS_DOMAIN_ID (set, in the valid range),
ROS_AUTOMATIC_DISCOVERY_RANGE (set to a value ROS knows) and an importable rclpy.

On a shared network each robot's graph needs a domain of its own; postbc launch otherwise falls
back to DEFAULT_DOMAIN_ID, which another cell may be using too.
"""
from __future__ import annotations

import os

from postbc_ros.doctor.check import Check, failed, passed
from postbc_ros.ros.bootstrap import DEFAULT_DISCOVERY_RANGE, DEFAULT_DOMAIN_ID

MAX_DOMAIN_ID = 232  # ROS 2's upper bound (0-101 are safe on Linux; 215-232 also map to valid ports)
SAFE_DOMAIN_IDS = range(0, 102)  # ids whose DDS ports never collide with the Linux ephemeral range
DISCOVERY_RANGES = ("LOCALHOST", "SUBNET", "OFF", "SYSTEM_DEFAULT")


def check_ros(env: dict | None = None) -> list[Check]:
    env = dict(os.environ if env is None else env)
    out = []
    dom = env.get("ROS_DOMAIN_ID", "").strip()
    fix = (f"export ROS_DOMAIN_ID=<0-101> unique to this robot on the network (postbc launch uses {DEFAULT_DOMAIN_ID} "
           "when unset; README 'Shared network')")
    if not dom:
        out.append(failed("ros: ROS_DOMAIN_ID", "not set", fix))
    elif not dom.isdigit() or int(dom) > MAX_DOMAIN_ID:
        out.append(failed("ros: ROS_DOMAIN_ID", f"{dom!r} is not a domain id 0..{MAX_DOMAIN_ID}", fix))
    elif int(dom) not in SAFE_DOMAIN_IDS:
        out.append(failed("ros: ROS_DOMAIN_ID", f"{dom}: its DDS ports may collide with Linux's ephemeral ports", fix))
    else:
        out.append(passed("ros: ROS_DOMAIN_ID", dom))
    rng = env.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").strip()
    rfix = (f"export ROS_AUTOMATIC_DISCOVERY_RANGE={DEFAULT_DISCOVERY_RANGE} when every node runs on this computer, "
            "SUBNET when nodes run on several")
    if not rng:
        out.append(failed("ros: discovery range", "ROS_AUTOMATIC_DISCOVERY_RANGE not set (ROS tools then search the "
                          "whole subnet)", rfix))
    elif rng not in DISCOVERY_RANGES:
        out.append(failed("ros: discovery range", f"ROS_AUTOMATIC_DISCOVERY_RANGE={rng!r} is not one of "
                          f"{', '.join(DISCOVERY_RANGES)}", rfix))
    else:
        out.append(passed("ros: discovery range", rng))
    try:
        from postbc_ros.ros.bootstrap import ensure_rclpy

        rclpy = ensure_rclpy()
        out.append(passed("ros: rclpy", f"importable ({os.path.dirname(rclpy.__file__)})"))
    except ImportError as e:
        out.append(failed("ros: rclpy", str(e).split(". ")[0], "pip install -e .[ros] (the PyPI ROS 2 wheels) or "
                          "source /opt/ros/<distro>/setup.bash"))
    return out
