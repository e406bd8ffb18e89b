"""Replay store: round trip, reader API (episodes, read_step), torn-tail recovery, SIGKILL of a
writer process, failed writes (damage and foreign files: test_replay_store_corruption.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from replay_full_disk_proc import run as run_full_disk

from postbc_ros.core.replay_store import ReplayStore, ReplayStoreError


def obs_at(t: int) -> dict:
    return {"state": np.arange(5, dtype=np.float32) + t, "image": np.full((8, 8, 3), t, np.uint8)}


def stored_steps(store: ReplayStore, episode: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(scalar fields per step, arrays stacked over the steps) of a stored episode, read step by step."""
    n = next(e.num_steps for e in store.episodes() if e.episode == episode)
    metas, arrays = zip(*(store.read_step(episode, i) for i in range(n)))
    return list(metas), {k: np.stack([a[k] for a in arrays]) for k in arrays[0]}


def write_episode(store: ReplayStore, T: int, kind="online", success=True, final=True) -> int:
    eid = store.begin_episode(kind, {"task": "reach"})
    for t in range(T):
        store.add_step(obs_at(t), np.full(4, t, np.float32), reward=float(t == T - 1), terminated=success and t == T - 1,
                       intervention=t == 1, extra={"noise": np.full(4, -t, np.float32)})
    store.end_episode(success, final_obs=obs_at(T) if final else None)
    return eid


def test_round_trip_and_reader_api(tmp_path: Path):
    with ReplayStore(tmp_path / "rb", mode="a", fsync="batch", batch_size=4) as w:
        write_episode(w, 5, kind="demo")
        write_episode(w, 3, kind="online", success=False)
    r = ReplayStore(tmp_path / "rb")
    infos = r.episodes()
    assert [(i.kind, i.num_steps, i.complete, i.success, i.num_interventions) for i in infos] == [
        ("demo", 5, True, True, 1), ("online", 3, True, False, 1)]
    metas, ep = stored_steps(r, 0)
    np.testing.assert_array_equal(ep["obs/state"][:, 0], np.arange(5))
    assert ep["obs/image"].dtype == np.uint8 and ep["obs/image"].shape == (5, 8, 8, 3)
    np.testing.assert_array_equal(ep["extra/noise"][:, 0], -np.arange(5))
    np.testing.assert_array_equal(ep["action"][:, 0], np.arange(5))
    assert [m["intervention"] for m in metas] == [False, True, False, False, False]
    assert [m["reward"] for m in metas] == [0, 0, 0, 0, 1] and [m["terminated"] for m in metas][-2:] == [False, True]
    assert [m["i"] for m in stored_steps(r, 1)[0]] == [0, 1, 2]
    with pytest.raises(ReplayStoreError, match="no episode 2"):
        r.read_step(2, 0)
    with pytest.raises(ReplayStoreError, match="read-only"):
        r.begin_episode()


def test_reader_follows_live_writer_and_single_writer(tmp_path: Path):
    w = ReplayStore(tmp_path, mode="a")
    r = ReplayStore(tmp_path)
    w.begin_episode("online")
    w.add_step(obs_at(0), np.zeros(4))
    w.add_step(obs_at(1), np.zeros(4))
    r.refresh()
    assert r.episodes()[0].num_steps == 2 and not r.episodes()[0].complete
    with pytest.raises(ReplayStoreError, match="another process is writing"):
        ReplayStore(tmp_path, mode="a")
    w.add_step(obs_at(2), np.zeros(4))
    w.end_episode(True, final_obs=obs_at(3))
    r.refresh()
    assert r.episodes()[0].complete and r.episodes()[0].success and r.episodes()[0].num_steps == 3
    np.testing.assert_array_equal(r.read_step(0, 2)[1]["obs/state"], obs_at(2)["state"])
    w.close()


def test_torn_tail_truncated_by_writer_and_ignored_by_reader(tmp_path: Path):
    with ReplayStore(tmp_path, mode="a") as w:
        w.begin_episode()
        for t in range(4):
            w.add_step(obs_at(t), np.zeros(4))
    seg = next((tmp_path / "episodes").rglob("seg_*.rec"))
    good = seg.stat().st_size
    with open(seg, "ab") as f:  # half a record: a crash in the middle of a write
        f.write(b"PBR1" + (500).to_bytes(4, "little") + b"\x00" * 40)
    r = ReplayStore(tmp_path)
    assert r.episodes()[0].num_steps == 4
    assert seg.stat().st_size > good  # readers never modify the store
    assert [t.offset for t in r.torn] == [good] and not r.quarantined
    w = ReplayStore(tmp_path, mode="a")
    assert seg.stat().st_size == good and "truncated" in w.recovered[0]
    (cut,) = w.cut  # the cut bytes were saved first
    assert (tmp_path / cut.saved_as).read_bytes() == b"PBR1" + (500).to_bytes(4, "little") + b"\x00" * 40
    write_episode(w, 2)
    w.close()
    assert [i.num_steps for i in ReplayStore(tmp_path).episodes()] == [4, 2]


