"""The supervisor's exit policies with plain-Python stand-in nodes (tests/graph/fake_node.py):
restart with backoff within a budget, what a spent budget does, stop_graph with the arm node
signalled (and gone) before the rest, POSTBC_SUPERVISOR_PID, and children dying with a
`kill -9`-ed supervisor (PR_SET_PDEATHSIG)."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from postbc_ros.graph.spec import IGNORE, RESTART, STOP_GRAPH, ExitPolicy, GraphSpec, NodeSpec
from postbc_ros.graph.supervisor import RestartBudget, Supervisor

FAKE = Path(__file__).with_name("fake_node.py")
ROOT = Path(__file__).resolve().parents[2]
FAST = dict(backoff_s=0.1, window_s=60.0)  # restart quickly in tests


def _graph(tmp_path: Path, nodes: list[NodeSpec], modes: dict[str, str], exit_delay: float = 0.0) -> GraphSpec:
    env = {"ROS_DOMAIN_ID": "0", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "FAKE_DIR": str(tmp_path),
           "FAKE_EXIT_DELAY": str(exit_delay)}
    env.update({f"FAKE_NODE_{k.upper()}": v for k, v in modes.items()})
    return GraphSpec(name="fake", arguments={}, nodes=nodes, env=env)


def _python(tmp_path: Path) -> str:
    """A "python" that runs fake_node.py with the supervisor's node command line."""
    p = tmp_path / "fake_python"
    p.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    p.chmod(0o755)
    return str(p)


def _starts(tmp_path: Path, name: str) -> list[list[str]]:
    f = tmp_path / f"{name}.starts"
    return [line.split() for line in f.read_text().splitlines()] if f.exists() else []


def _until(cond, timeout: float, what: str, sup: Supervisor | None = None):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if sup is not None:
            sup.poll()
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{sup.out.getvalue()}" if sup else ""))


def test_restart_budget_backs_off_doubling_and_refills_after_the_window():
    b = RestartBudget(max_restarts=3, window_s=10.0, backoff_s=0.5)
    assert [b.next_delay(t) for t in (0.0, 1.0, 2.0)] == [0.5, 1.0, 2.0]
    assert b.next_delay(3.0) is None  # spent: a 4th failure within 10 s
    assert b.next_delay(10.5) == 2.0  # the first restart left the window: one more allowed
    assert b.next_delay(10.9) is None


def test_a_failing_node_is_restarted_until_its_budget_is_spent_then_left_stopped(tmp_path):
    flaky = NodeSpec("flaky", "flaky_node", on_exit=ExitPolicy(RESTART, "test", max_restarts=2, exhausted=IGNORE,
                                                               **FAST))
    done = NodeSpec("done", "done_node", on_exit=ExitPolicy(RESTART, "test: a clean exit is not restarted", **FAST))
    steady = NodeSpec("steady", "steady_node")
    g = _graph(tmp_path, [flaky, done, steady], {"flaky": "exit:3:0.1", "done": "exit:0:0.1"})
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=2.0, python=_python(tmp_path))
    sup.start()
    try:
        _until(lambda: "budget spent" in sup.out.getvalue(), 20, "the restart budget to be spent", sup)
        time.sleep(0.5)
        sup.poll()
        log = sup.out.getvalue()
        assert len(_starts(tmp_path, "flaky")) == 3  # first start + 2 restarts, no more
        assert sup.restarts == {"/flaky": 2}
        assert "died: exit code 3 -- restarting in 0.1 s (restart 1 of 2 within 60 s)" in log
        assert "restarting in 0.2 s (restart 2 of 2" in log  # backoff doubles
        assert "restart budget spent (2 within 60 s), left stopped" in log
        assert len(_starts(tmp_path, "done")) == 1 and "clean exit, not restarted" in log
        assert sup.procs["/steady"].poll() is None and not sup._stop.is_set()  # the graph runs on
    finally:
        sup.shutdown()


def test_a_spent_budget_with_stop_graph_stops_the_graph(tmp_path):
    flaky = NodeSpec("flaky", "flaky_node", on_exit=ExitPolicy(RESTART, "test", max_restarts=1, **FAST))
    g = _graph(tmp_path, [flaky, NodeSpec("steady", "steady_node")], {"flaky": "exit:5:0.1"})
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=2.0, python=_python(tmp_path))
    sup.start()
    rc = sup.wait(timeout=30)
    assert rc == 1 and sup.stop_reason == "/flaky: restart budget spent (1 within 60 s)", sup.out.getvalue()
    assert len(_starts(tmp_path, "flaky")) == 2
    assert sup.exit_codes["/steady"] == 0  # stopped by SIGINT, cleanly


