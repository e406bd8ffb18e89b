"""The human-reset question on a terminal, without ROS: answers, retries, end of input, timeout."""
from __future__ import annotations

import io
import threading

from postbc_ros.core.operator_prompt import ask_operator, parse_answer


def test_parse_answer():
    assert parse_answer("\n") == "reset" and parse_answer(" S ") == "success"
    assert parse_answer("f") == "failure" and parse_answer("a") == "abort"
    assert parse_answer("maybe") is None


def test_ask_retries_until_a_known_answer():
    out = io.StringIO()
    assert ask_operator(io.StringIO("x\nmaybe\nf\ns\n"), out, count=3) == "failure"
    text = out.getvalue()
    assert "episode 3 finished: reset the scene" in text and text.count("unknown answer") == 2


def test_end_of_input_is_an_abort():
    assert ask_operator(io.StringIO("x\n"), io.StringIO(), count=1) == "abort"


def test_no_answer_within_the_timeout_is_an_abort():
    typed = threading.Event()

    class Silent:  # a terminal nobody types on (until the test ends)
        def readline(self):
            typed.wait()
            return "s\n"

    assert ask_operator(Silent(), io.StringIO(), count=1, timeout=0.05) == "abort"
    typed.set()
