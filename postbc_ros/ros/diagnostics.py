"""A node's input counts on /diagnostics (diagnostic_msgs/DiagnosticArray), about once a second.

`input_guard(node)` gives the node a core.message_guard.MessageGuard logging through the node's
logger and publishes its counts as one status named `<node fqn>/inputs`: level OK while nothing
was dropped, WARN once anything was (the operator's diagnostics tools show which reason and how
often; the node itself stays up).
"""
from __future__ import annotations

from postbc_ros.core.message_guard import MessageGuard, diagnostic_fields
from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402

TOPIC = "/diagnostics"
PERIOD_S = 1.0  # the ROS convention for /diagnostics: about 1 Hz
QUEUE = 10
STATUS_SUFFIX = "/inputs"  # the status name: <node fqn>/inputs


def status_msg(name: str, guard: MessageGuard) -> DiagnosticStatus:
    warn, message, values = diagnostic_fields(guard.snapshot())
    return DiagnosticStatus(level=DiagnosticStatus.WARN if warn else DiagnosticStatus.OK, name=name,
                            message=message, hardware_id="", values=[KeyValue(key=k, value=v) for k, v in values])


def input_guard(node, period_s: float = PERIOD_S, callback_group=None) -> MessageGuard:
    """A MessageGuard for `node`'s inputs whose counts `node` publishes on /diagnostics every `period_s`."""
    guard = MessageGuard(node.get_logger())
    pub = node.create_publisher(DiagnosticArray, TOPIC, QUEUE)
    name = node.get_fully_qualified_name() + STATUS_SUFFIX

    def publish():
        msg = DiagnosticArray(status=[status_msg(name, guard)])
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(period_s, publish, callback_group=callback_group)
    return guard


def guarded(guard: MessageGuard, callback, reason: str):
    """A subscription callback running `callback(msg)` under `guard`: whatever it raises drops the
    message (counted under the error's reason, else `reason`) instead of ending the node."""
    return lambda msg: guard.check(callback, msg, reason)
