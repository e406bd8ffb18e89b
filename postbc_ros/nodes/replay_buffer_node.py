"""replay_buffer_node: the persistent replay store (postbc_ros.core.replay_store) over ROS 2.

Every robot's policy publishes chunk transitions (wire "transition" records) on
/replay/transitions; this node appends each one durably (fsync per step) to one ReplayStore per
robot under `store_dir` -- a killed process loses at most the step in flight -- and only then
republishes it, with a sequence number, on /replay/stored for the learner (so the learner
never trains on data that is not on disk). `/replay/sync` (std_srvs/Trigger) republishes
everything stored, for a learner that (re)starts on any machine of the ROS domain. Statistics go
out on /replay/stats (std_msgs/String JSON, latched). When the disk is full the node stays up: a
transition it cannot store is logged with the reason and the fix, counted as `not_stored`, and not
forwarded; storing resumes once there is room. A message that is not a valid transition (a field
missing, a wrong shape, a non-finite value: core.transition) is never stored: it is dropped,
counted as `rejected` and on /diagnostics by reason, and logged once per reason. A stored step that
no longer decodes (written by an older version, or damaged) is skipped by /replay/sync and counted
the same way (reason `stored_<why>`), never raised.

The stores and the transition <-> store-step mapping are ROS-free:
postbc_ros.core.episode_stream.RobotStreams and postbc_ros.core.transition.Transition.
"""
from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass

from postbc_ros.core.episode_stream import RobotStreams
from postbc_ros.core.params import param
from postbc_ros.core.replay_store import ReplayStoreError
from postbc_ros.core.transition import Transition, TransitionError
from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()  # before any rclpy import (PyPI wheels)
from rclpy.node import Node
from std_msgs.msg import String, UInt8MultiArray
from std_srvs.srv import Trigger

from postbc_ros.ros import conversions as conv
from postbc_ros.ros import qos
from postbc_ros.ros.diagnostics import input_guard
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params

STATS_EVERY = 10  # stored transitions between two /replay/stats messages (also sent at every episode end)
ERROR_LOG_THROTTLE_S = 5.0  # at most one 'not stored' error line per this many seconds
EXECUTOR_THREADS = 2


@dataclass
class ReplayBufferConfig:
    store_dir: str = param("runs/postbc/replay", "directory of the replay stores (one per robot)")
    fsync: str = param("step", "durability: step (fsync every transition) | batch | none",
                       choices=("step", "batch", "none"))


CONFIG = ReplayBufferConfig


class ReplayBufferNode(Node):
    def __init__(self):
        super().__init__("replay_buffer")
        self.cfg = declare_params(self, ReplayBufferConfig)
        self.lock = threading.Lock()
        self.streams = RobotStreams(self.cfg.store_dir, self.cfg.fsync, warn=self.get_logger().warn)
        self.seq = 0
        # not_stored: transitions that could not be written (disk full ...); the node goes on
        self.counts = {"transitions": 0, "interventions": 0, "rejected": 0, "not_stored": 0}
        self.guard = input_guard(self)
        self.pub = self.create_publisher(UInt8MultiArray, "/replay/stored", qos.STREAM)
        self.pub_stats = self.create_publisher(String, "/replay/stats", qos.LATCHED)
        self.create_subscription(UInt8MultiArray, "/replay/transitions", self._on_transition, qos.STREAM)
        self.create_service(Trigger, "/replay/sync", self._on_sync)
        self._stats()
        self.get_logger().info(f"replay stores in {self.streams.root} ({len(self.streams.robots)} existing)")

    def _stats(self):
        self.pub_stats.publish(String(data=json.dumps({**self.counts, "episodes": self.streams.episodes_begun,
                                                       "robots": self.streams.robots})))

    def _on_transition(self, msg):
        tr = self.guard.check(lambda m: Transition.from_wire(conv.msg_bytes(m)), msg, "not_a_record")
        if tr is None:  # (wire.WireError: not a record; TransitionError: its reason)
            self.counts["rejected"] += 1
            self._stats()
            return
        with self.lock:
            try:
                i = self.streams.write(tr)  # durable when this returns (fsync=step)
            except (ReplayStoreError, OSError) as e:  # the message says why and what to free
                self.counts["not_stored"] += 1
                self.get_logger().error(f"{tr.robot}: transition not stored ({self.counts['not_stored']} so far): {e}",
                                        throttle_duration_sec=ERROR_LOG_THROTTLE_S)
                self._stats()
                return
            self.counts["transitions"] += 1
            self.counts["interventions"] += int(tr.intervention)
            self.seq += 1
            data = tr.replace(seq=self.seq, store_step=i).to_wire()
        self.pub.publish(conv.bytes_msg(data))
        if self.seq % STATS_EVERY == 0 or tr.episode_end:
            self._stats()

    def _on_sync(self, _req, res):
        """Republish every stored step; one that does not decode is skipped and counted."""
        n = skipped = 0
        with self.lock:
            for robot, w in self.streams.writers.items():
                w.store.refresh()
                for info in w.store.episodes():
                    for i in range(info.num_steps):
                        try:
                            tr = Transition.from_store_step(*w.store.read_step(info.episode, i))
                        except (TransitionError, ReplayStoreError, ValueError, KeyError, TypeError) as e:
                            skipped += 1
                            self.guard.drop(f"stored_{getattr(e, 'reason', 'unreadable')}",
                                            f"{robot}: episode {info.episode} step {i} not replayed: {e}")
                            continue
                        self.pub.publish(conv.bytes_msg(tr.replace(replayed=True).to_wire()))
                        n += 1
        res.success, res.message = True, json.dumps({"republished": n, "skipped": skipped})
        return res

    def close(self):
        with self.lock:
            self.streams.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(ReplayBufferNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