def test_corruption_before_valid_data_is_quarantined_not_cut(tmp_path: Path):
    """A damaged record followed by valid ones (here: the last record of a rotated segment of a
    completed episode) is reported with its file and offset and skipped; no byte is cut, and
    opening for writing neither raises nor changes the file."""
    with ReplayStore(tmp_path, mode="a", max_segment_bytes=3000) as w:
        write_episode(w, 6)
    segs = sorted((tmp_path / "episodes" / "ep_00000000").glob("seg_*.rec"))
    assert len(segs) > 1  # segments rotated
    data = bytearray(segs[0].read_bytes())
    data[-5] ^= 0xFF
    segs[0].write_bytes(bytes(data))
    for mode in ("r", "a"):
        st = ReplayStore(tmp_path, mode=mode)
        (q,) = st.quarantined
        assert (q.file, q.error) == ("episodes/ep_00000000/seg_000000.rec", "ChecksumError")
        assert q.offset + q.length == len(data) and "CRC-32" in q.problem
        info = st.episodes()[0]
        assert (info.num_steps, info.missing_steps, info.complete, info.quarantined) == (5, 1, True, 1)
        st.close()
        assert segs[0].read_bytes() == bytes(data)
    with pytest.deprecated_call():  # the old repair flag truncates nothing any more
        ReplayStore(tmp_path, mode="a", repair=True).close()
    assert segs[0].read_bytes() == bytes(data)


def test_not_a_store_and_no_pickle(tmp_path: Path):
    with pytest.raises(ReplayStoreError, match="not a replay store"):
        ReplayStore(tmp_path)
    w = ReplayStore(tmp_path, mode="a")
    w.begin_episode()
    with pytest.raises(ReplayStoreError, match="no pickle"):
        w.add_step({"x": np.array([object()])}, np.zeros(2))


def test_sigkill_loses_at_most_the_inflight_step(tmp_path: Path):
    root = tmp_path / "crash"
    repo = str(Path(__file__).resolve().parents[2])  # import this checkout, whatever is installed
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "replay_writer_proc.py"), str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    last = -1
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 40:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # the writer keeps going while we read: lines it printed before the kill are still in the pipe
    for line in proc.stdout:
        if line.endswith("\n"):  # a line cut by the kill was not reported
            last = int(line)
    assert last >= 40, proc.stderr.read()
    r = ReplayStore(root)
    info = r.episodes()[0]
    assert not info.complete
    # every step reported as committed is there; at most one more (written, not yet printed)
    assert last + 1 <= info.num_steps <= last + 2
    metas, ep = stored_steps(r, 0)
    np.testing.assert_array_equal(ep["obs/state"][:, 0], np.arange(info.num_steps))
    assert [m["intervention"] for m in metas] == [i % 3 == 0 for i in range(info.num_steps)]
    # the store reopens for writing (torn tail truncated) and keeps working
    w = ReplayStore(root, mode="a")
    write_episode(w, 3)
    w.close()
    r2 = ReplayStore(root)
    assert [(e.num_steps, e.complete) for e in r2.episodes()] == [(info.num_steps, False), (3, True)]


@pytest.mark.parametrize("fsync", ["step", "batch"])
def test_failed_writes_are_cut_back_and_the_store_stays_valid(tmp_path: Path, fsync: str):
    """Disk full in the middle of an episode: the OS writes part of a record and refuses the rest.
    The step is reported lost with the reason and the fix, no byte of it stays in the segment,
    the writer goes on once there is room, and no transition spans the lost steps."""
    root = tmp_path / "full"
    ev = run_full_disk(root, fsync, "store")
    for what in ("step 5", "step 6", "begin while full"):
        assert not ev[what]["ok"], ev[what]
        assert "File too large" in ev[what]["error"] and "free space there" in ev[what]["error"], ev[what]
        assert str(root) in ev[what]["error"]
    assert "5 steps of this episode are stored" in ev["step 5"]["error"]
    # the OS took the first 100 bytes of step 5; they were cut off again
    assert ev["segment size after the failures"]["bytes"] == ev["segment size before the failures"]["bytes"]
    for what in ("step 7", "step 8", "step 9", "begin after", "step 0 of the next episode", "end of the next episode"):
        assert ev[what]["ok"], ev[what]
    assert ev["step 7"]["result"] == 5  # indices stay contiguous over the lost steps
    assert ev["end"] == {"event": "end", "ok": True, "result": 8}

    r = ReplayStore(root)  # opens without repair: nothing of the failed records is left behind
    assert not r.recovered
    infos = r.episodes()
    # the failed begin left no episode: the retry got the next id
    assert [(e.episode, e.num_steps, e.complete, e.lost_steps) for e in infos] == [(0, 8, True, 2), (1, 1, True, 0)]
    metas, ep = stored_steps(r, 0)
    np.testing.assert_array_equal(ep["action"][:, 0], [0, 1, 2, 3, 4, 7, 8, 9])
    # the step after the gap records how many were lost right before it (4 -> 7: steps 5 and 6)
    assert [m.get("lost_before", 0) for m in metas] == [0, 0, 0, 0, 0, 2, 0, 0]
    # the writer reopens the store and appends as usual
    w = ReplayStore(root, mode="a")
    write_episode(w, 2)
    w.close()
    assert ReplayStore(root).episodes()[-1].num_steps == 2
