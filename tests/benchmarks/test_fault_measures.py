"""The fault suite's measurements on recorded samples (no graph): when the arm held, what counts
as lost, and which processes are orphans."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from postbc_ros.benchmarks.fault_graph import MOTION_EPS, QUIET_S, GraphRun, processes_with


def _run(samples):
    g = GraphRun("finetune", {}, "/nonexistent", 0)
    g.samples = [(t, np.array(q, float)) for t, q in samples]
    return g


def test_held_within_is_the_start_of_the_first_quiet_stretch():
    # moving every 0.1 s until t = 10.4, then still
    samples = [(10 + 0.1 * k, [0.01 * min(k, 4)]) for k in range(40)]
    g = _run(samples)
    assert abs(g.held_within(10.05, 14.0) - 0.35) < 1e-9  # the last motion sample arrived at 10.4
    assert g.held_within(10.05, 10.05 + 0.35 + QUIET_S - 0.01) is None  # not quiet for QUIET_S yet


def test_an_arm_that_keeps_moving_never_held_and_a_pause_counts_only_if_long_enough():
    moving = [(0.1 * k, [0.01 * k]) for k in range(100)]
    assert _run(moving).held_within(1.0, 10.0) is None
    # a 0.5 s pause (shorter than QUIET_S) is not a hold; motion resumes and then stops for good at 6.0
    pos, samples = 0.0, []
    for k in range(100):
        t = 0.1 * k
        if not (3.0 < t < 3.5) and t <= 6.0:
            pos += 0.01
        samples.append((t, [pos]))
    held = _run(samples).held_within(1.0, 10.0)
    assert held is not None and abs(held - 5.0) < 0.11


def test_motion_below_the_threshold_is_not_motion():
    jitter = [(0.1 * k, [MOTION_EPS * 0.5 * (-1) ** k]) for k in range(50)]
    assert _run(jitter).held_within(0.0, 5.0) == 0.0


def test_processes_with_finds_a_live_process_by_its_command_line(tmp_path):
    marker = str(tmp_path / "launch")
    p = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(30)", marker])
    try:
        t_end = time.monotonic() + 10.0  # a loaded machine may take a moment to show the new process
        while p.pid not in processes_with(marker) and time.monotonic() < t_end:
            time.sleep(0.05)
        assert p.pid in processes_with(marker)
    finally:
        p.kill()
        p.wait()
    assert p.pid not in processes_with(marker)
