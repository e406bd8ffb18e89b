"""The human-reset question on a terminal (ROS-free): reset_operator_node asks it between every two
episodes and answers the episode manager's reset call with the operator's answer.

    [Enter/r] reset done   [s] success   [f] failure   [a] abort

reset / success / failure accept the reset (success / failure also label the episode just
finished, see core.episode_protocol); abort refuses it and stops the run. End of input, or no
answer within the timeout, is an abort: nobody is there to reset the scene.
"""
from __future__ import annotations

import threading
from typing import TextIO

ABORT = "abort"
ANSWERS = {"": "reset", "r": "reset", "reset": "reset", "s": "success", "success": "success", "y": "success",
           "f": "failure", "failure": "failure", "n": "failure", "a": ABORT, "abort": ABORT, "q": ABORT}
PROMPT = ("\n=== episode {count} finished: reset the scene, then type "
          "[Enter/r] reset done  [s] success  [f] failure  [a] abort: ")
RETRY = "  unknown answer; type r, s, f or a: "


def parse_answer(line: str) -> str | None:
    """Operator's line -> reset | success | failure | abort, or None for an unknown key."""
    return ANSWERS.get(line.strip().lower())


def ask_operator(stream: TextIO, out: TextIO, count: int, timeout: float | None = None) -> str:
    """Prompt on `out`, read lines from `stream` until one is a known answer; `timeout` seconds
    (None = forever). The reader runs in a daemon thread so a silent terminal cannot block past
    the timeout."""
    out.write(PROMPT.format(count=count))
    out.flush()
    result: list[str] = []

    def _read():
        while True:
            line = stream.readline()
            if line == "":  # EOF: nobody can answer any more
                result.append(ABORT)
                return
            answer = parse_answer(line)
            if answer is not None:
                result.append(answer)
                return
            out.write(RETRY)
            out.flush()

    reader = threading.Thread(target=_read, daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ABORT
