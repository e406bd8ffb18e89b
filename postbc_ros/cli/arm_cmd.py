"""`postbc arm reset [--ns /robot1] [--domain N]`: the operator's reset of a latched arm;
`postbc arm stop [--ns /robot1] [--domain N]`: arm/stop from a terminal (the arm holds and latches; a
software stop through the arm node, not a replacement for the cell's hardware e-stop);
`postbc arm configure-widowx [--port P] [--confirm-torque-off]`: the WidowX EEPROM, xs_sdk's way.

arm_node latches on `arm/stop` and on every fault (lost heartbeat or supervisor, frozen or
out-of-limits measured state, following error, ...) and refuses `arm/enable` until this reset; no
node calls `arm/operator_reset` on its own -- clearing the latch is the operator's explicit act,
after checking the cell. The arm stays disabled until the next `arm/enable true` (the episode
manager's, at its next episode start).
"""
from __future__ import annotations

import argparse
import os
import time

from postbc_ros.ros.bootstrap import DEFAULT_DISCOVERY_RANGE, DEFAULT_DOMAIN_ID, ensure_rclpy

SERVICE = "arm/operator_reset"
STOP_SERVICE = "arm/stop"
SERVICE_WAIT_S = 10.0  # default --timeout: how long to look for the arm node's service
CALL_TIMEOUT_S = 5.0  # the arm answers at once; longer means it is stuck (or the answer was lost)
CALL_ATTEMPTS = 3  # requests before giving up
# a response sent before the server has matched this new client's reply reader is dropped (Fast DDS,
# ros2/ros2#1253): wait this long after the service appears before the request
MATCH_SETTLE_S = 1.0


def service_name(ns: str, service: str = SERVICE) -> str:
    """`<ns>/<service>` as an absolute name ('robot1', '/robot1' and '/robot1/' alike)."""
    ns = "/" + ns.strip("/")
    return f"{ns.rstrip('/')}/{service}"


def operator_reset(ns: str, domain: int, timeout: float = SERVICE_WAIT_S) -> tuple[bool, str]:
    """Call `<ns>/arm/operator_reset` on ROS domain `domain`: (success, the arm's answer or why not)."""
    return call_trigger(ns, domain, SERVICE, timeout)


def call_trigger(ns: str, domain: int, service: str, timeout: float = SERVICE_WAIT_S) -> tuple[bool, str]:
    """Call the std_srvs/Trigger service `<ns>/<service>` on ROS domain `domain`: (success, the
    arm's answer or why not)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", DEFAULT_DISCOVERY_RANGE)
    rclpy = ensure_rclpy()
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from std_srvs.srv import Trigger

    name = service_name(ns, service)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(domain))
    node = rclpy.create_node("postbc_arm_" + service.rsplit("/", 1)[-1], context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        cli = node.create_client(Trigger, name)
        if not cli.wait_for_service(timeout_sec=timeout):
            return False, (f"service {name} not found on ROS_DOMAIN_ID {domain} within {timeout:g} s: is the graph "
                           "running? Give its namespace (--ns) and domain (--domain, postbc launch domain_id:=)")
        time.sleep(MATCH_SETTLE_S)
        for _attempt in range(CALL_ATTEMPTS):  # a fresh client's first response can be lost (ros2/ros2#1253);
            future = cli.call_async(Trigger.Request())  # reset and stop are idempotent, so ask again
            executor.spin_until_future_complete(future, timeout_sec=CALL_TIMEOUT_S)
            if future.done():
                res = future.result()
                return bool(res.success), res.message
        return False, f"service {name} did not answer within {CALL_TIMEOUT_S:g} s ({CALL_ATTEMPTS} requests)"
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def _default_domain() -> int:
    raw = os.environ.get("ROS_DOMAIN_ID", "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_DOMAIN_ID


def run_reset(args: argparse.Namespace) -> int:
    ok, message = operator_reset(args.ns, args.domain, args.timeout)
    print(f"{service_name(args.ns)}: {message}")
    return 0 if ok else 1


def run_stop(args: argparse.Namespace) -> int:
    ok, message = call_trigger(args.ns, args.domain, STOP_SERVICE, args.timeout)
    print(f"{service_name(args.ns, STOP_SERVICE)}: {message}")
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser("arm", help="operator commands for a running arm node")
    actions = p.add_subparsers(dest="arm_command", metavar="ACTION", required=True)
    r = actions.add_parser("reset", help="clear the arm's latch (after arm/stop or a fault); the arm stays disabled "
                           "until the next arm/enable true (the episode manager's next episode start)")
    r.set_defaults(func=run_reset)
    t = actions.add_parser("stop", help="arm/stop: the arm holds where it is and latches until `postbc arm reset` "
                           "(a software stop through the arm node; the cell's hardware e-stop stays the real one)")
    t.set_defaults(func=run_stop)
    for q in (r, t):
        q.add_argument("--ns", default="/robot1", help="the robot's namespace (default /robot1)")
        q.add_argument("--domain", type=int, default=_default_domain(),
                       help=f"ROS_DOMAIN_ID of the graph (default: $ROS_DOMAIN_ID, else {DEFAULT_DOMAIN_ID} as postbc launch)")
        q.add_argument("--timeout", type=float, default=SERVICE_WAIT_S, help="seconds to look for the service")
    w = actions.add_parser("configure-widowx", help="write the WidowX servos' EEPROM settings the way Interbotix's "
                           "xs_sdk sets them (shadows in reverse Drive Mode with a Secondary ID, operating modes, limits): "
                           "what the widowx backend refuses to run without")
    w.add_argument("--port", default="", help="U2D2 serial device ('' = calibration/widowx/motors.yaml)")
    w.add_argument("--confirm-torque-off", action="store_true",
                   help="servos that hold the arm must drop their torque to take EEPROM writes: support the arm first")
    w.set_defaults(func=run_configure_widowx)


def run_configure_widowx(args: argparse.Namespace) -> int:
    """Connect the widowx backend with EEPROM writing allowed, say what it changed, disconnect
    (no arm node may be running on the same port)."""
    from postbc_ros.drivers.arm import ArmError, make_arm
    from postbc_ros.robots.widowx import NAME as WIDOWX

    arm = make_arm(WIDOWX, WIDOWX, port=args.port, configure_eeprom=True,
                   eeprom_torque_off_confirmed=bool(args.confirm_torque_off))
    try:
        arm.connect()
    except ArmError as e:
        print(f"postbc arm configure-widowx: {e}")
        return 1
    try:
        for w in arm.warnings:
            print(f"warning: {w}")
        print("\n".join(f"wrote {x}" for x in arm.eeprom_written) or "EEPROM already as xs_sdk sets it; nothing written")
    finally:
        arm.disconnect()
    return 0
