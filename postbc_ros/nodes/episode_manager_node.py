"""episode_manager_node: the episode protocol (postbc_ros.core.episode_fsm) over ROS 2.

reset -> ready -> running -> done -> label -> reset ... Between EVERY two episodes (and before the
first) it calls the human-reset service (std_srvs/Trigger, `reset_service`): on a real robot the
reset_operator_node asks the operator (its answer also labels the finished episode: success /
failure); on the twin sim_node randomises the scene. Success comes from the twin's detector
(`task/success`) or the operator. Episodes end on success, on `time_limit`, or on a stop from
teleop (`episode/label`). `episode/estop` (Trigger) aborts the episode and holds the arm
(arm/stop); `episode/clear_estop` resumes. State is published latched on `episode/state`
(JSON: episode, state, success, reason) and every episode / reset call is appended to `log_path`
(JSONL).
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("max_episodes", 0, "stop after this many episodes (0 = run until shut down)", range=(0, 1000000)),
    Param("time_limit", 30.0, "seconds an episode may run before it ends as a failure", range=(0.1, 3600.0)),
    Param("success_source", "twin", "who decides success: twin (task/success) or operator (reset answer)",
          choices=("twin", "operator")),
    Param("reset_service", "human_reset", "std_srvs/Trigger called between every two episodes"),
    Param("reset_timeout", 600.0, "seconds to wait for the reset service to answer", range=(1.0, 86400.0)),
    Param("ready_topic", "policy/status", "latched std_msgs/String JSON {\"ready\": true} awaited before the first episode ('' = none)"),
    Param("settle_time", 0.5, "seconds between the reset and the start of an episode", range=(0.0, 60.0)),
    Param("log_path", "", "JSONL file receiving one line per episode and per reset call ('' = none)"),
]


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.node import Node
    from std_msgs.msg import Bool, String
    from std_srvs.srv import SetBool, Trigger

    from postbc_ros.core.episode_fsm import EpisodeState, EpisodeStateMachine, TimeLimits
    from postbc_ros.ros import qos
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class EpisodeManagerNode(Node):
        def __init__(self):
            super().__init__("episode_manager")
            self.p = declare_params(self, PARAMS)
            self.fsm = EpisodeStateMachine(TimeLimits(running=float(self.p["time_limit"])), clock=self.now)
            g = ReentrantCallbackGroup()
            self.pub = self.create_publisher(String, "episode/state", qos.EVENTS)
            self.reset_cli = self.create_client(Trigger, self.p["reset_service"], callback_group=g)
            self.stop_cli = self.create_client(Trigger, "arm/stop", callback_group=g)
            self.enable_cli = self.create_client(SetBool, "arm/enable", callback_group=g)
            self.create_subscription(Bool, "task/success", self._on_success, qos.STATE, callback_group=g)
            self.create_subscription(String, "episode/label", self._on_label, qos.STATE, callback_group=g)
            self.ready = not self.p["ready_topic"]
            if self.p["ready_topic"]:
                self.create_subscription(String, self.p["ready_topic"], self._on_ready, qos.LATCHED, callback_group=g)
            self.create_service(Trigger, "episode/estop", self._on_estop, callback_group=g)
            self.create_service(Trigger, "episode/clear_estop", self._on_clear, callback_group=g)
            self.success_seen = False
            self.stop_request: dict | None = None
            self.reset_calls = 0
            self.completed = 0
            self.log = Path(self.p["log_path"]) if self.p["log_path"] else None
            if self.log:
                self.log.parent.mkdir(parents=True, exist_ok=True)
            self._publish("reset")
            self._stop = threading.Event()
            threading.Thread(target=self._run, daemon=True).start()

        def now(self) -> float:
            return self.get_clock().now().nanoseconds * 1e-9

        # ------------------------------------------------------------ io
        def _publish(self, state: str, success=None, reason: str = "", episode: int | None = None):
            ep = self.fsm.episode_index if episode is None else episode
            self.pub.publish(String(data=json.dumps({"episode": ep, "state": state,
                                                     "success": success, "reason": reason, "stamp": self.now()})))

        def _write(self, rec: dict):
            if self.log:
                with open(self.log, "a") as f:
                    f.write(json.dumps(rec) + "\n")

        def _on_success(self, msg):
            if msg.data and self.fsm.state is EpisodeState.RUNNING:
                self.success_seen = True

        def _on_label(self, msg):
            self.stop_request = json.loads(msg.data)

        def _on_ready(self, msg):
            self.ready = bool(json.loads(msg.data).get("ready"))

        def _call(self, client, request, timeout: float):
            if not client.wait_for_service(timeout_sec=min(timeout, 30.0)):
                raise TimeoutError(f"service {client.srv_name} not available")
            fut = client.call_async(request)
            done = threading.Event()
            fut.add_done_callback(lambda _f: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f"service {client.srv_name} did not answer within {timeout:.0f} s")
            return fut.result()

        def _on_estop(self, _req, res):
            self.fsm.estop("estop service")
            try:
                self._call(self.stop_cli, Trigger.Request(), 5.0)
            except TimeoutError as e:
                self.get_logger().error(f"estop: {e}")
            self._publish("aborted", success=False, reason="estop")
            res.success, res.message = True, "aborted; arm holding; call episode/clear_estop to resume"
            return res

        def _on_clear(self, _req, res):
            if self.fsm.state is EpisodeState.ABORTED:
                self.fsm.clear_estop()
                res.success, res.message = True, "cleared: next episode starts after a reset"
            else:
                res.success, res.message = False, f"not aborted (state {self.fsm.state.value})"
            return res

        # ------------------------------------------------------------ protocol
        def _reset(self, after: int) -> str:
            self.reset_calls += 1
            t = self.now()
            res = self._call(self.reset_cli, Trigger.Request(), float(self.p["reset_timeout"]))
            self._write({"event": "reset", "call": self.reset_calls, "after_episode": after, "t": t,
                         "success": bool(res.success), "message": res.message})
            if not res.success:
                raise RuntimeError(f"reset service answered abort: {res.message}")
            return res.message

        def _run(self):
            # wait for the policy / teleop and, with use_sim_time, for the twin's first /clock
            while (not self.ready or self.now() == 0.0) and not self._stop.is_set():
                time.sleep(0.05)
            answer = None
            try:
                while not self._stop.is_set():
                    st = self.fsm.state
                    if st is EpisodeState.ABORTED:
                        time.sleep(0.05)
                    elif st is EpisodeState.RESET:
                        if answer is None:
                            self._publish("reset")
                            answer = self._reset(after=self.completed - 1)
                        answer = None
                        self.fsm.reset_done()
                        self._publish("ready")
                    elif st is EpisodeState.READY:
                        try:
                            self._call(self.enable_cli, SetBool.Request(data=True), 5.0)
                        except TimeoutError as e:
                            self.get_logger().warn(str(e))
                        time.sleep(float(self.p["settle_time"]))
                        self.success_seen, self.stop_request = False, None
                        self.fsm.start()
                        self.t_start = self.now()
                        self._publish("running")
                    elif st is EpisodeState.RUNNING:
                        if self.success_seen and self.p["success_source"] == "twin":
                            self.fsm.stop("success", success=True)
                        elif self.stop_request is not None:
                            r = self.stop_request
                            self.fsm.stop("operator stop", success=r.get("success"))
                        else:
                            self.fsm.tick()
                            time.sleep(0.01)
                    elif st is EpisodeState.DONE:
                        rec = self.fsm._current
                        known = rec.success if self.p["success_source"] == "twin" else None
                        if known is None and self.p["success_source"] == "twin":
                            known = False
                        self._publish("done", success=known, reason=rec.end_reason or "")
                        self.fsm.request_label()
                    elif st is EpisodeState.LABEL:
                        rec = self.fsm._current
                        idx, reason, t_end = rec.index, rec.end_reason, rec.ended
                        if self.p["success_source"] == "twin":
                            success = bool(rec.success)
                        else:  # the reset call asks the operator; its answer labels this episode
                            answer = self._reset(after=idx)
                            success = answer == "success" or (answer != "failure" and bool(rec.success))
                        self.fsm.label(success)
                        self.completed += 1
                        self._write({"event": "episode", "episode": idx, "success": success, "reason": reason,
                                     "t_start": self.t_start, "t_end": t_end, "duration": t_end - self.t_start})
                        self._publish("labelled", success=success, reason=reason, episode=idx)
                        self.get_logger().info(f"episode {idx}: {'success' if success else 'failure'} ({reason})")
                        if self.p["max_episodes"] and self.completed >= self.p["max_episodes"]:
                            self._publish("finished")
                            self.get_logger().info(f"finished {self.completed} episodes")
                            return
            except Exception as e:
                self.get_logger().error(f"episode loop stopped: {e}")
                self._publish("aborted", success=False, reason=str(e))

        def close(self):
            self._stop.set()

    return run_node(EpisodeManagerNode, argv, threads=3)


if __name__ == "__main__":
    sys.exit(main())