def test_a_stop_graph_node_stops_the_graph_with_the_arm_node_signalled_and_gone_first(tmp_path):
    arm = NodeSpec("arm", "arm_node", namespace="robot1", hw_access="command",
                   on_exit=ExitPolicy(STOP_GRAPH, "test"))
    nodes = [NodeSpec("policy", "policy_node", namespace="robot1"), arm,
             NodeSpec("manager", "episode_manager_node", namespace="robot1", on_exit=ExitPolicy(STOP_GRAPH, "test"))]
    g = _graph(tmp_path, nodes, {"manager": "exit:1:1.0"}, exit_delay=0.3)
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=5.0, python=_python(tmp_path))
    sup.start()
    rc = sup.wait(timeout=30)
    log = sup.out.getvalue()
    assert rc == 1 and sup.stop_reason == "/robot1/manager exited", log
    assert "required node, shutting the graph down" in log and "stopping /robot1/arm first" in log
    arm_sig, policy_sig = ((tmp_path / f"{n}.signals").read_text().split() for n in ("arm", "policy"))
    arm_exit = float((tmp_path / "arm.exits").read_text())
    assert arm_sig[0] == policy_sig[0] == "SIGINT"
    assert float(arm_sig[1]) < arm_exit <= float(policy_sig[1])  # the rest only after the arm node is gone
    assert sup.exit_codes["/robot1/arm"] == sup.exit_codes["/robot1/policy"] == 0


def test_each_node_gets_the_supervisor_pid(tmp_path):
    g = _graph(tmp_path, [NodeSpec("a", "a_node")], {})
    sup = Supervisor(g, tmp_path / "run", out=io.StringIO(), grace=2.0, python=_python(tmp_path))
    sup.start()
    try:
        _until(lambda: _starts(tmp_path, "a"), 10, "the node to start", sup)
        assert _starts(tmp_path, "a")[0][1] == str(os.getpid())
    finally:
        sup.shutdown()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_the_supervisor_takes_every_node_down(tmp_path):
    """The supervisor in its own process (as `postbc launch`), killed with SIGKILL: its nodes
    get SIGTERM from the kernel and are gone within seconds."""
    script = tmp_path / "launcher.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_supervisor_policy import _graph, _python
        from postbc_ros.graph.spec import NodeSpec
        from postbc_ros.graph.supervisor import Supervisor
        tmp = Path({str(tmp_path)!r})
        g = _graph(tmp, [NodeSpec("a", "a_node"), NodeSpec("b", "b_node")], {{}})
        sup = Supervisor(g, tmp / "run", python=_python(tmp))
        sup.start()
        sup.wait()
    """))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    launcher = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL)
    try:
        _until(lambda: _starts(tmp_path, "a") and _starts(tmp_path, "b"), 30, "both nodes to start")
        pids = [int(_starts(tmp_path, n)[0][0]) for n in ("a", "b")]
        assert all(_starts(tmp_path, n)[0][1] == str(launcher.pid) for n in ("a", "b"))
        time.sleep(0.3)  # the nodes' signal handlers are installed
        launcher.kill()
        launcher.wait()
        _until(lambda: not any(_alive(p) for p in pids), 5, "every node to exit after the supervisor's SIGKILL")
        assert all((tmp_path / f"{n}.signals").read_text().startswith("SIGTERM") for n in ("a", "b"))
    finally:
        launcher.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (not yet reaped by init) is gone too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_niced_node_starts_with_lower_cpu_priority_and_the_learner_is_niced():
    import os
    import subprocess

    from postbc_ros.graph import build_graph
    from postbc_ros.graph.graphs import LEARNER_NICE
    from postbc_ros.graph.supervisor import die_with_parent

    base = os.nice(0)
    out = subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True, text=True,
                         preexec_fn=die_with_parent(os.getpid(), 5), check=True).stdout
    assert int(out) == min(19, base + 5)
    g = build_graph("finetune", {})
    assert g.node("/learner").nice == LEARNER_NICE > 0 and g.node("/robot1/arm").nice == 0
    assert {n["name"]: n.get("nice", 0) for n in g.describe()["nodes"]}["learner"] == LEARNER_NICE
