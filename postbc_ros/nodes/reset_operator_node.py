"""reset_operator_node: the human-reset service (std_srvs/Trigger) of a real robot.

Between every two episodes the episode manager calls `human_reset`. This node (optionally) sends
the arm home through `arm/home`, then asks the operator on the terminal
(postbc_ros.core.operator_prompt):

    [Enter/r] reset done   [s] success   [f] failure   [a] abort

and answers the call: success=True once the scene is reset (message "reset", "success" or
"failure" carries the operator's label for the episode just finished), success=False with
message "abort" to stop the run.

`input: scripted` is the operator of the wire-level twin (`wire_twin:=true`): after the same
homing it resets the scene through `scene_reset_service` (the twin's hands: wire_twin_node's
`reset_scene`) and answers "reset" (the twin's success detector labels the episode), or "abort"
when the scene could not be reset.
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
SCRIPTED = "scripted"  # the input of the scripted operator (wire-level twin)
SCENE_RESET_TIMEOUT_S = 10.0  # scripted: longest wait for the scene reset (service appearing and answering)


@dataclass
class ResetOperatorConfig:
    input: str = param("tty", "where the operator answers: tty (/dev/tty of the launching terminal), stdin, or "
                       "scripted (resets the twin's scene through scene_reset_service and answers reset)",
                       choices=("tty", "stdin", SCRIPTED))
    scene_reset_service: str = param("reset_scene", "scripted: the std_srvs/Trigger that resets the scene")
    home_first: bool = param(True, "send the arm home (arm/home) before asking for the reset")
    prompt_timeout: float = param(0.0, "seconds to wait for an answer (0 = wait forever); no answer = abort",
                                  range=(0.0, 3600.0))


CONFIG = ResetOperatorConfig


class ResetOperatorNode(Node):
    def __init__(self):
        super().__init__("reset_operator")
        self.cfg = declare_params(self, ResetOperatorConfig)
        tty, self._scripted = self.cfg.input == "tty", self.cfg.input == SCRIPTED
        self._stream = open(TTY) if tty else sys.stdin
        self._out = open(TTY, "w") if tty else sys.stdout
        group = ReentrantCallbackGroup()
        self._home = self.create_client(Trigger, "arm/home", callback_group=group)
        self._scene = self.create_client(Trigger, self.cfg.scene_reset_service, callback_group=group)
        self.create_service(Trigger, "human_reset", self._on_reset, callback_group=group)
        self._count = 0
        self.get_logger().info("serving human_reset; " + (f"scripted: resets through {self.cfg.scene_reset_service}"
                                                          if self._scripted else "answer prompts on the terminal"))

    def _go_home(self):
        try:
            call_service(self._home, Trigger.Request(), HOME_TIMEOUT_S, HOME_SERVICE_WAIT_S)
        except TimeoutError as e:  # the operator resets by hand; the prompt still comes
            self.get_logger().warning(f"arm/home: {e}")

    def _reset_scene(self) -> str:
        try:
            out = call_service(self._scene, Trigger.Request(), SCENE_RESET_TIMEOUT_S)
        except TimeoutError as e:
            self.get_logger().error(f"scripted reset: {e}: nobody resets the scene, the run is aborted")
            return ABORT
        if not out.success:
            self.get_logger().error(f"scripted reset: {self._scene.srv_name} refused ({out.message}): aborted")
        return "reset" if out.success else ABORT

    def _on_reset(self, _req, res):
        self._count += 1
        if self.cfg.home_first:
            self._go_home()
        timeout = self.cfg.prompt_timeout
        if self._scripted:
            answer = self._reset_scene()
        else:
            answer = ask_operator(self._stream, self._out, self._count, timeout if timeout > 0 else None)
        res.success = answer != ABORT
        res.message = answer
        self.get_logger().info(f"operator answered {answer!r}")
        return res


def main(argv: list[str] | None = None) -> int:
    return run_node(ResetOperatorNode, argv)


if __name__ == "__main__":
    sys.exit(main())
