"""`postbc demo`, tiny: scripted demos -> PostBC -> finetune graph over ROS 2 -> JSON + PNG."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_tiny(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "postbc_ros.cli.main", "demo", "--demos", "3", "--pretrain-epochs", "10",
         "--ensemble-size", "2", "--hidden", "32,32", "--episodes", "2", "--block", "1", "--pretrained-eval-episodes", "3", "--out", str(out),
         "--timeout", "120"], capture_output=True, text=True, env=env, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "episodes   1-  1: success" in proc.stdout and "episodes   2-  2: success" in proc.stdout
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["episodes"] == 2 and len(summary["blocks"]) == 2
    assert summary["demos"]["episodes"] == 3
    assert 0.0 <= summary["success_rate"] <= 1.0
    # the pretrained baseline and the rise of the last blocks over it
    assert summary["pretrained_eval"]["episodes"] == 3 and 0.0 <= summary["pretrained_success"] <= 1.0
    assert summary["last_blocks"] == 2 and summary["improvement_over_pretrained"] == (
        summary["last_blocks_mean"] - summary["pretrained_success"])
    png = (out / "success_per_block.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert (out / "replay" / "robot1" / "STORE.json").exists()


def _node_processes_of(out: Path) -> list[str]:
    """Command lines of running processes started with a parameter file under `out`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(out / "launch") in cmd and "postbc_ros.nodes." in cmd:
            found.append(cmd)
    return found


def test_a_killed_demo_takes_its_nodes_with_it(tmp_path):
    """SIGTERM (`kill`) of `postbc demo` shuts its graph down: no node keeps running (an orphaned
    graph kept publishing on its ROS domain, where a later run picked it up)."""
    import signal
    import time

    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "postbc_ros.cli.main", "demo", "--demos", "2", "--pretrain-epochs", "5",
         "--ensemble-size", "2", "--hidden", "16", "--episodes", "50", "--pretrained-eval-episodes", "0",
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_node_processes_of(out)) < 6:
            time.sleep(0.5)
        assert len(_node_processes_of(out)) == 6, "the finetune graph did not start"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert _node_processes_of(out) == [], "nodes outlived the demo"
    finally:
        if proc.poll() is None:
            proc.kill()
        for cmd in _node_processes_of(out):
            subprocess.run(["pkill", "-f", cmd.split(" --ros-args")[0] + " --ros-args.*" + str(out)], check=False)
