"""episode_manager_node: the episode protocol (postbc_ros.core.episode_protocol) over ROS 2.

reset -> ready -> running -> done -> label -> reset ... Before every episode it calls the human-reset
service (std_srvs/Trigger `reset_service`: on a real robot reset_operator_node asks the operator, whose
answer also labels the episode; on the twin sim_node randomises the scene). Success comes from the
twin (`task/success`) or the operator; episodes end on success, `time_limit` or a teleop stop
(`episode/label`). `episode/estop` aborts and holds the arm (arm/stop latches it; after `postbc arm
reset` the next arm/enable resumes), `episode/clear_estop` resumes. State goes out latched on
`episode/state` (JSON), each episode / reset call into `log_path` (JSONL), `episode/heartbeat` at
10 Hz (a supervised arm holds and latches without it). `exit_when_finished`: exit 0 after
`max_episodes` (the finetune graph's end: the supervisor shuts it down, the arm first).
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from postbc_ros.core.episode_messages import parse_label, parse_ready
from postbc_ros.core.episode_protocol import FINISHED, HEARTBEAT_PERIOD_S, SUCCESS_SOURCES, EpisodeProtocol
from postbc_ros.core.params import param
from postbc_ros.ros import qos
from postbc_ros.ros.diagnostics import input_guard
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params
from postbc_ros.ros.service_call import call_service

SERVICE_WAIT_S = 30.0  # longest wait for a service to appear (a reset may then take reset_timeout)
ARM_CALL_TIMEOUT_S = 5.0  # arm/enable and arm/stop answer at once: longer means the arm node is gone
THREADS = 3  # the loop's service calls wait while subscriptions and the estop services are served
DRAIN_S = 1.0  # after the last episode: its transitions reach the replay buffer before the graph stops


@dataclass
class EpisodeManagerConfig:
    max_episodes: int = param(0, "stop after this many episodes (0 = run until shut down)", range=(0, 1000000))
    time_limit: float = param(30.0, "seconds an episode may run before it ends as a failure", range=(0.1, 3600.0))
    success_source: str = param("twin", "who decides success: twin (task/success) or operator (reset answer)",
                                choices=SUCCESS_SOURCES)
    reset_service: str = param("human_reset", "std_srvs/Trigger called between every two episodes")
    reset_timeout: float = param(600.0, "seconds to wait for the reset service to answer", range=(1.0, 86400.0))
    ready_topic: str = param("policy/status", "latched std_msgs/String JSON {\"ready\": true} awaited before "
                             "the first episode ('' = none)")
    settle_time: float = param(0.5, "seconds between the reset and the start of an episode", range=(0.0, 60.0))
    after_success: float = param(0.0, "seconds an episode goes on after the twin's success (demonstrations show the "
                                 "arm settling; the collect graph sets 8 control periods)", range=(0.0, 60.0))
    log_path: str = param("", "JSONL file receiving one line per episode and per reset call ('' = none)")
    exit_when_finished: bool = param(False, "exit 0 once max_episodes are labelled (the graph's work is done)")


CONFIG = EpisodeManagerConfig


class EpisodeManagerNode(Node):
    def __init__(self):
        super().__init__("episode_manager")
        self.cfg = c = declare_params(self, EpisodeManagerConfig)
        g = ReentrantCallbackGroup()
        self.pub = self.create_publisher(String, "episode/state", qos.EVENTS)
        self.pub_beat = self.create_publisher(String, "episode/heartbeat", qos.STATE)
        # its own group: the heartbeat goes out while the loop's service calls wait (fires once spinning)
        self.create_timer(HEARTBEAT_PERIOD_S, self._beat, callback_group=MutuallyExclusiveCallbackGroup())
        self.reset_cli = self.create_client(Trigger, c.reset_service, callback_group=g)
        self.stop_cli = self.create_client(Trigger, "arm/stop", callback_group=g)
        self.enable_cli = self.create_client(SetBool, "arm/enable", callback_group=g)
        self.log_path = Path(c.log_path) if c.log_path else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.protocol = EpisodeProtocol(
            self._reset, self._enable, self._hold, self._publish, time_limit=c.time_limit,
            success_source=c.success_source, settle_time=c.settle_time, after_success=c.after_success,
            max_episodes=c.max_episodes, wait_ready=bool(c.ready_topic), write=self._write if self.log_path else None,
            clock=self.now, log=self.get_logger())
        self.create_subscription(Bool, "task/success", lambda m: self.protocol.on_success(m.data), qos.STATE,
                                 callback_group=g)
        self.inputs = input_guard(self)  # a malformed label / ready message is dropped and counted, never raised
        self.create_subscription(String, "episode/label", lambda m: self._checked(
            parse_label, m, self.protocol.on_label), qos.STATE, callback_group=g)
        if c.ready_topic:
            self.create_subscription(String, c.ready_topic,
                                     lambda m: self._checked(parse_ready, m, self.protocol.on_ready), qos.LATCHED,
                                     callback_group=g)
        self.create_service(Trigger, "episode/estop", self._on_estop, callback_group=g)
        self.create_service(Trigger, "episode/clear_estop", self._on_clear, callback_group=g)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        if self.protocol.run() == FINISHED and self.cfg.exit_when_finished:
            time.sleep(DRAIN_S)
            self.work_done = True  # node_main: stop spinning, close, exit 0

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _checked(self, parse, msg, use):
        if (value := self.inputs.check(parse, msg.data)) is not None:
            use(value)

    def _beat(self):
        self.pub_beat.publish(String(data=json.dumps(self.protocol.heartbeat())))

    def _publish(self, event: dict):
        self._beat()  # the arm learns that an episode runs / ended before the policy hears of it
        self.pub.publish(String(data=json.dumps(event)))

    def _write(self, rec: dict):  # what the protocol calls: _write, _reset, _enable, _hold, _publish
        with open(self.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _reset(self) -> tuple[bool, str]:
        res = call_service(self.reset_cli, Trigger.Request(), float(self.cfg.reset_timeout), SERVICE_WAIT_S)
        return bool(res.success), res.message

    def _enable(self) -> tuple[bool, str]:
        res = call_service(self.enable_cli, SetBool.Request(data=True), ARM_CALL_TIMEOUT_S)
        return bool(res.success), res.message

    def _hold(self):
        call_service(self.stop_cli, Trigger.Request(), ARM_CALL_TIMEOUT_S)

    def _on_estop(self, _req, res):  # services
        res.success, res.message = True, self.protocol.estop()
        return res

    def _on_clear(self, _req, res):
        res.success, res.message = self.protocol.clear_estop()
        return res

    def close(self):
        self.protocol.stop()


def main(argv: list[str] | None = None) -> int:
    return run_node(EpisodeManagerNode, argv, threads=THREADS)


if __name__ == "__main__":
    sys.exit(main())
