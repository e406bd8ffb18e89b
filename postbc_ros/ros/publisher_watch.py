"""Who publishes a topic, by node, without a graph query per message (an rclpy helper).

`PublisherWatch(node, topic, period, on_publishers)` looks the topic's publishers up every
`period` s (a timer) and whenever `check()` (cheap: the publisher count, call it per message) sees
the count change, and passes their fully qualified node names to `on_publishers`. `report(...)`
logs a line (optionally throttled) and publishes it as a DiagnosticStatus on /diagnostics.
sim_node uses it to refuse commands from any node but the arm node.
"""
from __future__ import annotations

from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from postbc_ros.ros import qos
from postbc_ros.ros.conversions import to_time


class PublisherWatch:
    def __init__(self, node, topic: str, period: float, on_publishers: Callable[[list[str]], None],
                 hardware_id: str = ""):
        self.node = node
        self.topic = node.resolve_topic_name(topic)
        self.on_publishers = on_publishers
        self.hardware_id = hardware_id
        self.count = -1  # publishers at the last look (-1: not looked yet)
        self.pub_diag = node.create_publisher(DiagnosticArray, "/diagnostics", qos.STATE)
        node.create_timer(period, self.refresh)

    def refresh(self) -> None:
        infos = self.node.get_publishers_info_by_topic(self.topic)
        self.count = len(infos)
        self.on_publishers([f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos])

    def check(self) -> None:
        """Look again if a publisher came or went since the last look."""
        if self.node.count_publishers(self.topic) != self.count:
            self.refresh()

    def report(self, error: bool, message: str, stamp: float, throttle: float = 0.0) -> None:
        """Log `topic: message` (error or info; at most once per `throttle` s) and publish it."""
        text, log = f"{self.topic}: {message}", self.node.get_logger()
        # one call site per severity / throttle: rclpy refuses to change them between calls of one site
        if not error:
            logged = log.info(text)
        elif throttle:
            logged = log.error(text, throttle_duration_sec=throttle)
        else:
            logged = log.error(text)
        if not logged:
            return  # throttled
        st = DiagnosticStatus(level=DiagnosticStatus.ERROR if error else DiagnosticStatus.OK, message=text,
                              name=f"{self.node.get_fully_qualified_name()}: {self.topic}",
                              hardware_id=self.hardware_id)
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = to_time(stamp)
        self.pub_diag.publish(arr)
