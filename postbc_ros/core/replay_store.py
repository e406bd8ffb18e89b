"""Persistent, crash-safe replay store on disk, organised by episode; it never deletes valid data.

Why not an in-memory buffer: the learner, the policy and the robot run in separate processes
and any of them may crash (or the robot PC may lose power) in the middle of a real-robot
session whose every minute is expensive. The store therefore is the system of record for
demonstrations, online transitions and intervention flags.

Layout::

    <root>/STORE.json                     format marker + version
    <root>/.writer.lock                   flock: exactly one writer process at a time
    <root>/quarantine.json                damaged records found so far (written by the writer)
    <root>/quarantine/                    copies of the torn tails the writer cut
    <root>/episodes/ep_00000042/seg_000000.rec, seg_000001.rec, ...

Each segment file is append-only and holds framed records (format: `replay_format`): a magic
sync marker, the payload length, a CRC-32 of the payload, and a safetensors payload. Records:
``begin`` (episode kind + metadata), ``step`` (obs/<key>, action, extra/<key> arrays; reward,
terminated, truncated, intervention, stamp) and ``end`` (success label, optional final_obs/<key>).

Durability: every record reaches the OS before `add_step` returns (a crash of the process loses
at most the record being written). With ``fsync="step"`` it is also on disk; ``"batch"`` fsyncs
every `batch_size` records and at episode boundaries; ``"none"`` leaves that to the OS.

Damage: a crash leaves at most a torn tail (a partial last record) in the NEWEST open segment
(the last segment of the last episode, which has no end record). That is the only thing ever
cut, by the writer on open, after a copy of the cut bytes is saved under ``quarantine/``; a
reader just stops there (the writer may still be appending). Anything else that is not a valid
record -- a flipped bit, a bad length field, a bad tensor table, metadata of the wrong type, a
partial record in an older segment -- is quarantined: reported as a `QuarantineEntry` (file,
byte offset, length, error class, what is wrong), skipped, and its bytes left exactly as they
are; the scanner resynchronises on the next valid record, so everything before and after it
stays readable. The writer keeps the report in ``quarantine.json``. Opening a store with
quarantined records never raises. Symlinks, non-regular files, names outside the layout,
files of another owner and files with no record header are refused (`ForeignFileError` in the
report) and never followed, read or truncated. `postbc replay check` / `postbc replay repair`
(`replay_repair`) report on a store and copy every readable record into a new one.

A write that fails (disk full, a file-size limit, an I/O error) is cut back off the segment (its
own bytes, written by this process a moment ago) and raises `ReplayStoreError` saying why and
what to free; the store stays valid and the writer goes on with the next record. The next stored
record counts the steps lost before it (``lost_before``), so a reader knows where the gaps are
and `EpisodeInfo.lost_steps` reports them.
"""
from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import re
import shutil
import stat
import tempfile
import time
import warnings
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from postbc_ros.core.replay_format import (
    HEADER,
    MAGIC,
    MAX_RECORD_BYTES,
    BadFrameError,
    BadMetadataError,
    BadTensorTableError,
    ChecksumError,
    CorruptRecordError,
    Damage,
    ForeignFileError,
    Record,
    ReplayStoreError,
    SegmentScan,
    TornRecordError,
    check_record,
    decode_payload,
    encode_record,
    frame_payload,
    parse_payload,
    scan_bytes,
)

__all__ = [  # the store, and the format names callers imported from here before the format moved
    "ReplayStore", "EpisodeInfo", "QuarantineEntry", "TornTail", "scan_segment", "FORMAT", "VERSION",
    "MAGIC", "HEADER", "MAX_RECORD_BYTES", "encode_record", "decode_payload", "parse_payload", "check_record",
    "ReplayStoreError", "ForeignFileError", "CorruptRecordError", "TornRecordError", "BadFrameError",
    "ChecksumError", "BadTensorTableError", "BadMetadataError",
]

FORMAT = "postbc_replay"
VERSION = 1
STORE_FILE = "STORE.json"
LOCK_FILE = ".writer.lock"
QUARANTINE_FILE = "quarantine.json"
QUARANTINE_FORMAT = "postbc_replay_quarantine"
TORN_DIR = "quarantine"  # copies of the torn tails the writer cut
EPISODES_DIR = "episodes"
EP_RE = re.compile(r"ep_(\d{8,})")
SEG_RE = re.compile(r"seg_(\d{6,})\.rec")
_OPEN_RO = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC  # the store never follows a symlink


