"""Only the arm node may command the twin (DDS test): while another node publishes on
/robot1/hw/joint_trajectory_controller/joint_trajectory the twin holds, refuses its trajectories
and names it on /diagnostics; a node named /robot1/arm moves it with the same message; a first
point jumping past the arm's step bound is refused even from the arm."""
from __future__ import annotations

import signal
import subprocess
import time

import numpy as np

from postbc_ros.core.safety import load_safety_limits
from postbc_ros.graph import build_graph
from postbc_ros.graph.supervisor import plan
from .harness import Probe, stop_node_process, unique_domain

HW = "/robot1/hw/joint_trajectory_controller/joint_trajectory"
SEND_PERIOD_S = 0.2  # s between repeated trajectory messages
SETTLE_S = 1.0  # s for the twin to reach (or not) the target after the last message


def _positions(msgs, names):
    m = msgs[-1]
    return np.array([m.position[list(m.name).index(n)] for n in names])


def test_the_twin_moves_only_for_the_arm_node(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.ros import conversions as conv
    from postbc_ros.ros import qos

    dom = unique_domain()
    graph = build_graph("sim", {"robot": "widowx", "camera_rate": "0", "domain_id": str(dom)})
    (sim,) = [p for p in plan(graph, tmp_path) if p.node.executable == "sim_node"]
    proc = subprocess.Popen(sim.argv, env=sim.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Probe(dom)
    out = ""
    try:
        states = probe.subscribe(JointState, "/robot1/hw/joint_states", qos.STATE)
        diags = probe.subscribe(DiagnosticArray, "/diagnostics", qos.STATE)
        probe.wait_for(lambda: states, 60, "the twin's joint states")
        names = [n for n in states[-1].name if n != "gripper"]
        q0 = _positions(states, names)
        step = q0 + 0.5 * load_safety_limits("widowx_twin").max_step  # a move the arm's filter passes

        def send(node, target, rounds=8):
            pub = node.create_publisher(JointTrajectory, HW, qos.COMMAND)
            probe.wait_for(lambda: pub.get_subscription_count() > 0, 20, "the twin to subscribe")
            for _ in range(rounds):
                pub.publish(conv.trajectory_msg(names, np.array([target]), t0=0.0, dt=0.3, start_index=1))
                time.sleep(SEND_PERIOD_S)
            time.sleep(SETTLE_S)
            return pub

        def diag_text():
            return "\n".join(s.message for a in diags for s in a.status)

        intruder = probe.rclpy.create_node("intruder", namespace="/robot1", context=probe.ctx)
        send(intruder, step)
        assert np.allclose(_positions(states, names), q0, atol=0.01), "the twin moved for an intruder"
        probe.wait_for(lambda: "other than /robot1/arm: /robot1/intruder" in diag_text(), 10, "the intruder named")
        assert "trajectory refused" in diag_text()
        intruder.destroy_node()
        probe.wait_for(lambda: "only /robot1/arm publishes again" in diag_text(), 10, "the topic to clear")

        arm = probe.rclpy.create_node("arm", namespace="/robot1", context=probe.ctx)
        send(arm, step)
        assert np.allclose(_positions(states, names), step, atol=0.02), "the arm node's command did not move the twin"
        jump = step + np.array([0.92] + [0.0] * (len(names) - 1))
        send(arm, jump, rounds=1)
        assert np.allclose(_positions(states, names), step, atol=0.02), "a 0.92 rad jump moved the twin"
        assert "first point moves" in diag_text()
        arm.destroy_node()
    finally:
        probe.close()
        out = stop_node_process(proc, signal.SIGINT, 15)
    assert proc.returncode == 0, out
    assert "other than /robot1/arm: /robot1/intruder" in out  # the log line names the intruder too


def test_the_sros2_policy_is_well_formed_and_lets_only_the_arm_publish_the_hardware_topic():
    """config/sros2/policy.xml (sros2 itself is not installable here: the README says so)."""
    import xml.etree.ElementTree as ET
    from pathlib import Path

    root = ET.parse(Path(__file__).resolve().parents[2] / "config" / "sros2" / "policy.xml").getroot()
    assert root.tag == "policy" and root.get("version") == "0.2.0"

    def allowed(kind: str, verb: str, name: str) -> set[str]:
        """Enclaves whose profile ALLOWs `verb` on `name` (resolved in the profile's namespace)."""
        out = set()
        for enc in root.iter("enclave"):
            for prof in enc.iter("profile"):
                ns = prof.get("ns").rstrip("/")
                for group in prof.findall(kind + "s"):
                    if group.get(verb) == "ALLOW" and any(
                            (e.text if e.text.startswith("/") else f"{ns}/{e.text}") == name for e in group):
                        out.add(enc.get("path"))
        return out

    assert allowed("topic", "publish", HW) == {"/robot1/arm"}
    assert allowed("topic", "subscribe", HW) == {"/robot1/sim"}
    assert allowed("service", "reply", "/robot1/arm/enable") == {"/robot1/arm"}
    assert allowed("service", "request", "/robot1/arm/enable") == {"/operator"}
