"""One twin graph started the way a user starts it (`postbc launch` in its own process), watched
from outside for the fault suite (`postbc_ros.benchmarks.faults`).

`GraphRun` starts the launcher, learns every node's pid from its log ("started /robot1/policy
(policy_node) pid N"; a restarted node logs a new line), and keeps a `Probe` on the graph's domain
that records the twin's measured joint positions (`hw/joint_states`, the simulated hardware's own
truth, independent of arm_node) and arm_node's `arm/status`. It answers what the suite measures:
when the arm stopped moving, what the replay store holds, which node processes are alive, and
whether any is left running once the launcher is gone.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

MOTION_EPS = 2e-3  # rad: a joint-state sample that moved a joint more than this is motion
QUIET_S = 1.0  # s without motion that count as "the arm holds"
ORPHAN_WAIT_S = 10.0  # s the node processes get to exit once their launcher is gone
EXIT_POLL_S = 0.05  # s between checks of which node processes are alive
START_TIMEOUT_S = 120.0  # s for the graph to start, load the policy and move the arm
_STARTED = re.compile(r"\[launch\] started (\S+) \((\w+)\) pid (\d+)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_with(marker: str) -> list[int]:
    """Pids of the live processes whose command line contains `marker` (a run's own directory)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd and _alive(int(d.name)):
            out.append(int(d.name))
    return out


class GraphRun:
    """`postbc launch GRAPH` in a subprocess plus a probe; use as a context manager."""

    def __init__(self, graph: str, args: dict[str, str], run_dir: Path, domain: int, ns: str = "robot1"):
        self.graph, self.args, self.run_dir, self.domain, self.ns = graph, dict(args), Path(run_dir), domain, ns
        self.pids: dict[str, int] = {}  # fqn -> pid of its latest start
        self.starts: dict[str, int] = {}  # fqn -> how often the launcher started it
        self.exits: dict[int, float] = {}  # pid -> monotonic time its exit was seen
        self._closed = threading.Event()
        self.left: list[int] = []  # node processes found alive after the launcher was gone (killed then)
        self.log_lines: list[str] = []
        self.samples: list[tuple[float, np.ndarray]] = []  # (monotonic arrival, measured q) of the twin
        self.status: list[tuple[float, dict]] = []  # (monotonic arrival, arm/status JSON)
        self.setpoints: list[tuple[float, int]] = []  # (monotonic arrival, points) sent by arm_node to the twin
        self.joint_names: list[str] = []  # of the twin's measured state
        self.proc: subprocess.Popen | None = None
        self.probe = None

    # ------------------------------------------------------------ start / stop
    def __enter__(self) -> "GraphRun":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-u", "-m", "postbc_ros.cli.main", "launch", self.graph,
                *[f"{k}:={v}" for k, v in self.args.items()], f"domain_id:={self.domain}",
                "discovery_range:=LOCALHOST", "--run-dir", str(self.run_dir / "launch"), "--grace", "5"]
        env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._watch_exits, daemon=True).start()
        self._start_probe()
        return self

    def _pump(self) -> None:
        with open(self.run_dir / "launch.log", "w") as f:
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                f.write(line)
                f.flush()
                self.log_lines.append(line)
                m = _STARTED.search(line)
                if m:
                    self.pids[m.group(1)] = int(m.group(3))
                    self.starts[m.group(1)] = self.starts.get(m.group(1), 0) + 1

    def _start_probe(self) -> None:
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from postbc_ros.ros import qos
        from postbc_ros.ros.probe import Probe

        self.probe = Probe(self.domain, name="fault_probe")
        node = self.probe.node
        node.create_subscription(JointState, f"/{self.ns}/hw/joint_states", self._on_joints, qos.STATE)
        node.create_subscription(String, f"/{self.ns}/arm/status", self._on_status, qos.LATCHED)
        node.create_subscription(JointTrajectory, f"/{self.ns}/hw/joint_trajectory_controller/joint_trajectory",
                                 lambda m: self.setpoints.append((time.monotonic(), len(m.points))), qos.COMMAND)

    def _on_joints(self, msg) -> None:
        self.joint_names = list(msg.name)
        self.samples.append((time.monotonic(), np.array(msg.position, float)))

    def _on_status(self, msg) -> None:
        try:
            self.status.append((time.monotonic(), json.loads(msg.data)))
        except ValueError:
            pass

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def shutdown(self, sig: int = signal.SIGINT, timeout: float = 40.0) -> int | None:
        """Stop the launcher with `sig` (it stops its nodes) and wait; then make sure none is left."""
        for pid in self.node_pids():  # a node stopped by the suite (SIGSTOP) must hear its shutdown
            _signal(pid, signal.SIGCONT)
        if self.proc is not None and self.proc.poll() is None:
            _signal(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        self._closed.set()
        self.left = self.orphans()
        for pid in self.left:
            _signal(pid, signal.SIGKILL)
        return None if self.proc is None else self.proc.returncode

    def orphans(self, wait: float = ORPHAN_WAIT_S) -> list[int]:
        """Node processes of this run still alive `wait` s after the launcher is gone (or now, if it is not)."""
        marker = str(self.run_dir / "launch")
        t_end = time.monotonic() + wait
        while True:
            left = [p for p in processes_with(marker) if self.proc is None or p != self.proc.pid]
            launcher_gone = self.proc is None or self.proc.poll() is not None
            if not left or not launcher_gone or time.monotonic() > t_end:
                return left if launcher_gone else []
            time.sleep(0.2)

    # ------------------------------------------------------------ what is running
    def node_pids(self) -> list[int]:
        return [p for p in self.pids.values() if _alive(p)]

    def pid(self, fqn: str) -> int:
        if fqn not in self.pids:
            raise KeyError(f"{fqn} was not started; the graph has {sorted(self.pids)}")
        return self.pids[fqn]

    def alive(self, fqn: str) -> bool:
        return fqn in self.pids and _alive(self.pids[fqn])

    def exited_within(self, fqn: str, t0: float) -> float | None:
        """Seconds from `t0` until node `fqn`'s latest process exited (None while it runs)."""
        pid = self.pids.get(fqn)
        return None if pid not in self.exits else max(0.0, self.exits[pid] - t0)

    def _watch_exits(self) -> None:
        while not self._closed.is_set():
            for pid in list(self.pids.values()):
                if pid not in self.exits and not _alive(pid):
                    self.exits[pid] = time.monotonic()
            time.sleep(EXIT_POLL_S)

    def launcher_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, fqn: str, sig: int = signal.SIGKILL) -> None:
        _signal(self.pid(fqn), sig)

    def parameter(self, fqn: str, name: str) -> float:
        """A node's parameter as the running node has it (its get_parameters service)."""
        from rcl_interfaces.srv import GetParameters

        res = self.probe.call(GetParameters, f"{fqn}/get_parameters", GetParameters.Request(names=[name]))
        if not res.values or res.values[0].type == 0:  # PARAMETER_NOT_SET
            raise KeyError(f"{fqn} has no parameter {name!r}")
        v = res.values[0]
        return float(v.double_value if v.type == 3 else v.integer_value)

    # ------------------------------------------------------------ what the arm does
    def wait_moving(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the twin's arm moves (the policy or the operator is driving it)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postbc launch exited with {self.proc.returncode} before the arm moved:\n"
                                   + "".join(self.log_lines[-40:]))
            if self.moved_since(time.monotonic() - 0.5):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the arm did not move within {timeout:.0f} s:\n" + "".join(self.log_lines[-40:]))

    def motion_times(self, since: float) -> list[float]:
        """Arrival times after `since` of the samples that moved a joint more than MOTION_EPS."""
        out, prev = [], None
        for t, q in list(self.samples):
            if prev is not None and t >= since and q.shape == prev.shape and np.max(np.abs(q - prev)) > MOTION_EPS:
                out.append(t)
            prev = q
        return out

    def moved_since(self, since: float) -> bool:
        return bool(self.motion_times(since))

    def held_within(self, t0: float, until: float) -> float | None:
        """Seconds from `t0` to the start of the first QUIET_S-long stretch without motion that
        begins before `until - QUIET_S`; None if the arm kept moving."""
        start = t0
        for t in self.motion_times(t0) + [np.inf]:
            if t - start >= QUIET_S:
                return start - t0 if start + QUIET_S <= until else None
            start = t
        return None

    def hold_sent_within(self, t0: float) -> float | None:
        """Seconds from `t0` to arm_node's first hold sent to the hardware after it (an empty
        trajectory: the controller stops where it is); None if it sent none."""
        holds = [t for t, n in list(self.setpoints) if t >= t0 and n == 0]
        return (min(holds) - t0) if holds else None

    def first_status(self, t0: float, pred) -> float | None:
        """Seconds from `t0` to the first arm/status after it that satisfies `pred`."""
        for t, s in list(self.status):
            if t >= t0 and pred(s):
                return t - t0
        return None


def replay_counts(root: Path) -> dict[int, int]:
    """Committed steps per episode in a replay store (read-only; {} when there is none yet)."""
    from postbc_ros.core.replay_store import ReplayStore

    if not (Path(root) / "STORE.json").exists():
        return {}
    store = ReplayStore(root, mode="r")
    try:
        return {e.episode: e.num_steps for e in store.episodes()}
    finally:
        store.close()


def dataset_frames(root: Path) -> dict[int, int]:
    """Frames of a LeRobot dataset's finished episodes ({0: total}; {} when none is written yet)."""
    info = Path(root) / "meta" / "info.json"
    if not info.exists():
        return {}
    return {0: int(json.loads(info.read_text()).get("total_frames", 0))}


def _signal(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
