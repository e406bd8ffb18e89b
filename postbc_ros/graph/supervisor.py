"""Process supervisor behind `postbc launch`: each node of a GraphSpec is its own process.

* the same command line ros2 launch would build: `<python> -m postbc_ros.nodes.<exe> --ros-args
  -r __node:=NAME -r __ns:=/NS --params-file FILE -r from:=to ...`, with the graph's env;
* every output line is prefixed with the node's name (`[robot1/arm] ...`);
* SIGINT/SIGTERM (Ctrl-C) -> SIGINT to the arm nodes first (they hold and disconnect while the
  rest still runs), then to every other node; SIGTERM after `grace` seconds, then SIGKILL;
* a node that exits is reported with its exit code and handled by its `ExitPolicy`
  (docs/fault_policy.md): restarted within a budget with backoff, the graph stopped, or ignored;
  a clean exit of a node whose policy says `on_done="complete"` (its work is done; with several
  such nodes, one per robot, the last of them) shuts the graph down in the same order and counts as a clean end (`completed`);
* children die with the supervisor: each starts with PR_SET_PDEATHSIG = SIGTERM (Linux) in its own
  session, and gets POSTBC_SUPERVISOR_PID (the arm node watches it as a heartbeat). A `kill -9` of
  `postbc launch` thus sends every node SIGTERM. The kernel sends the signal when the *thread*
  that forked the child exits, so every start and restart happens in the thread that runs
  `start()` / `wait()` (the main thread of `postbc launch`): never start nodes from a short-lived
  thread.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import yaml

from postbc_ros.graph.spec import COMPLETE, HW_COMMAND, IGNORE, RESTART, STOP_GRAPH, GraphSpec, NodeSpec
from postbc_ros.ros.bootstrap import dds_env, wheel_library_path

_COLORS = ["36", "32", "35", "33", "34", "31", "96", "92", "95"]
SUPERVISOR_PID_ENV = "POSTBC_SUPERVISOR_PID"  # each node's env: the supervisor to watch (arm heartbeat)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_DEATH_SIGNAL = signal.SIGTERM  # what a node gets when the supervisor dies (the arm node holds on it)
POLL_S = 0.1  # s between checks of the children
ESCALATE_S = 2.0  # s given to SIGTERM, then to SIGKILL, at shutdown


def _load_prctl():
    """libc's prctl, looked up before any fork (a forked child must not load libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return fn


_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int, nice: int = 0) -> Callable[[], None] | None:
    """preexec_fn for Popen: the child gets PARENT_DEATH_SIGNAL when its parent (thread) dies;
    a parent that died between fork and prctl is caught by comparing getppid; `nice` > 0 lowers
    its CPU priority. None off Linux without a niceness to set."""
    if _PRCTL is None and not nice:
        return None

    def _pre() -> None:
        if nice:
            os.nice(nice)
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(PARENT_DEATH_SIGNAL), 0, 0, 0)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), PARENT_DEATH_SIGNAL)

    return _pre


@dataclass
class ProcessPlan:
    """How one node is started (used by the supervisor and by the launch equivalence test)."""

    node: NodeSpec
    argv: list[str]
    params_file: Path
    env: dict[str, str]


