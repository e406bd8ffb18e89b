"""A node that exits 0 because its work is done (ExitPolicy on_done="complete") ends the graph cleanly:
the arm node is stopped first, nothing is restarted, `wait()` returns 0 and says who completed; the
same node failing (non-zero) is restarted as before. Stand-in nodes: tests/graph/fake_node.py."""
from __future__ import annotations

import io

import pytest

from postbc_ros.graph.spec import COMPLETE, RESTART, STOP_GRAPH, ExitPolicy, NodeSpec
from postbc_ros.graph.supervisor import Supervisor

from test_supervisor_policy import FAST, _graph, _python, _starts, _until

RECORDER = ExitPolicy(RESTART, "test: the recorder's exit 0 completes the graph", on_done=COMPLETE, **FAST)


def _nodes():
    arm = NodeSpec("arm", "arm_node", namespace="robot1", hw_access="command", on_exit=ExitPolicy(STOP_GRAPH, "test"))
    return [NodeSpec("manager", "episode_manager_node", namespace="robot1", on_exit=ExitPolicy(STOP_GRAPH, "test")),
            arm, NodeSpec("teleop", "teleop_node", namespace="robot1", on_exit=RECORDER)]


def test_a_clean_exit_of_a_completing_node_shuts_the_graph_down_arm_first_and_exits_0(tmp_path):
    g = _graph(tmp_path, _nodes(), {"teleop": "exit:0:0.5"}, exit_delay=0.2)
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=5.0, python=_python(tmp_path))
    sup.start()
    rc = sup.wait(timeout=30)
    log = sup.out.getvalue()
    assert rc == 0 and sup.stop_reason is None and sup.completed == "/robot1/teleop finished its work", log
    assert "work done (exit 0), shutting the graph down" in log and "stopping /robot1/arm first" in log
    assert len(_starts(tmp_path, "teleop")) == 1 and not sup.restarts  # done: not restarted
    arm_exit = float((tmp_path / "arm.exits").read_text())
    manager_sig = (tmp_path / "manager.signals").read_text().split()
    assert manager_sig[0] == "SIGINT" and arm_exit <= float(manager_sig[1])  # the arm held and left first
    assert sup.exit_codes == {"/robot1/arm": 0, "/robot1/manager": 0, "/robot1/teleop": 0}


def test_with_one_completing_node_per_robot_the_graph_ends_when_the_last_has_finished(tmp_path):
    nodes = _nodes() + [NodeSpec("teleop2", "teleop_node", namespace="robot2", on_exit=RECORDER)]
    g = _graph(tmp_path, nodes, {"teleop": "exit:0:0.3", "teleop2": "exit:0:2.0"}, exit_delay=0.2)  # robot2's later
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=5.0, python=_python(tmp_path))
    sup.start()
    rc = sup.wait(timeout=30)
    log = sup.out.getvalue()
    assert rc == 0 and sup.completed is not None, log
    assert "the graph runs on until /robot2/teleop2" in log
    assert sup.exit_codes["/robot1/teleop"] == 0 and sup.exit_codes["/robot2/teleop2"] == 0, log
    assert sup.completed == "/robot2/teleop2 finished its work"


def test_a_failing_completing_node_is_restarted_not_taken_for_done(tmp_path):
    g = _graph(tmp_path, _nodes(), {"teleop": "exit:2:0.2"})
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=2.0, python=_python(tmp_path))
    sup.start()
    try:
        _until(lambda: len(_starts(tmp_path, "teleop")) >= 2, 20, "the failed recorder's restart", sup)
        assert sup.completed is None and "restarting in 0.1 s" in sup.out.getvalue()
    finally:
        sup.shutdown()
    assert sup.completed is None and sup.restarts.get("/robot1/teleop", 0) >= 1


def test_on_done_is_validated_and_shown():
    with pytest.raises(ValueError, match="on_done"):
        ExitPolicy(RESTART, "test", on_done="finish")
    assert RECORDER.summary().endswith("; exit 0: complete") and RECORDER.describe()["on_done"] == COMPLETE
    assert ExitPolicy(STOP_GRAPH, "x", on_done=COMPLETE).summary() == "stop_graph; exit 0: complete"