@dataclass(frozen=True)
class QuarantineEntry:
    """A span of a segment that holds no valid record, or a file the store refuses."""

    file: str  # relative to the store root
    offset: int | None  # byte offset of the damage (None: the whole file is refused)
    length: int | None  # bytes of the damaged span
    error: str  # the ReplayStoreError subclass, e.g. "ChecksumError", "ForeignFileError"
    problem: str  # what is wrong, in words
    episode: int | None = None

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset} ({self.length} bytes)"
        return f"{self.file}{where}: {self.error}: {self.problem}"


@dataclass(frozen=True)
class TornTail:
    """A partial last record of the newest open segment (a crash while it was written)."""

    file: str
    offset: int
    length: int
    problem: str
    saved_as: str | None = None  # where the writer copied the bytes before it cut them


@dataclass
class EpisodeInfo:
    """Summary of one stored episode."""

    episode: int
    kind: str  # "demo" | "online" | anything the writer chose
    meta: dict
    num_steps: int
    complete: bool  # an end record exists (False: writer crashed or still writing)
    success: bool | None
    num_interventions: int = 0
    lost_steps: int = 0  # steps the writer could not store (disk full ...); no transition spans them
    quarantined: int = 0  # damaged spans found in this episode's segments
    missing_steps: int = 0  # steps whose records are damaged (from the step numbers / the end record)


@dataclass(frozen=True)
class _Loc:
    seg: Path
    offset: int  # of the record header
    length: int  # payload bytes
    crc: int


@dataclass
class _EpisodeIndex:
    episode: int
    dir: Path
    kind: str = "?"
    meta: dict = field(default_factory=dict)
    begin: _Loc | None = None
    steps: list[_Loc] = field(default_factory=list)
    interventions: list[bool] = field(default_factory=list)
    lost_before: list[int] = field(default_factory=list)  # steps lost right before each stored step
    end: _Loc | None = None
    end_meta: dict | None = None
    scanned: dict[Path, int] = field(default_factory=dict)  # bytes of each segment parsed
    next_i: int = 0  # the step number the next step record should carry
    missing: int = 0
    quarantined: int = 0

    def info(self) -> EpisodeInfo:
        success = None if self.end_meta is None else self.end_meta.get("success")
        lost = sum(self.lost_before) + self.lost_before_end
        return EpisodeInfo(self.episode, self.kind, self.meta, len(self.steps), self.end is not None, success,
                           int(sum(self.interventions)), int(lost), self.quarantined, self.missing)

    @property
    def lost_before_end(self) -> int:
        """Steps lost between the last stored step and the end record."""
        return int((self.end_meta or {}).get("lost_before", 0))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_all(path: Path, start: int = 0) -> tuple[bytes, os.stat_result]:
    """Bytes of a regular file from `start`, opened without following a symlink."""
    fd = os.open(path, _OPEN_RO)
    try:
        st = os.fstat(fd)
        return os.pread(fd, max(0, st.st_size - start), start), st
    finally:
        os.close(fd)


def scan_segment(path: str | Path, start: int = 0) -> SegmentScan:
    """Records and damaged spans of one segment file from byte `start` (read-only, no symlink)."""
    data, _ = _read_all(Path(path), start)
    return scan_bytes(data, start, str(path))


def _near_magic(head: bytes) -> bool:
    """`head` is the record magic (or its beginning) with at most one byte changed."""
    return sum(a != b for a, b in zip(head, MAGIC)) <= 1