def write_params_file(node: NodeSpec, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (node.fqn.strip("/").replace("/", "__") + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump({node.fqn: {"ros__parameters": dict(node.parameters)}}, f, sort_keys=True)
    return path


def plan(graph: GraphSpec, run_dir: Path, python: str | None = None) -> list[ProcessPlan]:
    base = dds_env(
        domain_id=int(graph.env["ROS_DOMAIN_ID"]),
        discovery_range=graph.env["ROS_AUTOMATIC_DISCOVERY_RANGE"],
    )
    base.update(graph.env)
    lib = wheel_library_path()
    if lib:  # spares every node the bootstrapper's re-exec
        base["LD_LIBRARY_PATH"] = lib
        base["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] = "1"
    # every node imports the same postbc_ros as this launcher (source tree, pip or colcon install)
    pkg_parent = str(Path(__file__).resolve().parents[2])
    paths = [pkg_parent] + [x for x in base.get("PYTHONPATH", "").split(os.pathsep) if x and x != pkg_parent]
    base["PYTHONPATH"] = os.pathsep.join(paths)
    base[SUPERVISOR_PID_ENV] = str(os.getpid())
    out = []
    for n in graph.nodes:
        pf = write_params_file(n, run_dir / "params")
        argv = [python or sys.executable, "-u", "-m", f"postbc_ros.nodes.{n.executable}"] + n.ros_args(str(pf))
        out.append(ProcessPlan(node=n, argv=argv, params_file=pf, env=dict(base)))
    return out


def parse_ros_args(argv: list[str]) -> dict:
    """Inverse of NodeSpec.ros_args (+ params file contents): what a started process will get."""
    i = argv.index("--ros-args")
    rest = argv[i + 1:]
    out = {"name": None, "namespace": "", "parameters": {}, "remappings": []}
    k = 0
    while k < len(rest):
        if rest[k] == "-r":
            a, b = rest[k + 1].split(":=", 1)
            if a == "__node":
                out["name"] = b
            elif a == "__ns":
                out["namespace"] = b.strip("/")
            else:
                out["remappings"].append([a, b])
            k += 2
        elif rest[k] == "--params-file":
            with open(rest[k + 1]) as f:
                data = yaml.safe_load(f)
            (section,) = data.values()
            out["parameters"] = section["ros__parameters"]
            k += 2
        else:
            raise ValueError(f"unexpected ros argument {rest[k]!r}")
    return out


class RestartBudget:
    """Restarts of one node within its policy's window: how long to wait before the next one, or
    None once the budget is spent (ROS-free; tested with a fake clock)."""

    def __init__(self, max_restarts: int, window_s: float, backoff_s: float):
        self.max_restarts, self.window_s, self.backoff_s = max_restarts, window_s, backoff_s
        self.times: list[float] = []

    def next_delay(self, now: float) -> float | None:
        self.times = [t for t in self.times if now - t < self.window_s]
        if len(self.times) >= self.max_restarts:
            return None
        delay = self.backoff_s * 2 ** len(self.times)
        self.times.append(now)
        return delay


class Supervisor:
    def __init__(self, graph: GraphSpec, run_dir: Path, out: TextIO | None = None,
                 grace: float = 8.0, on_exit: Callable[[NodeSpec, int], None] | None = None,
                 python: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.graph = graph
        self.run_dir = Path(run_dir)
        self.out = out or sys.stdout
        self.grace = grace
        self.on_exit = on_exit
        self.python = python
        self.clock = clock
        self.procs: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}
        self.restarts: dict[str, int] = {}  # restarts made per node (all time)
        self.stop_reason: str | None = None  # why a policy stopped the graph (a failure)
        self.completed: str | None = None  # which node's clean exit completed the graph's work
        self._plans: dict[str, tuple[int, ProcessPlan]] = {}
        self._budgets = {n.fqn: RestartBudget(n.on_exit.max_restarts, n.on_exit.window_s, n.on_exit.backoff_s)
                         for n in graph.nodes}
        self._pending: dict[str, float] = {}  # fqn -> when to restart it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ output
    def _emit(self, prefix: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{prefix} {line}" if line.endswith("\n") else f"{prefix} {line}\n")
            self.out.flush()

    def _pump(self, fqn: str, color: str, stream) -> None:
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        prefix = f"\033[{color}m[{fqn.strip('/')}]\033[0m" if tty else f"[{fqn.strip('/')}]"
        for raw in iter(stream.readline, b""):
            self._emit(prefix, raw.decode("utf-8", "replace"))
        stream.close()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start every node (call from the thread that will call wait(): see the module docstring)."""
        from postbc_ros.ros.dds_shm import clean_stale_fastdds_shm

        stale = clean_stale_fastdds_shm()  # left by killed DDS processes; reopened ports lose messages
        if stale:
            self._emit("[launch]", f"removed {len(stale)} stale Fast DDS shared-memory files of dead processes")
        for i, p in enumerate(plan(self.graph, self.run_dir, python=self.python)):
            self._plans[p.node.fqn] = (i, p)
            self._spawn(p.node.fqn)

    def _spawn(self, fqn: str) -> None:
        i, p = self._plans[fqn]
        proc = subprocess.Popen(p.argv, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=None if p.node.interactive else subprocess.DEVNULL,
                                start_new_session=not p.node.interactive, preexec_fn=die_with_parent(os.getpid(), p.node.nice))
        self.procs[fqn] = proc
        self.exit_codes.pop(fqn, None)
        t = threading.Thread(target=self._pump, args=(fqn, _COLORS[i % len(_COLORS)], proc.stdout), daemon=True)
        t.start()
        self._threads.append(t)
        self._emit("[launch]", f"started {fqn} ({p.node.executable}) pid {proc.pid}")

    def poll(self) -> list[tuple[NodeSpec, int]]:
        """Newly exited nodes (reported once each), handled by their exit policy; restarts that
        are due happen here (call it from the thread that called start())."""
        self._restart_due()
        died = []
        for n in self.graph.nodes:
            proc = self.procs.get(n.fqn)
            if proc is None or n.fqn in self.exit_codes:
                continue
            rc = proc.poll()
            if rc is not None:
                self.exit_codes[n.fqn] = rc
                how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
                if self._stop.is_set():
                    self._emit("[launch]", f"process {n.fqn} ({n.executable}) exited: {how}")
                else:
                    self._emit("[launch]", f"process {n.fqn} ({n.executable}) died: {how} -- {self._apply(n, rc)}")
                died.append((n, rc))
                if self.on_exit:
                    self.on_exit(n, rc)
        return died

    def _apply(self, n: NodeSpec, rc: int) -> str:
        """Act on an unrequested exit per the node's policy; returns what was done (for the log)."""
        pol = n.on_exit
        action = pol.action
        if rc == 0 and pol.on_done == COMPLETE:
            # one per robot (namespaces): the graph's work is done when each of them has finished its own
            waiting = [m.fqn for m in self.graph.nodes if m.on_exit.on_done == COMPLETE and self.exit_codes.get(m.fqn) != 0]
            if waiting:
                return f"work done (exit 0); the graph runs on until {', '.join(waiting)} finish(es)"
            if self.completed is None:
                self.completed = f"{n.fqn} finished its work"
            self._stop.set()
            return "work done (exit 0), shutting the graph down (the arm first)"
        if action == RESTART:
            if rc == 0:
                return "clean exit, not restarted"
            delay = self._budgets[n.fqn].next_delay(self.clock())
            if delay is not None:
                self._pending[n.fqn] = self.clock() + delay
                return (f"restarting in {delay:g} s (restart {len(self._budgets[n.fqn].times)} of "
                        f"{pol.max_restarts} within {pol.window_s:g} s)")
            action = pol.exhausted
            if action == IGNORE:
                return f"restart budget spent ({pol.max_restarts} within {pol.window_s:g} s), left stopped"
            self._request_graph_stop(f"{n.fqn}: restart budget spent ({pol.max_restarts} within {pol.window_s:g} s)")
            return f"restart budget spent ({pol.max_restarts} within {pol.window_s:g} s), shutting the graph down"
        if action == STOP_GRAPH:
            self._request_graph_stop(f"{n.fqn} exited")
            return "required node, shutting the graph down"
        return "optional node, ignored"

    def _request_graph_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    def _restart_due(self) -> None:
        now = self.clock()
        for fqn, when in list(self._pending.items()):
            if now >= when and not self._stop.is_set():
                del self._pending[fqn]
                self.restarts[fqn] = self.restarts.get(fqn, 0) + 1
                self._spawn(fqn)

    def wait(self, timeout: float | None = None) -> int:
        """Block until shutdown is requested, a policy stops the graph, or every node exited for
        good. Restarts happen here (in the caller's thread: keep it the one that called start())."""
        t_end = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            self.poll()
            if len(self.exit_codes) == len(self.procs) and not self._pending:
                break
            if t_end is not None and time.monotonic() > t_end:
                break
            time.sleep(POLL_S)
        return self.shutdown()

    def request_stop(self, *_a) -> None:
        self._stop.set()

    def shutdown(self) -> int:
        """SIGINT the arm nodes and wait for them (they hold and disconnect first), then the rest;
        each group escalates to SIGTERM after `grace` s, then SIGKILL. Returns 0 if all exited cleanly."""
        self._stop.set()
        self._pending.clear()
        alive = {k: p for k, p in self.procs.items() if p.poll() is None}
        arms = {k for k in alive if self.graph.node(k).hw_access == HW_COMMAND}
        if arms and len(alive) > len(arms):
            self._emit("[launch]", f"stopping {', '.join(sorted(arms))} first (the arm holds), then the rest")
        for group in ({k: alive[k] for k in arms}, {k: p for k, p in alive.items() if k not in arms}):
            self._stop_group(list(group.values()))
        self.poll()
        for t in self._threads:
            t.join(timeout=2.0)
        bad = {k: rc for k, rc in self.exit_codes.items() if rc not in (0, -signal.SIGINT)}
        return 0 if not bad and self.stop_reason is None else 1

    def _stop_group(self, procs: list[subprocess.Popen]) -> None:
        for p in procs:
            _signal(p, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            still = [p for p in procs if p.poll() is None]
            if not still:
                break
            for p in still:
                _signal(p, sig)
            t = time.monotonic() + ESCALATE_S
            while time.monotonic() < t and any(p.poll() is None for p in still):
                time.sleep(0.05)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        if os.getpgid(proc.pid) == proc.pid:  # its own session: signal the whole group
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass
