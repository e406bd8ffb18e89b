"""reset_operator_node: the human-reset service (std_srvs/Trigger) of a real robot.

Between every two episodes the episode manager calls `human_reset`. This node (optionally) sends
the arm home through `arm/home`, then asks the operator on the terminal:

    [Enter/r] reset done   [s] success   [f] failure   [a] abort

and answers the call: success=True once the scene is reset (message "reset", "success" or
"failure" carries the operator's label for the episode just finished), success=False with
message "abort" to stop the run.
"""
from __future__ import annotations

import sys
import threading

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("input", "tty", "where the operator answers: tty (/dev/tty of the launching terminal) or stdin",
          choices=("tty", "stdin")),
    Param("home_first", True, "send the arm home (arm/home) before asking for the reset"),
    Param("prompt_timeout", 0.0, "seconds to wait for an answer (0 = wait forever); no answer = abort",
          range=(0.0, 3600.0)),
]

ANSWERS = {"": "reset", "r": "reset", "reset": "reset", "s": "success", "success": "success", "y": "success",
           "f": "failure", "failure": "failure", "n": "failure", "a": "abort", "abort": "abort", "q": "abort"}


def parse_answer(line: str) -> str | None:
    """Operator's line -> reset | success | failure | abort, or None for an unknown key."""
    return ANSWERS.get(line.strip().lower())


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.node import Node
    from std_srvs.srv import Trigger

    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class ResetOperatorNode(Node):
        def __init__(self):
            super().__init__("reset_operator")
            self.p = declare_params(self, PARAMS)
            self._stream = open("/dev/tty") if self.p["input"] == "tty" else sys.stdin
            self._out = open("/dev/tty", "w") if self.p["input"] == "tty" else sys.stdout
            group = ReentrantCallbackGroup()
            self._home = self.create_client(Trigger, "arm/home", callback_group=group)
            self.create_service(Trigger, "human_reset", self._on_reset, callback_group=group)
            self._count = 0
            self.get_logger().info("serving human_reset; answer prompts on the terminal")

        def _ask(self) -> str:
            self._out.write(
                f"\n=== episode {self._count} finished: reset the scene, then type "
                "[Enter/r] reset done  [s] success  [f] failure  [a] abort: ")
            self._out.flush()
            result: list[str] = []

            def _read():
                while True:
                    line = self._stream.readline()
                    if line == "":  # EOF: nobody can answer any more
                        result.append("abort")
                        return
                    ans = parse_answer(line)
                    if ans is not None:
                        result.append(ans)
                        return
                    self._out.write("  unknown answer; type r, s, f or a: ")
                    self._out.flush()

            t = threading.Thread(target=_read, daemon=True)
            t.start()
            t.join(None if self.p["prompt_timeout"] <= 0 else self.p["prompt_timeout"])
            return result[0] if result else "abort"

        def _on_reset(self, _req, res):
            self._count += 1
            if self.p["home_first"] and self._home.wait_for_service(timeout_sec=1.0):
                fut = self._home.call_async(Trigger.Request())
                done = threading.Event()
                fut.add_done_callback(lambda _f: done.set())
                done.wait(30.0)
            answer = self._ask()
            res.success = answer != "abort"
            res.message = answer
            self.get_logger().info(f"operator answered {answer!r}")
            return res

    return run_node(ResetOperatorNode, argv)


if __name__ == "__main__":
    sys.exit(main())
