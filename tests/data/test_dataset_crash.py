"""A recorder killed with SIGKILL loses at most the episode in flight; earlier episodes stay readable
and collection resumes by reopening the folder."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from dataset_synth import FEATURES, features, make_episode

from postbc_ros.data import DatasetWriter, DemoDataset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _start(root, *args):
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(HERE / "crash_recorder.py"), str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _check_content(root) -> int:
    ds = DemoDataset(root)
    for i in range(ds.num_episodes):
        want = make_episode(i, 2 + i % 5)
        ep = ds.episode(i)
        assert len(ep["action"]) == len(want)
        for k in FEATURES:
            assert np.array_equal(ep[k], np.stack([np.asarray(f[k]) for f in want])), (i, k)
        assert ds.episode_success(i) is (i % 2 == 0)
        assert ds.episode_task(i) == ("pick" if i % 3 else "place")
    return ds.num_episodes


def test_sigkill_mid_episode_keeps_completed_episodes(tmp_path):
    p = _start(tmp_path, "--hang-at", "3")
    try:
        lines = []
        for line in p.stdout:
            lines.append(line.strip())
            if line.startswith("MID"):
                break
        assert lines[-1] == "MID 3", (lines, p.stderr.read() if p.poll() is not None else "")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == -signal.SIGKILL
    assert _check_content(tmp_path) == 3
    # resume: reopening appends after the completed episodes
    w = DatasetWriter(tmp_path, features(), fps=10)
    for f in make_episode(3, 2 + 3 % 5):
        w.add_frame(f)
    w.save_episode("place", success=False)
    assert _check_content(tmp_path) == 4


def test_sigkill_at_random_moments_never_corrupts(tmp_path):
    rng = random.Random(1234)
    seen = 0
    for run in range(3):
        p = _start(tmp_path, "--forever")
        try:
            assert p.stdout.readline().startswith("READY"), p.stderr.read()
            if run == 0:  # at least one saved episode, however loaded the machine is
                assert p.stdout.readline().startswith("SAVED"), p.stderr.read()
            time.sleep(rng.uniform(0.02, 0.4))  # lands in add_frame or inside save_episode
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
        n = _check_content(tmp_path)
        assert n >= seen  # saved episodes are never lost
        seen = n
    assert seen > 0


def test_one_writer_per_dataset(tmp_path):
    w = DatasetWriter(tmp_path, features(), fps=10)
    with pytest.raises(Exception, match=rf"another recorder \(pid {os.getpid()}\) is writing this dataset"):
        DatasetWriter(tmp_path, features(), fps=10)
    w.close()
    DatasetWriter(tmp_path, features(), fps=10).close()  # free again after close


def test_interrupted_save_leaves_orphan_frames_that_resume_removes(tmp_path):
    """Simulate a kill between the data-file replace and the episode-index commit."""
    w = DatasetWriter(tmp_path, features(), fps=10)
    for i in range(2):
        for f in make_episode(i, 2 + i % 5):
            w.add_frame(f)
        w.save_episode("pick" if i % 3 else "place", success=i % 2 == 0)
    meta = tmp_path / "meta/episodes/chunk-000/file-000.parquet"
    info = tmp_path / "meta/info.json"
    saved_meta, saved_info = meta.read_bytes(), info.read_bytes()
    for f in make_episode(2, 4):
        w.add_frame(f)
    w.save_episode("pick", success=True)
    w.close()
    meta.write_bytes(saved_meta)  # the commit of episode 2 never happened
    info.write_bytes(saved_info)
    assert pq.read_table(tmp_path / "data/chunk-000/file-000.parquet").num_rows == 2 + 3 + 4
    assert _check_content(tmp_path) == 2  # the reader ignores the orphan frames
    w2 = DatasetWriter(tmp_path, features(), fps=10)  # repair on reopen
    assert pq.read_table(tmp_path / "data/chunk-000/file-000.parquet").num_rows == 5
    for f in make_episode(2, 2 + 2 % 5):
        w2.add_frame(f)
    w2.save_episode("pick", success=True)
    assert _check_content(tmp_path) == 3


@pytest.mark.parametrize("limit", [1, 30_000], ids=["data-file-refused", "episode-index-refused"])
def test_a_full_disk_loses_nothing_and_the_save_can_be_retried(tmp_path, limit):
    """The disk fills up while episode 3 is saved, at a data-file roll-over: the save fails with
    the reason and the fix, no saved episode is touched, and saving again once there is room
    stores episode 3 whole. With `limit` 30 kB the data file (~21 kB) and tasks are written and
    only the episode index (the commit point, ~54 kB) is refused."""
    root = tmp_path / "ds"
    p = _start(root, "--full-disk-at", "3", "--limit", str(limit))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    lines = out.splitlines()
    failed = [x for x in lines if x.startswith("FAILED")]
    assert len(failed) == 1, out
    assert "could not save episode 3" in failed[0] and "the 3 saved episodes are intact" in failed[0]
    assert "File too large" in failed[0] and "call save_episode again" in failed[0]
    assert lines[-2:] == ["SAVED 3", "SAVED 4"], out
    assert _check_content(root) == 5  # every episode, byte for byte, in its own data file
    assert len(list((root / "data").rglob("*.parquet"))) == 5
