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
