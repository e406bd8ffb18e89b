"""QoS profiles shared by every node, so publishers and subscribers always match.

* IMAGE: reliable (best-effort drops ~1/3 of 640x480 frames on Fast DDS), keep-last 2: a slow
  subscriber gets the newest frames, not a backlog.
* STATE: reliable keep-last 10 (joint states, observations).
* COMMAND: reliable keep-last 10 (trajectories to the arm).
* LATCHED: reliable + transient-local depth 1: late joiners get the last value (weights,
  episode state, robot description).
* EVENTS: reliable + transient-local depth 20: state machines (episode/state) whose every
  transition matters to subscribers; late joiners replay the recent ones in order.
* STREAM: reliable keep-last 1000: transitions; the replay buffer must not lose steps while busy.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

IMAGE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.VOLATILE)
STATE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.VOLATILE)
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
STREAM = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
EVENTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)
