"""Replay store damage: a flipped bit, a bad length field, crafted records, torn tails, symlinks
and foreign files. Completed episodes stay intact and readable, the damaged record is reported
with its file and offset, no stored byte is cut except a torn tail of the newest open segment,
every problem is a ReplayStoreError, and `postbc replay check` / `repair` report and copy."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as st_save
from test_replay_store import obs_at, write_episode

from postbc_ros.cli.main import main as postbc
from postbc_ros.core.replay_format import MAGIC, frame_payload, scan_bytes
from postbc_ros.core.replay_repair import REPAIR_REPORT, check_store, repair_store
from postbc_ros.core.replay_store import (
    BadMetadataError,
    BadTensorTableError,
    ChecksumError,
    ForeignFileError,
    ReplayStore,
    ReplayStoreError,
)

T = 20  # steps per episode
SEG_BYTES = 6000  # small segments: episodes span several files


def build(root: Path, open_last: bool = False) -> None:
    """Three 20-step episodes; with `open_last` the third one's writer "crashed" before its end."""
    with ReplayStore(root, mode="a", max_segment_bytes=SEG_BYTES) as w:
        write_episode(w, T, kind="demo")
        write_episode(w, T, success=False)
        if open_last:
            w.begin_episode("online", {"task": "reach"})
            for t in range(T):
                w.add_step(obs_at(t), np.full(4, t, np.float32), extra={"noise": np.full(4, -t, np.float32)})
        else:
            write_episode(w, T)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "episodes").rglob("seg_*.rec"))}


def spans(root: Path) -> list[tuple[str, int, int, int, str, int | None]]:
    """(file, start, end, episode, record type, step number) of every record of a clean store."""
    out = []
    for name, data in files(root).items():
        ep = int(name.split("/")[1][3:])
        scan = scan_bytes(data, 0, name)
        assert not scan.damage
        out += [(name, r.offset, r.end, ep, r.kind, r.meta.get("i")) for r in scan.records]
    return out


def content(store: ReplayStore) -> dict:
    """Everything readable: episode summaries and every step's fields and arrays, by (episode, step number)."""
    out = {}
    for e in store.episodes():
        out[("episode", e.episode)] = (e.kind, e.meta, e.complete, e.success)
        for i in range(e.num_steps):
            meta, arrays = store.read_step(e.episode, i)
            out[(e.episode, meta["i"])] = (json.dumps(meta, sort_keys=True),
                                           {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()})
    return out


def find(root: Path, ep: int, kind: str, i: int | None = None, where: list | None = None) -> tuple[Path, int, int]:
    """(segment, start, end) of a record; `where`: the spans of the store before it was damaged."""
    name, start, end, *_ = next(s for s in where or spans(root) if s[3] == ep and s[4] == kind and s[5] == i)
    return root / name, start, end


def patch(path: Path, offset: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(new)] = new
    path.write_bytes(bytes(data))


def splice(path: Path, offset: int, new: bytes) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:offset] + new + data[offset:])


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def cli(capsys, *argv: str) -> tuple[int, str]:
    rc = postbc(list(argv))
    return rc, capsys.readouterr().out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("clean") / "store"
    build(root)
    with ReplayStore(root) as r:
        return {"root": root, "content": content(r), "spans": spans(root)}


@pytest.fixture
def store(tmp_path, clean) -> Path:
    root = tmp_path / "store"
    shutil.copytree(clean["root"], root)
    return root


def assert_only_lost(root: Path, clean: dict, lost: set, changed: set = frozenset(), exact: bool = True) -> None:
    """Every step of the clean store except those in `lost` (episode, step number) reads back
    identical, and so does every episode's summary except those in `changed`; the lost steps are
    gone (nothing else appears when `exact`)."""
    with ReplayStore(root) as r:
        got = content(r)
    want = {k: v for k, v in clean["content"].items() if k not in lost and not (k[0] == "episode" and k[1] in changed)}
    assert {k: got.get(k) for k in want} == want
    assert not set(got) & lost
    if exact:
        assert set(got) <= set(clean["content"])


