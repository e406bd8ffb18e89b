"""`postbc bench faults`: the fault suite, run against the twin graph the way faults happen on a cell.

Every fault gets a fresh graph (`postbc launch finetune|collect` in its own process, the policy
acting), waits until the arm moves, injects the fault and watches for `window_s`:

* hold faults (supervision or command source lost): the twin's measured joints (`hw/joint_states`,
  the simulated hardware's truth) must stop moving within the bounding timeout (+ SLACK_S), or
  arm_node must report holding where the twin itself is gone;
* continue faults (a bad message, a restartable node): the hit node is alive (or restarted), the
  graph keeps running and keeps storing transitions;
* shutdown faults (the launcher signalled or killed): every node process is gone, the arm held.

For every fault the committed transitions are counted before the fault and after the graph is
down (replay store, or the collect graph's dataset): `lost` is what an episode had before and no
longer has. A node process alive ORPHAN_WAIT_S after its launcher is gone is an orphan. Each row:
{"fault", "arm_held_within_s", "watchdog_s", "held", "transitions_before", "transitions_after",
"lost", "graph_state", "ok", "expect", "detail", "arm_stopped_within_s"}: arm_held_within_s is when arm_node
sent the hardware its hold (or latched, per fault), arm_stopped_within_s when the twin's joints
stopped moving (the arm's own deceleration comes after the hold).
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from postbc_ros.benchmarks import fault_injections as inj
from postbc_ros.benchmarks.fault_graph import GraphRun, dataset_frames, replay_counts
from postbc_ros.core.arm_loop import SIM_CLOCK_STALL_S
from postbc_ros.robots import DEFAULT_ROBOT

GRAPH_STOP_S = 5.0  # s for the supervisor to stop a graph whose hardware (the twin) died, arm first
SLACK_S = 0.35  # s beyond the bounding timeout: two 20 Hz control periods + DDS delivery + sampling
SETTLE_S = 1.5  # s of normal running (transitions stored) before a fault
NO_STATE_S = 2.0  # command_before_state: s of commands before the first measured state ...
WITH_STATE_S = 5.0  # ... and s of commands after it (arm_node connects, then moves)
COMMAND_AHEAD_S = 0.1  # s after receipt each of its commands is to be reached (a point already due is stale)
ROBOT = DEFAULT_ROBOT  # the suite runs on the default arm's twin


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[GraphRun], float]
    expect: str  # "hold" | "continue" | "shutdown"
    bound: str | float = "watchdog_timeout"  # arm_node parameter (or a fixed time, s) that bounds the hold
    node: str = ""  # fqn of the node a "continue" fault hits (alive or restarted afterwards)
    graph: str = "finetune"
    # what "held" is: "holding" -- arm_node sent the hardware a hold (an empty trajectory; the twin then
    # settles, reported as arm_stopped_within_s); "latched" -- arm/status latched; "motion" -- the twin's
    # joints stop (a fault that bypasses arm_node); "exit" -- the twin is gone (it was the hardware):
    # arm_node held and exited (its close() holds)
    held_by: str = "holding"
    latched: bool = False  # the hold must last to the end of the window (no node may undo it)
    window_s: float = 6.0
    check: Callable[[GraphRun, float], tuple[bool, str]] | None = None  # a fault's own condition


def _weights_not_loaded(g: GraphRun, _t0: float) -> tuple[bool, str]:
    versions = [json.loads(m.data).get("weights_version") for m in g.probe.messages.get(_POLICY_STATUS, [])]
    return 999 not in versions, f"policy loaded weight versions {sorted(set(versions))}"


def _commands_finite(g: GraphRun, t0: float) -> tuple[bool, str]:
    bad = [t for t, ok in g.commands if t >= t0 and not ok]
    return not bad, f"{len(bad)} non-finite arm commands after the fault"


_POLICY_STATUS = "/robot1/policy/status"
FAULTS = [
    Fault("kill9_policy", inj.kill_node("policy"), "hold"),
    Fault("kill9_learner", inj.kill_node("learner"), "continue", node="/learner"),
    Fault("kill9_replay_buffer", inj.kill_node("replay_buffer"), "continue", node="/replay_buffer"),
    Fault("kill9_episode_manager", inj.kill_node("episode_manager"), "hold", bound="heartbeat_timeout",
          latched=True),
    Fault("kill9_sim_camera", inj.kill_node("sim"), "shutdown", bound=GRAPH_STOP_S, held_by="exit"),
    Fault("kill9_teleop", inj.kill_node("teleop"), "hold", graph="collect"),
    Fault("sigterm_supervisor", inj.signal_launcher(signal.SIGTERM), "shutdown", held_by="motion"),
    Fault("sigint_supervisor", inj.signal_launcher(signal.SIGINT), "shutdown", held_by="motion"),
    Fault("kill9_supervisor", inj.signal_launcher(signal.SIGKILL), "shutdown", held_by="motion"),
    Fault("arm_stop_then_next_episode", inj.arm_stop, "hold", window_s=14.0, latched=True),
    Fault("frozen_controller_state", inj.freeze_twin, "hold", bound=SIM_CLOCK_STALL_S, held_by="latched",
          latched=True),
    Fault("malformed_label", inj.publish_label, "continue", node="/robot1/episode_manager"),
    Fault("transition_without_reward", inj.bad_transition("no_reward"), "continue", node="/replay_buffer"),
    Fault("nan_transition", inj.bad_transition("nan"), "continue", node="/replay_buffer"),
    Fault("nan_weights", inj.nan_weights, "continue", node="/robot1/policy", check=_weights_not_loaded),
    Fault("nan_teleop_action", inj.nan_teleop, "continue", node="/robot1/policy", check=_commands_finite),
    Fault("hw_topic_intruder", inj.hw_intruder, "hold", window_s=4.0, held_by="motion", latched=True),
]
SPECIAL = ("command_before_state",)  # runs arm_node alone (no graph): `command_before_state`
FAULT_NAMES = [f.name for f in FAULTS] + list(SPECIAL)


TINY_IMAGE_SIZE = 16  # px: the smallest camera image the twin renders; an image checkpoint that trains in seconds


def tiny_checkpoint(root: Path, obs_mode: str = "markers") -> Path:
    """Three scripted reach demos through the recorder + a few PostBC epochs: a policy that acts
    (the same `postbc collect` / `postbc pretrain` a user runs), observing `obs_mode` (collect's
    default, markers, is what the graphs observe by default; state: the twin's privileged vector)."""
    root = Path(root)
    for argv in (
        ["collect", "--robot", ROBOT, "--task", "reach", "--episodes", "3", "--scripted",
         "--out", str(root / "demos"), "--no-progress", "--obs-mode", obs_mode, "--image-size", str(TINY_IMAGE_SIZE)],
        ["pretrain", "--dataset", str(root / "demos"), "--method", "postbc", "--ensemble-size", "2",
         "--epochs", "20", "--hidden", "32,32", "--out", str(root / "policy"), "--quiet"],
    ):
        done = subprocess.run([sys.executable, "-m", "postbc_ros.cli.main", *argv], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the suite's checkpoint failed: postbc {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return root / "policy"


def _graph_args(f: Fault, checkpoint: Path, out: Path) -> dict[str, str]:
    args = {"robot": ROBOT, "task": "reach", "output_dir": str(out), "camera_rate": "0"}
    if f.graph == "finetune":
        args.update(checkpoint=str(checkpoint), mode="best_of_n")
    else:
        args.update(device="scripted")
    return args


def _counts(f: Fault, out: Path) -> dict[int, int]:
    return replay_counts(out / "replay" / "robot1") if f.graph == "finetune" else dataset_frames(out / "demos_robot1")


def run_fault(f: Fault, checkpoint: Path, work: Path, domain: int) -> dict:
    run_dir = work / f.name
    out = run_dir / "out"
    args = _graph_args(f, checkpoint, out)
    row = {"fault": f.name, "expect": f.expect, "arm_held_within_s": None, "held": False,
           "graph_state": "", "detail": ""}
    g = GraphRun(f.graph, args, run_dir, domain)
    with g:
        _watch_extra(g)
        g.wait_moving()
        time.sleep(SETTLE_S)
        before = _counts(f, out)
        g.wait_moving()  # the fault hits a moving arm (a policy between chunks or at its goal holds anyway)
        bound = row["watchdog_s"] = (g.parameter(f"/{g.ns}/arm", f.bound) if isinstance(f.bound, str)
                                     else float(f.bound))  # a parameter as the running arm_node has it
        t0 = f.inject(g)
        time.sleep(max(0.0, t0 + f.window_s - time.monotonic()))
        t_end = time.monotonic()
        stopped = g.held_within(t0, t_end)  # the twin's joints: the hold as the hardware shows it
        row["arm_stopped_within_s"] = None if stopped is None else round(stopped, 3)
        if f.held_by == "holding":
            within = g.hold_sent_within(t0)
        elif f.held_by == "latched":
            within = g.first_status(t0, lambda s: s.get("latched"))
        elif f.held_by == "exit":
            within = g.exited_within(f"/{g.ns}/arm", t0)
        else:
            within = stopped
        row["arm_held_within_s"] = None if within is None else round(within, 3)
        row["held"] = within is not None and within <= bound + SLACK_S
        if f.latched and stopped is not None and g.moved_since(t0 + stopped + 1e-6):
            row["held"] = False
            row["detail"] = f"moved again {g.motion_times(t0 + stopped + 1e-6)[0] - t0:.2f} s after the fault"
        ok_extra, detail = f.check(g, t0) if f.check else (True, "")
        row["detail"] = "; ".join(x for x in (row["detail"], detail) if x)
        row["graph_state"] = _graph_state(g, f)
        running = g.launcher_alive()
        g.shutdown()
    left = g.left
    after = _counts(f, out)
    lost = sum(max(0, n - after.get(ep, 0)) for ep, n in before.items())
    row.update(transitions_before=sum(before.values()), transitions_after=sum(after.values()), lost=lost)
    if left:
        row["graph_state"] += f"; {len(left)} node process(es) left running"
    row["ok"] = bool(lost == 0 and not left and ok_extra and _verdict(f, row, running, before, after))
    return row


def _verdict(f: Fault, row: dict, running: bool, before: dict, after: dict) -> bool:
    if f.expect == "hold":
        return row["held"]
    if f.expect == "shutdown":
        return row["held"] and not running
    # continue: the graph runs on, the hit node is back, learning data keeps arriving
    return running and "down" not in row["graph_state"] and sum(after.values()) > sum(before.values())


def _watch_extra(g: GraphRun) -> None:
    """Policy status (weight versions) and arm commands (finite?) for the faults' own checks."""
    import numpy as np
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.ros import qos

    g.commands = []
    g.probe.subscribe(String, _POLICY_STATUS, qos.LATCHED)
    g.probe.node.create_subscription(
        JointTrajectory, "/robot1/arm/command",
        lambda m: g.commands.append((time.monotonic(), all(np.isfinite(p.positions).all() for p in m.points))),
        qos.COMMAND)


def _graph_state(g: GraphRun, f: Fault) -> str:
    if not g.launcher_alive():
        return f"stopped (postbc launch exit {g.proc.returncode})"
    down = [n for n in g.pids if not g.alive(n)]
    state = "running" if not down else "running; down: " + ", ".join(sorted(down))
    restarted = sorted(n for n, k in g.starts.items() if k > 1)
    return state + ("; restarted: " + ", ".join(restarted) if restarted else "")


def run_command_before_state(work: Path, domain: int) -> dict:
    """arm_node alone on the ros2_control backend: commands arrive before any measured state (and
    go on after the state appears); the node must stay up and send nothing before it has a state."""
    import numpy as np
    from builtin_interfaces.msg import Duration
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from postbc_ros.robots import get_robot_spec
    from postbc_ros.ros import conversions as conv, qos
    from postbc_ros.ros.probe import Probe

    spec = get_robot_spec(ROBOT)
    run_dir = work / "command_before_state"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    argv = [sys.executable, "-u", "-m", "postbc_ros.nodes.arm_node", "--ros-args", "-r", "__ns:=/robot1",
            "-p", f"robot:={ROBOT}", "-p", "backend:=ros2_control", "-p", "autostart:=true",
            "-p", f"safety_rig:={ROBOT}_twin", "-r", f"__node:=arm_{run_dir.name}"]
    log = open(run_dir / "arm.log", "w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    probe = Probe(domain, name="fault_probe")
    probe.subscribe(JointTrajectory, "/robot1/hw/joint_trajectory_controller/joint_trajectory", qos.COMMAND)
    cmd = probe.publisher(JointTrajectory, "/robot1/arm/command", qos.COMMAND)
    hw = probe.publisher(JointState, "/robot1/hw/joint_states", qos.STATE)
    names = list(spec.joint_names)
    q = np.array(spec.home, float)
    try:
        inj.wait_matched(cmd, timeout=60.0)  # the node is up and listening
        t0 = time.monotonic()
        first_state = t0 + NO_STATE_S  # the measured state appears only after NO_STATE_S of commands
        while time.monotonic() < first_state + WITH_STATE_S:
            cmd.publish(JointTrajectory(joint_names=names, points=[JointTrajectoryPoint(  # reached one period ahead
                positions=(q + 0.05).tolist(), time_from_start=Duration(nanosec=int(COMMAND_AHEAD_S * 1e9)))]))
            if time.monotonic() >= first_state:
                hw.publish(conv.joint_state_msg(names, q, time.time()))
            time.sleep(0.05)
        arrivals = probe.arrivals.get("/robot1/hw/joint_trajectory_controller/joint_trajectory", [])
        early = [t for t in arrivals if t < first_state]
        alive = proc.poll() is None
    finally:
        probe.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    held = not early
    return {"fault": "command_before_state", "expect": "hold", "watchdog_s": None,
            "arm_held_within_s": 0.0 if held else None, "held": held, "transitions_before": 0,
            "transitions_after": 0, "lost": 0,
            "graph_state": "arm_node running" if alive else f"arm_node died (exit {proc.returncode})",
            "ok": bool(alive and held and len(arrivals) > len(early)),
            "detail": f"{len(early)} hardware commands before the first state, {len(arrivals) - len(early)} after it"}


def run_suite(names: list[str], work: Path, checkpoint: Path | None, progress: Callable[[dict], None]) -> list[dict]:
    from postbc_ros.ros.probe import unique_domain

    work.mkdir(parents=True, exist_ok=True)
    by_name = {f.name: f for f in FAULTS}
    unknown = sorted(set(names) - set(FAULT_NAMES))
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; known: {FAULT_NAMES}")
    if checkpoint is None and any(by_name.get(n, Fault("", None, "")).graph == "finetune" for n in names):
        checkpoint = tiny_checkpoint(work / "checkpoint")
    rows = []
    for name in names:
        dom = unique_domain()
        try:
            row = run_command_before_state(work, dom) if name in SPECIAL else run_fault(by_name[name], checkpoint, work, dom)
        except Exception as e:  # a fault the suite could not even run is a failed row, not a crash
            row = {"fault": name, "ok": False, "detail": f"{type(e).__name__}: {e}"}
        rows.append(row)
        progress(row)
    return rows


def summary(rows: list[dict]) -> dict:
    return {"faults": len(rows), "ok": sum(bool(r.get("ok")) for r in rows),
            "failed": [r["fault"] for r in rows if not r.get("ok")],
            "max_held_within_s": max([r["arm_held_within_s"] for r in rows
                                      if isinstance(r.get("arm_held_within_s"), (int, float))
                                      and math.isfinite(r["arm_held_within_s"])] or [0.0])}
