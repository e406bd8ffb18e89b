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


def test_a_latched_arm_stops_the_demo_at_once_and_says_why(tmp_path):
    """`postbc arm stop` mid-finetuning latches the arm: the episode manager's enable is refused,
    and since the twin demo has no operator to clear the latch it stops at once (instead of waiting
    out --timeout), names the latch, and still writes its summary with the episodes done."""
    import time

    from postbc_ros.cli.arm_cmd import STOP_SERVICE, call_trigger
    from postbc_ros.cli.demo_report import read_episode_log
    from tests.ros.harness import unique_domain

    out, domain = tmp_path / "demo", unique_domain()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "postbc_ros.cli.main", "demo", "--demos", "2", "--pretrain-epochs", "5",
         "--ensemble-size", "2", "--hidden", "16", "--episodes", "200", "--block", "1", "--pretrained-eval-episodes",
         "0", "--domain-id", str(domain), "--timeout", "600", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 150
        log = out / "episodes_robot1.jsonl"
        while time.monotonic() < deadline and proc.poll() is None and not any(
                r["event"] == "episode" for r in read_episode_log(log)):
            time.sleep(0.5)
        assert any(r["event"] == "episode" for r in read_episode_log(log)), "no finetuning episode finished"
        ok, message = call_trigger("/robot1", domain, STOP_SERVICE, timeout=20)
        assert ok, message
        t_stop = time.monotonic()
        stdout, stderr = proc.communicate(timeout=90)
        waited = time.monotonic() - t_stop
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert waited < 60  # not the 600 s --timeout
    assert "robot1's arm latched" in stderr and "operator stop (arm/stop)" in stderr, stderr[-2000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["stopped_early"].startswith("arm latched: robot1: arm latched: operator stop (arm/stop)")
    assert 1 <= summary["episodes"] < 200
    refused = [r for r in read_episode_log(log) if r["event"] == "arm_refused"]
    assert refused and refused[-1]["message"].startswith("arm latched")