# ---------------------------------------------------------------------------------------------
# the findings of issue 13
# ---------------------------------------------------------------------------------------------

def test_bit_flip_in_an_old_complete_episode_loses_only_that_step(store, clean, capsys, tmp_path):
    seg, start, end = find(store, 0, "step", 5)
    patch(store / seg, end - 3, bytes([(store / seg).read_bytes()[end - 3] ^ 0x10]))
    damaged = files(store)
    w = ReplayStore(store, mode="a")  # every node start opens for writing: that used to cut 14 steps
    (q,) = w.quarantined
    assert (q.file, q.offset, q.length, q.error, q.episode) == (str(seg.relative_to(store)), start, end - start,
                                                                "ChecksumError", 0)
    ep0 = w.episodes()[0]
    assert (ep0.num_steps, ep0.complete, ep0.success, ep0.missing_steps, ep0.quarantined) == (T - 1, True, True, 1, 1)
    write_episode(w, 3)  # the writer goes on
    w.close()
    report = json.loads((store / "quarantine.json").read_text())
    assert [(r["file"], r["offset"], r["error"]) for r in report["records"]] == [(q.file, start, "ChecksumError")]
    after = files(store)
    assert {f: after[f] for f in damaged} == damaged  # no old byte changed
    with ReplayStore(store) as r:
        metas = [r.read_step(0, i)[0]["i"] for i in range(T - 1)]
        assert metas == [i for i in range(T) if i != 5]
        assert r.episodes()[3].num_steps == 3
    assert_only_lost(store, clean, {(0, 5)}, exact=False)
    rc, out = cli(capsys, "replay", "check", str(store))
    assert rc == 1 and f"QUARANTINED {q.file} at byte {start}: ChecksumError" in out
    assert "episode      0  demo         19 steps  complete" in out


@pytest.mark.parametrize("which", ["begin", "step", "end"])
@pytest.mark.parametrize("delta", [1 << 20, -7, 1])
def test_a_bad_length_field_quarantines_only_its_record(store, clean, which, delta):
    """The begin record's length used to truncate its episode to 0 bytes."""
    i = 3 if which == "step" else None
    seg, start, end = find(store, 0, which, i)
    before = (store / seg).read_bytes()
    (length,) = struct.unpack_from("<I", before, start + 4)
    patch(store / seg, start + 4, struct.pack("<I", length + delta))
    corrupted = files(store)
    with ReplayStore(store, mode="a") as w:
        (q,) = w.quarantined
        assert (q.file, q.offset) == (str(seg.relative_to(store)), start)
        assert q.error in ("BadFrameError", "ChecksumError", "TornRecordError")
    assert files(store) == corrupted  # nothing cut
    lost = {(0, 3)} if which == "step" else set()
    assert_only_lost(store, clean, lost, changed=set() if which == "step" else {0})
    with ReplayStore(store) as r:
        e = r.episodes()[0]
        assert e.complete == (which != "end") and e.num_steps == T - (which == "step")
        assert e.kind == ("?" if which == "begin" else "demo")