class ReplayStore:
    """Episode-organised persistent store. mode "a": single writer (+ reading); "r": reader.

    A reader opens it read-only (possibly while the writer appends), calls `refresh()` to pick up
    new data and reads steps back with `episodes()` / `read_step()` (replay_buffer_node republishes
    the stored transitions that way). `quarantined` lists the damaged records and refused files,
    `torn` the torn tail of the newest segment a reader stopped at, `recovered` what opening did
    (for logs); `report()` is all of it as one dict.
    """

    def __init__(
        self,
        root: str | Path,
        mode: str = "r",
        fsync: str = "step",
        batch_size: int = 32,
        max_segment_bytes: int = 256 << 20,
        repair: bool = False,
    ) -> None:
        if mode not in ("r", "a"):
            raise ValueError(f"ReplayStore mode must be 'r' or 'a', got {mode!r}")
        if fsync not in ("step", "batch", "none"):
            raise ValueError(f"ReplayStore fsync must be 'step', 'batch' or 'none', got {fsync!r}")
        if repair:
            warnings.warn("ReplayStore(repair=True) no longer truncates anything: damaged records are quarantined "
                          "on every open; use `postbc replay repair DIR --out NEWDIR` for a clean copy",
                          DeprecationWarning, stacklevel=2)
        self.root = Path(root)
        self.mode = mode
        self.fsync = fsync
        self.batch_size = max(1, int(batch_size))
        self.max_segment_bytes = int(max_segment_bytes)
        self.repair = repair
        self.recovered: list[str] = []  # what opening / refreshing did or found (for logs)
        self.quarantined: list[QuarantineEntry] = []
        self.torn: list[TornTail] = []  # torn tails of the newest segment, as of the last refresh
        self.cut: list[TornTail] = []  # torn tails this writer cut (their bytes saved first)
        self._qkeys: set[tuple[str, int | None]] = set()
        self._unsaved = False
        self._index: dict[int, _EpisodeIndex] = {}
        self._ident: dict[Path, tuple[int, int]] = {}  # segment -> (st_dev, st_ino) it was read as
        self._disk_max_eid = -1
        self._lock_fd: int | None = None
        self._fh = None  # current segment file (writer)
        self._cur: _EpisodeIndex | None = None
        self._seg_no = 0
        self._unsynced = 0
        self._lost = 0  # steps of the open episode lost since the last stored record
        self._read_fds: dict[Path, int] = {}
        if mode == "a":
            self.root.mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
        try:
            if mode == "a":
                self._create_layout()
            self._owner = self._read_marker()
            if mode == "a" and os.geteuid() != self._owner:  # its new files would be refused as foreign
                raise ForeignFileError(f"{self.root}: the store belongs to uid {self._owner}, this writer runs as uid "
                                       f"{os.geteuid()}; write it as its owner (or chown -R the store)",
                                       file=str(self.root / STORE_FILE))
            self.refresh()
        except BaseException:
            self.close()  # releases the writer lock
            raise

    # -- marker / layout / locking --------------------------------------------------------------
    def _create_layout(self) -> None:
        ep = self.root / EPISODES_DIR
        if not os.path.lexists(ep):
            ep.mkdir()
        marker = self.root / STORE_FILE
        if not os.path.lexists(marker):
            fd, tmp = tempfile.mkstemp(prefix=".STORE.", dir=self.root)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps({"format": FORMAT, "version": VERSION, "created": time.time()}))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, marker)
            _fsync_dir(self.root)

    def _read_marker(self) -> int:
        """Check STORE.json; the uid that owns the store."""
        marker = self.root / STORE_FILE
        try:
            st = os.lstat(marker)
        except FileNotFoundError:
            raise ReplayStoreError(f"{self.root}: not a replay store (no {STORE_FILE}); open it with mode='a' to "
                                   "create one") from None
        if not stat.S_ISREG(st.st_mode):
            raise ForeignFileError(f"{marker}: not a regular file (a symlink or other); the store never follows "
                                   "links: put the real file there", file=str(marker))
        try:
            data, _ = _read_all(marker)
            info = json.loads(data)
        except (OSError, ValueError) as e:
            raise ReplayStoreError(f"{marker}: unreadable ({e}); restore it or recreate the store", file=str(marker)) from e
        if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("version") != VERSION:
            got = (info.get("format"), info.get("version")) if isinstance(info, dict) else (type(info).__name__, None)
            raise ReplayStoreError(f"{marker}: format {got[0]!r} v{got[1]!r} is not {FORMAT} v{VERSION}", file=str(marker))
        ep = self.root / EPISODES_DIR
        if os.path.lexists(ep) and not stat.S_ISDIR(os.lstat(ep).st_mode):
            raise ForeignFileError(f"{ep}: not a directory of the store (a symlink or a file); the store never "
                                   "follows links: move the real directory there", file=str(ep))
        return st.st_uid

    def _acquire_lock(self) -> None:
        path = self.root / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ForeignFileError(f"{path}: a symlink; the store never follows links: remove it",
                                       file=str(path)) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReplayStoreError(f"{self.root}: another process is writing to this store (lock {path} held); open it with mode='r' to read") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Flush, fsync and release the writer lock (an open episode stays incomplete)."""
        if self._fh is not None:
            self._sync(force=True)
            self._fh.close()
            self._fh = None
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ReplayStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reporting -------------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _report(self, idx: _EpisodeIndex | None, entry: QuarantineEntry) -> None:
        key = (entry.file, entry.offset)
        if key in self._qkeys:
            return
        self._qkeys.add(key)
        self.quarantined.append(entry)
        if idx is not None:
            idx.quarantined += 1
        self.recovered.append(f"quarantined {entry}")
        self._unsaved = True

    def _foreign(self, path: Path, problem: str, episode: int | None = None) -> None:
        self._report(self._index.get(episode) if episode is not None else None,
                     QuarantineEntry(self._rel(path), None, None, ForeignFileError.__name__,
                                     f"{problem}; the store refuses it (never follows, reads or truncates it)",
                                     episode))

    def _entry_problem(self, st: os.stat_result, want_dir: bool) -> str | None:
        if stat.S_ISLNK(st.st_mode):
            return "a symbolic link"
        if want_dir and not stat.S_ISDIR(st.st_mode):
            return "not a directory"
        if not want_dir and not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_uid != self._owner:
            return f"owned by uid {st.st_uid}, the store by uid {self._owner}"
        return None

    def report(self) -> dict:
        """Episodes, quarantined records and torn tails as one JSON-able dict."""
        eps = [asdict(e) for e in self.episodes()]
        return {"store": str(self.root), "episodes": eps, "steps": sum(e["num_steps"] for e in eps),
                "complete": sum(e["complete"] for e in eps), "incomplete": sum(not e["complete"] for e in eps),
                "quarantined": [asdict(q) for q in self.quarantined], "torn": [asdict(t) for t in self.torn],
                "cut": [asdict(t) for t in self.cut]}

    # -- scanning ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """(Re)scan the episodes directory; parses only bytes not seen before. Never raises for a
        damaged record or a foreign file: they are reported in `quarantined`."""
        self.torn = []
        ep_root = self.root / EPISODES_DIR
        if not os.path.lexists(ep_root):
            return
        if not stat.S_ISDIR(os.lstat(ep_root).st_mode):
            raise ForeignFileError(f"{ep_root}: no longer a directory of the store (a symlink or a file); the store "
                                   "never follows links: move the real directory there", file=str(ep_root))
        eps: list[tuple[int, Path]] = []
        for entry in sorted(os.scandir(ep_root), key=lambda e: e.name):
            path = Path(entry.path)
            m = EP_RE.fullmatch(entry.name)
            if m:
                self._disk_max_eid = max(self._disk_max_eid, int(m[1]))
            try:
                problem = self._entry_problem(entry.stat(follow_symlinks=False), want_dir=True)
            except FileNotFoundError:  # removed while we listed (a begin record that could not be written)
                continue
            if m is None:
                problem = "a name outside the layout (episodes/ep_NNNNNNNN)"
            if problem is not None:
                self._foreign(path, problem)
                continue
            eps.append((int(m[1]), path))
        eps.sort()
        for n, (eid, d) in enumerate(eps):
            idx = self._index.get(eid)
            if idx is None:
                idx = self._index[eid] = _EpisodeIndex(episode=eid, dir=d)
            if self._cur is not None and idx is self._cur:
                continue  # our own open episode is indexed as we write it
            try:
                segs = self._segments(idx)
            except FileNotFoundError:  # the writer removed it: its begin record could not be written
                if idx.begin is None and not idx.steps:
                    del self._index[eid]
                continue
            for si, (seg, st) in enumerate(segs):
                self._scan_into(idx, seg, st, newest=n == len(eps) - 1 and si == len(segs) - 1)
        if self.mode == "a" and self._unsaved:
            self._save_quarantine()

    def _segments(self, idx: _EpisodeIndex) -> list[tuple[Path, os.stat_result]]:
        segs = []
        for entry in os.scandir(idx.dir):
            path = Path(entry.path)
            m = SEG_RE.fullmatch(entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            problem = self._entry_problem(st, want_dir=False)
            if m is None:
                problem = "a name outside the layout (seg_NNNNNN.rec)"
            if problem is not None:
                self._foreign(path, problem, idx.episode)
                continue
            segs.append((int(m[1]), path, st))
        return [(p, st) for _, p, st in sorted(segs)]

    def _scan_into(self, idx: _EpisodeIndex, seg: Path, st: os.stat_result, newest: bool) -> None:
        rel = self._rel(seg)
        ident = (st.st_dev, st.st_ino)
        start = idx.scanned.get(seg, 0)
        if self._ident.get(seg, ident) != ident:
            if start > 0:
                self._foreign(seg, "replaced by another file after the store read it", idx.episode)
                return
            self._ident.pop(seg)  # nothing was read from it (a begin that failed and was written again)
            self._close_fd(seg)
        if st.st_size < start:
            self._report(idx, QuarantineEntry(rel, st.st_size, start - st.st_size, TornRecordError.__name__,
                                              f"the segment shrank from {start} to {st.st_size} bytes after it was "
                                              "read (cut by something else than the store)", idx.episode))
            idx.scanned[seg] = st.st_size
            return
        if st.st_size == start:
            return
        try:
            data, fst = _read_all(seg, start)
        except OSError as e:
            self._foreign(seg, f"could not be opened as a regular file ({e.strerror or e})", idx.episode)
            return
        if (fst.st_dev, fst.st_ino) != ident or not stat.S_ISREG(fst.st_mode):
            self._foreign(seg, "replaced while the store read it", idx.episode)
            return
        self._ident[seg] = ident
        scan = scan_bytes(data, start, rel)
        if start == 0 and not scan.records and not _near_magic(data[: len(MAGIC)]):
            self._foreign(seg, f"holds no replay record (starts with {data[:len(MAGIC)]!r}, not {MAGIC!r})", idx.episode)
            idx.scanned[seg] = scan.end
            return
        for rec in scan.records:
            self._add_record(idx, seg, rec)
        idx.scanned[seg] = scan.end
        for dmg in scan.damage:
            if dmg.partial and dmg.offset + dmg.length == scan.end and newest and idx.end is None:
                idx.scanned[seg] = dmg.offset  # a reader looks again: the writer may still be appending
                self._torn_tail(seg, dmg)
            else:
                self._report(idx, QuarantineEntry(rel, dmg.offset, dmg.length, type(dmg.error).__name__,
                                                  dmg.error.problem, idx.episode))

    def _add_record(self, idx: _EpisodeIndex, seg: Path, rec: Record) -> None:
        loc = _Loc(seg, rec.offset, rec.length, rec.crc)
        m = rec.meta
        kind = rec.kind
        problem = None
        if idx.end is not None:
            problem = f"a {kind} record after the episode's end record"
        elif kind == "begin" and (idx.begin is not None or idx.steps):
            problem = "a begin record after the episode's first record"
        if problem is not None:
            self._report(idx, QuarantineEntry(self._rel(seg), rec.offset, rec.end - rec.offset,
                                              BadMetadataError.__name__, problem, idx.episode))
            return
        if kind == "begin":
            idx.begin, idx.kind, idx.meta = loc, m["kind"], m["meta"]
        elif kind == "step":
            idx.missing += max(0, m["i"] - idx.next_i)  # the steps in between are quarantined
            idx.next_i = max(idx.next_i, m["i"] + 1)
            idx.steps.append(loc)
            idx.interventions.append(m["intervention"])
            idx.lost_before.append(int(m.get("lost_before", 0)))
        else:
            idx.missing += max(0, m["length"] - idx.next_i)
            idx.end, idx.end_meta = loc, m

    def _torn_tail(self, seg: Path, dmg: Damage) -> None:
        tail = TornTail(self._rel(seg), dmg.offset, dmg.length, dmg.error.problem)
        if self.mode != "a":
            self.torn.append(tail)
            return
        try:
            saved = self._cut_tail(seg, dmg)
        except (OSError, ReplayStoreError) as e:
            self.torn.append(tail)
            self.recovered.append(f"{seg}: torn tail of {dmg.length} bytes at byte {dmg.offset} left in place: {e}")
            return
        self.cut.append(TornTail(tail.file, tail.offset, tail.length, tail.problem, saved))
        self.recovered.append(f"{seg}: {dmg.error.problem}; truncated the torn tail of {dmg.length} bytes at byte "
                              f"{dmg.offset} (a copy is in {saved})")

    def _cut_tail(self, seg: Path, dmg: Damage) -> str:
        """Save the torn tail under quarantine/, then cut it off the segment (the only truncation
        of stored bytes the store ever does). Raises instead of cutting when anything differs."""
        fd = os.open(seg, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self._ident.get(seg) or not stat.S_ISREG(st.st_mode):
                raise ForeignFileError(f"{seg} changed since it was read", file=str(seg))
            if st.st_nlink != 1:
                raise ForeignFileError(f"{seg} has {st.st_nlink} hard links; the store cuts only its own files",
                                       file=str(seg))
            if st.st_size != dmg.offset + dmg.length:
                raise ReplayStoreError(f"{seg} is {st.st_size} bytes now, not {dmg.offset + dmg.length}", file=str(seg))
            saved = self._save_torn(seg, dmg.offset, os.pread(fd, dmg.length, dmg.offset))
            os.ftruncate(fd, dmg.offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        return saved

    def _save_torn(self, seg: Path, offset: int, data: bytes) -> str:
        qdir = self.root / TORN_DIR
        if not os.path.lexists(qdir):
            qdir.mkdir()
        if not stat.S_ISDIR(os.lstat(qdir).st_mode):
            raise ForeignFileError(f"{qdir} is not a directory of the store (a symlink or a file)", file=str(qdir))
        name = f"{seg.parent.name}.{seg.name}.{offset}.{time.time_ns()}.torn"
        fd = os.open(qdir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(qdir)
        return f"{TORN_DIR}/{name}"

    def _save_quarantine(self) -> None:
        """Merge the quarantined entries into quarantine.json (atomic replace; a report, not data)."""
        path = self.root / QUARANTINE_FILE
        records: list[dict] = []
        try:
            if os.path.lexists(path):
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise ForeignFileError(f"{path} is not a regular file (a symlink or other)", file=str(path))
                try:
                    old = json.loads(_read_all(path)[0])
                    records = [r for r in old.get("records", []) if isinstance(r, dict)]
                except (ValueError, AttributeError, TypeError):
                    records = []  # an unreadable report is rebuilt from this scan
            have = {(r.get("file"), r.get("offset")) for r in records}
            now = time.time()
            for q in self.quarantined:
                if (q.file, q.offset) not in have:
                    records.append({**asdict(q), "found": now})
            fd, tmp = tempfile.mkstemp(prefix=".quarantine.", dir=self.root)
            with os.fdopen(fd, "w") as f:
                json.dump({"format": QUARANTINE_FORMAT, "version": 1, "records": records}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(self.root)
            self._unsaved = False
        except (OSError, ReplayStoreError) as e:  # the scan's report stays in memory; data is untouched
            self.recovered.append(f"could not write {path}: {e}")

    def _close_fd(self, seg: Path) -> None:
        fd = self._read_fds.pop(seg, None)
        if fd is not None:
            os.close(fd)

    def _fd(self, seg: Path) -> int:
        fd = self._read_fds.get(seg)
        if fd is not None:
            return fd
        try:
            fd = os.open(seg, _OPEN_RO)
        except OSError as e:
            cls = ForeignFileError if e.errno == errno.ELOOP else ReplayStoreError
            raise cls(f"{seg}: cannot be opened ({e.strerror or e}); the store reads only its own regular files",
                      file=str(seg)) from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self._ident.get(seg, (st.st_dev, st.st_ino)):
            os.close(fd)
            raise ForeignFileError(f"{seg}: replaced by another file after the store read it", file=str(seg))
        self._read_fds[seg] = fd
        return fd

    def _read(self, loc: _Loc) -> bytes:
        """The payload at `loc`, checked against the header and CRC it was indexed with."""
        rel = self._rel(loc.seg)
        buf = os.pread(self._fd(loc.seg), HEADER.size + loc.length, loc.offset)
        if len(buf) < HEADER.size + loc.length:
            raise TornRecordError(rel, loc.offset, "the segment is shorter than when the record was indexed")
        magic, length, crc = HEADER.unpack_from(buf)
        if magic != MAGIC or length != loc.length:
            raise BadFrameError(rel, loc.offset, "the record header changed after the record was indexed")
        payload = buf[HEADER.size :]
        if crc != loc.crc or zlib.crc32(payload) != loc.crc:
            raise ChecksumError(rel, loc.offset, "the record changed on disk after it was indexed")
        return payload

    # -- writing -----------------------------------------------------------------------------
    def _require_writer(self) -> None:
        if self.mode != "a" or self._lock_fd is None:
            raise ReplayStoreError(f"{self.root}: opened read-only (or closed); open with mode='a' to write")

    def _append(self, meta: dict, arrays: dict[str, Any]) -> Record:
        """Encode and write one record of the open episode (see `_append_frame`); a record that a
        reader would not accept is refused before anything is written."""
        rec = encode_record(meta, arrays)
        meta = json.loads(json.dumps(meta))  # the fields exactly as a reader will see them
        problem = check_record(meta, list(arrays))
        if problem is not None:
            raise ReplayStoreError(f"{self.root}: not written: {problem}")
        return self._append_frame(rec, meta)

    def _append_frame(self, rec: bytes, meta: dict) -> Record:
        """Write one framed record. Every record reaches the OS before this returns (fsync per the
        store's mode), so a failed write is this record's alone: it is cut off again and
        ReplayStoreError says why, the store stays valid, and the next record can be written."""
        self._require_writer()
        assert self._cur is not None
        seg = pos = None
        try:
            if self._fh is None:  # a failed write closed it (_cut_back)
                self._fh = self._open_for_append(self._segment_path(), create=False)
            if self._fh.tell() > 0 and self._fh.tell() + len(rec) > self.max_segment_bytes:
                self._open_segment(self._seg_no + 1)
            seg, pos = self._segment_path(), self._fh.tell()
            self._fh.write(rec)
            self._fh.flush()
            self._unsynced += 1
            self._sync(force=self.fsync == "step")
        except OSError as e:
            self._cut_back(seg, pos)
            raise ReplayStoreError(self._write_failure(meta, e)) from e
        self._cur.scanned[seg] = pos + len(rec)
        _, length, crc = HEADER.unpack_from(rec)
        return Record(offset=pos, length=length, crc=crc, meta=meta)

    def _segment_path(self) -> Path:
        return self._cur.dir / f"seg_{self._seg_no:06d}.rec"

    def _open_for_append(self, path: Path, create: bool):
        """Open one of the writer's segments for appending; never through a symlink."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o644)
        st = os.fstat(fd)
        if create:  # O_EXCL: a new file of ours
            self._ident[path] = (st.st_dev, st.st_ino)
        elif self._ident.setdefault(path, (st.st_dev, st.st_ino)) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise OSError(errno.EEXIST, f"{path} was replaced by another file")
        return os.fdopen(fd, "ab")

    def _cut_back(self, seg: Path | None, pos: int | None) -> None:
        """After a failed write: drop whatever part of the record reached the file (and what the
        file object still buffers). The next record reopens the segment."""
        if self._fh is not None:
            try:
                self._fh.close()  # tries to flush the rest of the record once more; its error is moot
            except OSError:
                pass
            self._fh = None
        if pos is not None and os.path.lexists(seg):
            fd = os.open(seg, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, pos)  # shrinking a file needs no free space
            finally:
                os.close(fd)

    def _write_failure(self, meta: dict, e: OSError) -> str:
        cur = self._cur
        what = f"{meta.get('type')} record of episode {cur.episode}"
        msg = (f"{self.root}: could not write the {what} ({e.strerror or e}); the record was dropped and the "
               f"store is intact ({len(cur.steps)} steps of this episode are stored).")
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            msg += (f" The disk under {self.root} is full or over a limit: free space there (df -h {self.root}); "
                    "the next record is written once there is room.")
        return msg

    def _sync(self, force: bool = False) -> None:
        if self._fh is None or self._unsynced == 0:
            return
        if force or (self.fsync == "batch" and self._unsynced >= self.batch_size):
            self._fh.flush()
            if self.fsync != "none":
                os.fsync(self._fh.fileno())
            self._unsynced = 0

    def _open_segment(self, n: int) -> None:
        if self._fh is not None:
            self._sync(force=True)
            self._fh.close()
            self._fh = None
        self._seg_no = n
        self._fh = self._open_for_append(self._segment_path(), create=True)
        _fsync_dir(self._cur.dir)

    def _new_episode_dir(self) -> tuple[int, Path]:
        self.refresh()
        eid = max(max(self._index, default=-1), self._disk_max_eid) + 1
        d = self.root / EPISODES_DIR / f"ep_{eid:08d}"
        d.mkdir()
        _fsync_dir(d.parent)
        return eid, d

    def begin_episode(self, kind: str = "online", meta: dict | None = None) -> int:
        """Start a new episode (demo / online / ...); returns its id."""
        self._require_writer()
        if self._cur is not None:
            raise ReplayStoreError(f"episode {self._cur.episode} is still open; call end_episode() first")
        eid, d = self._new_episode_dir()
        self._cur = self._index[eid] = _EpisodeIndex(episode=eid, dir=d)
        self._lost = 0
        try:
            self._open_segment(0)
            begin = {"type": "begin", "episode": eid, "kind": str(kind), "meta": dict(meta or {}), "stamp": time.time()}
            self._add_record(self._cur, self._segment_path(), self._append(begin, {}))
        except (OSError, ReplayStoreError):  # no episode without its begin record: leave none behind
            self._drop_open_episode(eid, d)
            raise
        return eid

    def _drop_open_episode(self, eid: int, d: Path) -> None:
        """Remove the directory of an episode whose begin record could not be written (only this
        writer's own, just created files are in it)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        shutil.rmtree(d, ignore_errors=True)
        for seg in [p for p in self._ident if p.parent == d]:
            self._close_fd(seg)
            del self._ident[seg]
        del self._index[eid]
        self._cur = None

    def add_step(
        self,
        obs: dict[str, Any],
        action: Any,
        reward: float = 0.0,
        terminated: bool = False,
        truncated: bool = False,
        intervention: bool = False,
        extra: dict[str, Any] | None = None,
        stamp: float | None = None,
        info: dict | None = None,
    ) -> int:
        """Append one step (observation, action taken, reward, flags); returns its index.

        `intervention`: the action came from a human (teleop takeover), not the policy.
        `extra`: additional arrays (e.g. the DSRL latent noise). Durable on return with
        fsync="step".
        """
        if self._cur is None:
            raise ReplayStoreError("add_step called without an open episode; call begin_episode() first")
        if not isinstance(obs, dict) or not obs:
            raise ReplayStoreError("obs must be a non-empty dict of arrays (e.g. {'state': ...})")
        r = float(reward)
        arrays = {f"obs/{k}": v for k, v in obs.items()}
        arrays["action"] = np.asarray(action)
        for k, v in (extra or {}).items():
            arrays[f"extra/{k}"] = v
        i = len(self._cur.steps)
        meta = {"type": "step", "i": i, "reward": r, "terminated": bool(terminated), "truncated": bool(truncated),
                "intervention": bool(intervention), "stamp": time.time() if stamp is None else float(stamp), "info": info or {}}
        if self._lost:
            meta["lost_before"] = self._lost
        try:
            rec = self._append(meta, arrays)
        except ReplayStoreError:
            self._lost += 1
            raise
        self._add_record(self._cur, self._segment_path(), rec)
        self._lost = 0
        return i

    def end_episode(self, success: bool | None = None, final_obs: dict[str, Any] | None = None, meta: dict | None = None) -> EpisodeInfo:
        """Close the open episode with its success label and the observation after the last step."""
        if self._cur is None:
            raise ReplayStoreError("end_episode called without an open episode")
        arrays = {f"final_obs/{k}": v for k, v in (final_obs or {}).items()}
        m = {"type": "end", "success": None if success is None else bool(success), "length": len(self._cur.steps),
             "meta": meta or {}, "stamp": time.time()}
        if self._lost:
            m["lost_before"] = self._lost
        self._add_record(self._cur, self._segment_path(), self._append(m, arrays))
        self._lost = 0
        self._sync(force=True)
        self._fh.close()
        self._fh = None
        info = self._cur.info()
        self._cur = None
        return info

    def _copy_episode(self, eid: int, payloads: Iterable[tuple[dict, bytes]]) -> int:
        """Write episode `eid` of a repaired store from validated (fields, payload) records, byte for
        byte as they were (the step numbers keep the gaps of quarantined steps); records written
        (0: nothing was readable, and no episode is made)."""
        self._require_writer()
        payloads = iter(payloads)
        first = next(payloads, None)
        if first is None:
            return 0
        d = self.root / EPISODES_DIR / f"ep_{eid:08d}"
        d.mkdir()
        _fsync_dir(d.parent)
        self._cur = self._index[eid] = _EpisodeIndex(episode=eid, dir=d)
        self._disk_max_eid = max(self._disk_max_eid, eid)
        self._open_segment(0)
        n = 0
        for meta, payload in itertools.chain([first], payloads):
            self._add_record(self._cur, self._segment_path(), self._append_frame(frame_payload(payload), meta))
            n += 1
        self._sync(force=True)
        self._fh.close()
        self._fh = None
        self._cur = None
        return n

    # -- reading -----------------------------------------------------------------------------
    def episodes(self) -> list[EpisodeInfo]:
        """Every episode found so far (`refresh()` picks up new ones), by id."""
        return [self._index[e].info() for e in sorted(self._index)]

    def _get(self, episode: int) -> _EpisodeIndex:
        if episode not in self._index:
            raise ReplayStoreError(f"{self.root}: no episode {episode}; have {sorted(self._index)}")
        return self._index[episode]

    def _decode(self, loc: _Loc) -> tuple[dict, dict[str, np.ndarray]]:
        return parse_payload(self._read(loc), self._rel(loc.seg), loc.offset)

    def read_step(self, episode: int, i: int) -> tuple[dict, dict[str, np.ndarray]]:
        """(scalar fields, arrays) of step `i` of `episode`."""
        steps = self._get(episode).steps
        if not -len(steps) <= i < len(steps):
            raise ReplayStoreError(f"{self.root}: episode {episode} has {len(steps)} readable steps; no step {i}")
        return self._decode(steps[i])

    def records(self, episode: int) -> Iterator[tuple[dict, bytes]]:
        """(fields, payload bytes) of every readable record of `episode` in order (begin, steps,
        end), one at a time, each checked against its CRC; what `postbc replay repair` copies."""
        idx = self._get(episode)
        locs = ([idx.begin] if idx.begin else []) + idx.steps + ([idx.end] if idx.end else [])
        for loc in locs:
            payload = self._read(loc)
            yield parse_payload(payload, self._rel(loc.seg), loc.offset)[0], payload
