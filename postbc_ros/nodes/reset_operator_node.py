"""reset_operator_node: the human-reset service (std_srvs/Trigger) of a real robot.

Between every two episodes the episode manager calls `human_reset`. This node (optionally) sends
the arm home through `arm/home`, then asks the operator on the terminal
(postbc_ros.core.operator_prompt):

    [Enter/r] reset done   [s] success   [f] failure   [a] abort

and answers the call: success=True once the scene is reset (message "reset", "success" or
"failure" carries the operator's label for the episode just finished), success=False with
message "abort" to stop the run.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_srvs.srv import Trigger

from postbc_ros.core.operator_prompt import ABORT, ask_operator
from postbc_ros.core.params import param
from postbc_ros.ros.node_main import run_node
from postbc_ros.ros.params import declare_params
from postbc_ros.ros.service_call import call_service

TTY = "/dev/tty"  # the launching terminal (the supervisor hands it to interactive nodes)
HOME_SERVICE_WAIT_S = 1.0  # no arm/home within this long (no arm node): ask without homing
HOME_TIMEOUT_S = 30.0  # longest wait for the arm to reach home before asking anyway


@dataclass
class ResetOperatorConfig:
    input: str = param("tty", "where the operator answers: tty (/dev/tty of the launching terminal) or stdin",
                       choices=("tty", "stdin"))
    home_first: bool = param(True, "send the arm home (arm/home) before asking for the reset")
    prompt_timeout: float = param(0.0, "seconds to wait for an answer (0 = wait forever); no answer = abort",
                                  range=(0.0, 3600.0))


CONFIG = ResetOperatorConfig


class ResetOperatorNode(Node):
    def __init__(self):
        super().__init__("reset_operator")
        self.cfg = declare_params(self, ResetOperatorConfig)
        tty = self.cfg.input == "tty"
        self._stream = open(TTY) if tty else sys.stdin
        self._out = open(TTY, "w") if tty else sys.stdout
        group = ReentrantCallbackGroup()
        self._home = self.create_client(Trigger, "arm/home", callback_group=group)
        self.create_service(Trigger, "human_reset", self._on_reset, callback_group=group)
        self._count = 0
        self.get_logger().info("serving human_reset; answer prompts on the terminal")

    def _go_home(self):
        try:
            call_service(self._home, Trigger.Request(), HOME_TIMEOUT_S, HOME_SERVICE_WAIT_S)
        except TimeoutError as e:  # the operator resets by hand; the prompt still comes
            self.get_logger().warning(f"arm/home: {e}")

    def _on_reset(self, _req, res):
        self._count += 1
        if self.cfg.home_first:
            self._go_home()
        timeout = self.cfg.prompt_timeout
        answer = ask_operator(self._stream, self._out, self._count, timeout if timeout > 0 else None)
        res.success = answer != ABORT
        res.message = answer
        self.get_logger().info(f"operator answered {answer!r}")
        return res


def main(argv: list[str] | None = None) -> int:
    return run_node(ResetOperatorNode, argv)


if __name__ == "__main__":
    sys.exit(main())