CRAFTED = {  # a record with a valid frame and CRC whose payload is not one the store writes
    "tensor offsets past the data": ({"action": {"dtype": "F32", "shape": [4], "data_offsets": [0, 400]}}, b"\0" * 16,
                                     BadTensorTableError),
    "unknown dtype": ({"action": {"dtype": "Q7", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, BadTensorTableError),
    "shape does not match the bytes": ({"action": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}, b"\0" * 16,
                                       BadTensorTableError),
    "tensor table not JSON": (b"{not json", b"", BadTensorTableError),
    "metadata is a list": ({"__metadata__": ["step"]}, b"", BadTensorTableError),
    "record fields are a list": ({"__metadata__": {"record": "[\"step\", 1]"}}, b"", BadMetadataError),
    "record fields not JSON": ({"__metadata__": {"record": "{oops"}}, b"", BadMetadataError),
    "no metadata": ({"action": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, BadMetadataError),
}


def crafted(table, data: bytes) -> bytes:
    head = table if isinstance(table, bytes) else json.dumps(table).encode()
    return frame_payload(struct.pack("<Q", len(head)) + head + data)


def field_record(meta: dict, arrays: dict) -> bytes:
    return frame_payload(st_save(arrays, metadata={"record": json.dumps(meta)}))


STEP = {"type": "step", "i": 3, "reward": 0.0, "terminated": False, "truncated": False, "intervention": False,
        "stamp": 1.0}
ARRAYS = {"obs/state": np.zeros(5, np.float32), "action": np.zeros(4, np.float32)}
CRAFTED_FIELDS = {
    "intervention is a string": ({**STEP, "intervention": "yes"}, ARRAYS),
    "step number is negative": ({**STEP, "i": -1}, ARRAYS),
    "reward is a list": ({**STEP, "reward": [1]}, ARRAYS),
    "no action array": (STEP, {"obs/state": ARRAYS["obs/state"]}),
    "an array the store does not write": (STEP, {**ARRAYS, "secret": np.zeros(1)}),
    "unknown record type": ({**STEP, "type": "snapshot"}, ARRAYS),
    "begin with a list as meta": ({"type": "begin", "kind": "demo", "meta": [1]}, {}),
    "end with a string as success": ({"type": "end", "success": "yes", "length": 3}, {}),
}


@pytest.mark.parametrize("case", list(CRAFTED) + list(CRAFTED_FIELDS))
def test_a_crafted_record_is_a_named_error_and_the_store_opens(store, clean, case):
    if case in CRAFTED:
        table, data, cls = CRAFTED[case]
        rec = crafted(table, data)
    else:
        rec, cls = field_record(*CRAFTED_FIELDS[case]), BadMetadataError
    seg, start, _ = find(store, 0, "step", 3)
    splice(store / seg, start, rec)  # between steps 2 and 3 of a completed episode
    with ReplayStore(store, mode="a") as w:  # the node can start
        (q,) = w.quarantined
    assert (q.file, q.offset, q.length, q.error) == (str(seg.relative_to(store)), start, len(rec), cls.__name__)
    assert_only_lost(store, clean, set())  # all 20 steps of episode 0 are still there
    scan = scan_bytes((store / seg).read_bytes(), 0, "x")
    assert isinstance(scan.damage[0].error, cls) and scan.damage[0].error.offset == start


def test_metadata_list_record_raised_before(store):
    """The exact record of the issue: safetensors metadata holding a JSON list as the record."""
    rec = crafted({"__metadata__": {"record": "[]"}}, b"")
    seg = store / "episodes" / "ep_00000002" / "seg_000000.rec"
    splice(seg, 0, rec)
    with ReplayStore(store, mode="a") as w:
        assert [(q.offset, q.error) for q in w.quarantined] == [(0, "BadMetadataError")]
        assert w.episodes()[2].kind == "online" and w.episodes()[2].num_steps == T


def test_read_of_a_record_damaged_after_it_was_indexed_names_file_and_offset(store):
    r = ReplayStore(store)
    seg, start, end = find(store, 1, "step", 4)
    patch(store / seg, end - 1, b"\xff" if (store / seg).read_bytes()[end - 1] != 0xFF else b"\x00")
    with pytest.raises(ChecksumError) as e:
        r.read_step(1, 4)
    assert (e.value.file, e.value.offset) == (str(seg.relative_to(store)), start)
    with pytest.raises(ReplayStoreError, match="no step 20"):
        r.read_step(1, 20)
    r.close()


# ---------------------------------------------------------------------------------------------
# torn tails
# ---------------------------------------------------------------------------------------------

TORN = MAGIC + (900).to_bytes(4, "little") + b"\x07" * 30  # the start of a record the file ends inside


def test_torn_tail_of_the_newest_open_segment_is_cut_after_saving_it(tmp_path):
    root = tmp_path / "s"
    build(root, open_last=True)
    seg = sorted((root / "episodes" / "ep_00000002").glob("seg_*.rec"))[-1]
    good = seg.read_bytes()
    with open(seg, "ab") as f:
        f.write(TORN)
    with ReplayStore(root) as r:  # a reader never changes anything; the writer may still be appending
        assert [(t.file, t.offset) for t in r.torn] == [(str(seg.relative_to(root)), len(good))]
        assert not r.quarantined and r.episodes()[2].num_steps == T
    assert check_store(root)["ok"] is False
    w = ReplayStore(root, mode="a")
    assert seg.read_bytes() == good and not w.quarantined
    assert (root / w.cut[0].saved_as).read_bytes() == TORN
    assert [(e.num_steps, e.complete) for e in w.episodes()] == [(T, True), (T, True), (T, False)]
    w.close()
    assert check_store(root)["ok"] is True


@pytest.mark.parametrize("damage", ["payload bit", "magic", "length past the end"])
def test_damage_to_the_last_record_of_the_newest_segment(tmp_path, damage):
    """Only a record the file ends inside is a torn tail; a complete record with a bad CRC or magic
    at the same place is quarantined and kept."""
    root = tmp_path / "s"
    build(root, open_last=True)
    seg, start, end = find(root, 2, "step", T - 1)
    assert end == seg.stat().st_size  # the last record of the newest open segment
    data = seg.read_bytes()
    new = {"payload bit": (end - 9, bytes([data[end - 9] ^ 4])), "magic": (start, b"PBR2"),
           "length past the end": (start + 4, struct.pack("<I", end - start))}[damage]
    patch(seg, *new)
    damaged = seg.read_bytes()
    with ReplayStore(root, mode="a") as w:
        if damage == "length past the end":
            assert not w.quarantined and seg.read_bytes() == data[:start]
            assert (root / w.cut[0].saved_as).read_bytes() == damaged[start:]
        else:
            assert [(q.offset, q.error) for q in w.quarantined] == [
                (start, "ChecksumError" if damage == "payload bit" else "BadFrameError")]
            assert not w.cut and seg.read_bytes() == damaged
        assert w.episodes()[2].num_steps == T - 1


@pytest.mark.parametrize("where", ["older episode", "older segment of the same episode"])
def test_torn_tail_in_an_older_segment_is_quarantined_not_cut(tmp_path, where):
    root = tmp_path / "s"
    build(root, open_last=True)
    if where == "older episode":  # episode 2 crashed, then a writer started episode 3
        seg = sorted((root / "episodes" / "ep_00000002").glob("seg_*.rec"))[-1]
        with ReplayStore(root, mode="a") as w:
            write_episode(w, 2)
    else:  # the newest episode's first segment, with later segments after it
        seg = root / "episodes" / "ep_00000002" / "seg_000000.rec"
    good = seg.read_bytes()
    with open(seg, "ab") as f:
        f.write(TORN)
    with ReplayStore(root, mode="a") as w:
        assert [(q.file, q.offset, q.error) for q in w.quarantined] == [
            (str(seg.relative_to(root)), len(good), "TornRecordError")]
        assert not w.cut and all(e.num_steps in (T, 2) for e in w.episodes())
    assert seg.read_bytes() == good + TORN


# ---------------------------------------------------------------------------------------------
# symlinks and files the store did not make
# ---------------------------------------------------------------------------------------------

def test_a_symlinked_segment_is_refused_and_its_target_untouched(tmp_path):
    root = tmp_path / "s"
    build(root, open_last=True)
    seg = sorted((root / "episodes" / "ep_00000002").glob("seg_*.rec"))[-1]
    outside = tmp_path / "outside.bin"
    outside.write_bytes(seg.read_bytes() + TORN)  # a torn tail: what the old writer cut through the link
    seg.unlink()
    seg.symlink_to(outside)
    target = outside.read_bytes()
    with ReplayStore(root, mode="a") as w:
        (q,) = w.quarantined
        assert (q.file, q.offset, q.error) == (str(seg.relative_to(root)), None, "ForeignFileError")
        assert "symbolic link" in q.problem and not w.cut
        assert [e.num_steps for e in w.episodes()[:2]] == [T, T]
    assert outside.read_bytes() == target and seg.is_symlink()
    rc = check_store(root)
    assert not rc["ok"] and rc["quarantined"][0]["error"] == "ForeignFileError"


def test_foreign_files_and_directories_are_refused(store, clean, tmp_path):
    ep = store / "episodes"
    (ep / "ep_00000001" / "notes.txt").write_text("mine")
    (ep / "ep_00000000" / "seg_000099.rec").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)  # right name, not a segment
    os.mkfifo(ep / "ep_00000000" / "seg_000100.rec")
    other = tmp_path / "other_ep"
    shutil.copytree(ep / "ep_00000002", other)
    (ep / "ep_00000007").symlink_to(other)
    (ep / "scratch").mkdir()
    with ReplayStore(store, mode="a") as w:
        got = sorted((q.file, q.error) for q in w.quarantined)
        eid = w.begin_episode()  # a new id past the refused ep_00000007, never into it
        w.end_episode()
    assert got == sorted([("episodes/ep_00000001/notes.txt", "ForeignFileError"),
                          ("episodes/ep_00000000/seg_000099.rec", "ForeignFileError"),
                          ("episodes/ep_00000000/seg_000100.rec", "ForeignFileError"),
                          ("episodes/ep_00000007", "ForeignFileError"),
                          ("episodes/scratch", "ForeignFileError")])
    assert eid == 8 and digest(other) == digest(ep / "ep_00000002")
    with ReplayStore(store) as r:
        assert [e.episode for e in r.episodes()] == [0, 1, 2, 8]
    assert_only_lost(store, clean, set(), exact=False)


@pytest.mark.parametrize("what", ["episodes", "STORE.json", ".writer.lock"])
def test_a_symlinked_store_file_is_a_named_error(store, tmp_path, what):
    real = tmp_path / f"real_{what}"
    shutil.move(store / what, real) if (store / what).exists() else real.write_text("")
    (store / what).symlink_to(real)
    mode = "a" if what == ".writer.lock" else "r"
    with pytest.raises(ForeignFileError, match="link"):
        ReplayStore(store, mode=mode)


# ---------------------------------------------------------------------------------------------
# postbc replay check / repair
# ---------------------------------------------------------------------------------------------

def damage_everything(root: Path) -> set:
    """A flipped bit in episode 0 step 5, a bad length at episode 1's end record, a crafted record
    in episode 2, a torn tail in episode 0's last segment (older): what each loses."""
    clean = spans(root)
    seg, start, end = find(root, 0, "step", 5)
    patch(root / seg, start + 20, bytes([(root / seg).read_bytes()[start + 20] ^ 1]))
    seg, start, _ = find(root, 1, "end", where=clean)
    patch(root / seg, start, b"PBX1")  # its magic
    seg, start, _ = find(root, 2, "step", 0, where=clean)
    splice(root / seg, start, crafted({"__metadata__": {"record": "[]"}}, b""))
    with open(sorted((root / "episodes" / "ep_00000000").glob("seg_*.rec"))[-1], "ab") as f:
        f.write(TORN)
    return {(0, 5)}


def test_check_and_repair(store, clean, tmp_path, capsys):
    lost = damage_everything(store)
    before = digest(store)
    rc, out = cli(capsys, "replay", "check", str(store), "--json")
    rep = json.loads(out)
    assert rc == 1 and not rep["ok"] and len(rep["quarantined"]) == 4 and not rep["torn"]
    assert {q["error"] for q in rep["quarantined"]} == {"ChecksumError", "BadFrameError", "BadMetadataError",
                                                        "TornRecordError"}
    assert all(q["offset"] is not None and q["file"].startswith("episodes/ep_") for q in rep["quarantined"])
    assert [(e["num_steps"], e["complete"]) for e in rep["episodes"]] == [(T - 1, True), (T, False), (T, True)]
    out_dir = tmp_path / "repaired"
    rc, out = cli(capsys, "replay", "repair", str(store), "--out", str(out_dir))
    assert rc == 0 and "left behind: 4 quarantined" in out
    assert digest(store) == before  # the old store is only read
    rc, out = cli(capsys, "replay", "check", str(out_dir))
    assert rc == 0 and out.strip().endswith("ok")
    assert_only_lost(out_dir, clean, lost, changed={1})
    with ReplayStore(out_dir) as r:
        assert r.episodes()[1].complete is False and r.episodes()[0].missing_steps == 1
    made = json.loads((out_dir / REPAIR_REPORT).read_text())
    assert made["records"] == 3 * (T + 2) - 2 and len(made["left_behind"]["quarantined"]) == 4
    # the repaired store is a store like any other: a writer appends to it
    with ReplayStore(out_dir, mode="a") as w:
        write_episode(w, 2)
    # repair never writes into a non-empty directory, nor into the store itself
    rc = postbc(["replay", "repair", str(store), "--out", str(out_dir)])
    assert rc == 2 and "not empty" in capsys.readouterr().err
    with pytest.raises(ReplayStoreError, match="inside the store"):
        repair_store(store, store / "fixed")
    assert digest(store) == before


def _flip(root: Path, where: list) -> tuple[set, set]:
    seg, start, end = find(root, 0, "step", 5, where)
    patch(seg, end - 3, bytes([seg.read_bytes()[end - 3] ^ 0x10]))
    return {(0, 5)}, set()


def _bad_length(root: Path, where: list) -> tuple[set, set]:
    seg, start, _ = find(root, 0, "step", 3, where)
    patch(seg, start + 4, struct.pack("<I", 1 << 20))
    return {(0, 3)}, set()


def _crafted(table) -> callable:
    def damage(root: Path, where: list) -> tuple[set, set]:
        seg, start, _ = find(root, 1, "step", 7, where)
        splice(seg, start, crafted(table, b"\0" * 16))
        return set(), set()
    return damage


def _torn(ep: int) -> callable:
    def damage(root: Path, where: list) -> tuple[set, set]:
        with open(sorted((root / "episodes" / f"ep_{ep:08d}").glob("seg_*.rec"))[-1], "ab") as f:
            f.write(TORN)
        return set(), set()
    return damage


def _symlink(root: Path, where: list) -> tuple[set, set]:
    seg = sorted((root / "episodes" / "ep_00000001").glob("seg_*.rec"))[-1]
    outside = root.parent / "outside.rec"
    shutil.move(seg, outside)
    seg.symlink_to(outside)
    return {(ep, i) for f, _, _, ep, kind, i in where if root / f == seg and kind == "step"}, {1}


DAMAGE = {"bit flip": _flip, "bad length": _bad_length, "symlinked segment": _symlink,
          "bad tensor table": _crafted({"action": {"dtype": "F32", "shape": [4], "data_offsets": [0, 99]}}),
          "metadata list": _crafted({"__metadata__": {"record": "[1]"}}),
          "torn tail, newest segment": _torn(2), "torn tail, older segment": _torn(0)}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_check_and_repair_each_damage(tmp_path, capsys, case):
    root = tmp_path / "s"
    build(root, open_last=case.startswith("torn"))
    where = spans(root)
    with ReplayStore(root) as r:
        before = content(r)
    lost, changed = DAMAGE[case](root, where)
    outside = root.parent / "outside.rec"

    def snapshot():
        return digest(root), outside.read_bytes() if outside.exists() else None

    untouched = snapshot()
    rc, out = cli(capsys, "replay", "check", str(root), "--json")
    rep = json.loads(out)
    assert rc == 1 and len(rep["quarantined"]) + len(rep["torn"]) == 1
    (bad,) = rep["quarantined"] + rep["torn"]
    assert bad["file"].startswith("episodes/ep_0000000") and (bad["offset"] is not None or case == "symlinked segment")
    rc, out = cli(capsys, "replay", "repair", str(root), "--out", str(tmp_path / "new"))
    assert rc == 0, out
    assert snapshot() == untouched  # check and repair only read the old store (and a link's target)
    assert cli(capsys, "replay", "check", str(tmp_path / "new"))[0] == 0
    assert_only_lost(tmp_path / "new", {"content": before}, lost, changed)


def test_check_on_a_clean_store_and_on_no_store(store, tmp_path, capsys):
    rc, out = cli(capsys, "replay", "check", str(store), "--json")
    rep = json.loads(out)
    assert rc == 0 and rep["ok"] and rep["steps"] == 3 * T and rep["complete"] == 3
    assert postbc(["replay", "check", str(tmp_path / "nothing")]) == 2
    assert "not a replay store" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# any single damaged byte
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    out = {}
    for open_last in (False, True):
        root = tmp_path_factory.mktemp(f"base{int(open_last)}") / "store"
        build(root, open_last)
        with ReplayStore(root) as r:
            out[open_last] = {"root": root, "content": content(r), "spans": spans(root), "files": files(root)}
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(open_last=st.booleans(), pick=st.integers(0, 10**9), where=st.floats(0, 1, exclude_max=True),
       xor=st.integers(1, 255))
def test_any_single_byte_damage_loses_only_its_record(bases, open_last, pick, where, xor):
    base = bases[open_last]
    names = sorted(base["files"])
    name = names[pick % len(names)]
    at = int(where * len(base["files"][name]))
    hit = next(s for s in base["spans"] if s[0] == name and s[1] <= at < s[2])
    _, _, _, ep, kind, i = hit
    lost = {(ep, i)} if kind == "step" else set()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(base["root"], root)
        patch(root / name, at, bytes([base["files"][name][at] ^ xor]))
        damaged = files(root)
        try:
            rep = check_store(root)
            assert not rep["ok"]  # every byte belongs to a record: its damage is always seen
            w = ReplayStore(root, mode="a")  # what every node start does
            w.close()
        except ReplayStoreError:
            raise AssertionError("opening a damaged store must not raise") from None
        after = files(root)
        last_of_newest = open_last and name == names[-1] and hit == base["spans"][-1]
        for f, data in damaged.items():  # nothing cut, except a torn tail of the newest open segment:
            if after[f] != data:  # a damaged length field that runs past its end is one
                assert last_of_newest and 4 <= at - hit[1] < 8 and after[f] == data[: hit[1]], (f, at, hit)
        with ReplayStore(root) as r:
            got = content(r)
        want = {k: v for k, v in base["content"].items() if k not in lost}
        if kind != "step":  # a damaged begin loses the episode's kind and meta, a damaged end its label
            kind0, meta0, complete0, success0 = want[("episode", ep)]
            want[("episode", ep)] = ("?", {}, complete0, success0) if kind == "begin" else (kind0, meta0, False, None)
        assert {k: got.get(k) for k in want} == want
        assert set(got) <= set(base["content"])


def test_repair_leaves_out_an_episode_with_nothing_readable(store, clean, tmp_path):
    with ReplayStore(store, mode="a") as w:
        w.begin_episode("online")  # the writer crashed right after the begin record
    seg = store / "episodes" / "ep_00000003" / "seg_000000.rec"
    patch(seg, 20, bytes([seg.read_bytes()[20] ^ 1]))
    rep = repair_store(store, tmp_path / "new")
    assert rep["episodes_without_readable_records"] == [3] and rep["episodes"] == 3
    assert not (tmp_path / "new" / "episodes" / "ep_00000003").exists()
    assert_only_lost(tmp_path / "new", clean, set())


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_files_of_another_owner_are_refused(store, clean):
    seg = sorted((store / "episodes" / "ep_00000002").glob("seg_*.rec"))[-1]
    os.chown(seg, 12345, 12345)
    with ReplayStore(store, mode="a") as w:
        (q,) = w.quarantined
        assert (q.file, q.error) == (str(seg.relative_to(store)), "ForeignFileError") and "uid 12345" in q.problem
    os.chown(store / "STORE.json", 12345, 12345)
    with pytest.raises(ForeignFileError, match="belongs to uid 12345"):
        ReplayStore(store, mode="a")
