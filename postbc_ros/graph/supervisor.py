"""Process supervisor behind `postbc launch`: each node of a GraphSpec is its own process.

* the same command line ros2 launch would build: `<python> -m postbc_ros.nodes.<exe> --ros-args
  -r __node:=NAME -r __ns:=/NS --params-file FILE -r from:=to ...`, with the graph's env;
* every output line is prefixed with the node's name (`[robot1/arm] ...`);
* SIGINT/SIGTERM (Ctrl-C) -> SIGINT to every node, SIGTERM after `grace` seconds, then SIGKILL;
* a node that exits is reported with its exit code; if it was `required`, the graph shuts down.
"""
from __future__ import annotations

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

from postbc_ros.graph.spec import GraphSpec, NodeSpec
from postbc_ros.ros.bootstrap import dds_env, wheel_library_path

_COLORS = ["36", "32", "35", "33", "34", "31", "96", "92", "95"]


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


class Supervisor:
    def __init__(self, graph: GraphSpec, run_dir: Path, out: TextIO | None = None,
                 grace: float = 8.0, on_exit: Callable[[NodeSpec, int], None] | None = None):
        self.graph = graph
        self.run_dir = Path(run_dir)
        self.out = out or sys.stdout
        self.grace = grace
        self.on_exit = on_exit
        self.procs: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}
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
        from postbc_ros.ros.dds_shm import clean_stale_fastdds_shm

        stale = clean_stale_fastdds_shm()  # left by killed DDS processes; reopened ports lose messages
        if stale:
            self._emit("[launch]", f"removed {len(stale)} stale Fast DDS shared-memory files of dead processes")
        for i, p in enumerate(plan(self.graph, self.run_dir)):
            proc = subprocess.Popen(p.argv, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=None if p.node.interactive else subprocess.DEVNULL,
                                    start_new_session=not p.node.interactive)
            self.procs[p.node.fqn] = proc
            t = threading.Thread(target=self._pump, args=(p.node.fqn, _COLORS[i % len(_COLORS)], proc.stdout),
                                 daemon=True)
            t.start()
            self._threads.append(t)
            self._emit("[launch]", f"started {p.node.fqn} ({p.node.executable}) pid {proc.pid}")

    def poll(self) -> list[tuple[NodeSpec, int]]:
        """Newly exited nodes (reported once each)."""
        died = []
        for n in self.graph.nodes:
            proc = self.procs.get(n.fqn)
            if proc is None or n.fqn in self.exit_codes:
                continue
            rc = proc.poll()
            if rc is not None:
                self.exit_codes[n.fqn] = rc
                how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
                verb = "exited" if self._stop.is_set() else "died"
                self._emit("[launch]", f"process {n.fqn} ({n.executable}) {verb}: {how}"
                           + (" -- required node, shutting the graph down" if n.required and not self._stop.is_set() else ""))
                died.append((n, rc))
                if self.on_exit:
                    self.on_exit(n, rc)
        return died

    def wait(self, timeout: float | None = None) -> int:
        """Block until shutdown is requested, a required node dies, or every node exited."""
        t_end = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            for n, _rc in self.poll():
                if n.required:
                    self._stop.set()
            if len(self.exit_codes) == len(self.procs):
                break
            if t_end is not None and time.monotonic() > t_end:
                break
            time.sleep(0.1)
        return self.shutdown()

    def request_stop(self, *_a) -> None:
        self._stop.set()

    def shutdown(self) -> int:
        """SIGINT every running node, then SIGTERM, then SIGKILL. Returns 0 if all exited cleanly."""
        self._stop.set()
        alive = {k: p for k, p in self.procs.items() if p.poll() is None}
        for p in alive.values():
            _signal(p, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(p.poll() is None for p in alive.values()):
            time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            still = [p for p in alive.values() if p.poll() is None]
            if not still:
                break
            for p in still:
                _signal(p, sig)
            t = time.monotonic() + 2.0
            while time.monotonic() < t and any(p.poll() is None for p in still):
                time.sleep(0.05)
        self.poll()
        for t in self._threads:
            t.join(timeout=2.0)
        bad = {k: rc for k, rc in self.exit_codes.items() if rc not in (0, -signal.SIGINT)}
        return 0 if not bad else 1


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        if os.getpgid(proc.pid) == proc.pid:  # its own session: signal the whole group
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass
