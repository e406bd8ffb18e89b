"""Persistent, crash-safe replay store on disk, organised by episode.

Why not an in-memory buffer: the learner, the policy and the robot run in separate processes
and any of them may crash (or the robot PC may lose power) in the middle of a real-robot
session whose every minute is expensive. The store therefore is the system of record for
demonstrations, online transitions and intervention flags.

Layout::

    <root>/STORE.json                     format marker + version
    <root>/.writer.lock                   flock: exactly one writer process at a time
    <root>/episodes/ep_00000042/seg_000000.rec, seg_000001.rec, ...

Each segment file is append-only and holds framed records::

    b"PBR1" | u32 little-endian payload length | u32 CRC-32 of payload | payload

The payload is a safetensors blob (numpy arrays, never pickle) whose ``__metadata__`` holds
the record's scalar fields as JSON. Records: ``begin`` (episode kind + metadata), ``step``
(obs/<key>, action, extra/<key> arrays; reward, terminated, truncated, intervention, stamp)
and ``end`` (success label, optional final_obs/<key>).

Durability: every record reaches the OS before `add_step` returns (a crash of the process loses
at most the record being written). With ``fsync="step"`` it is also on disk; ``"batch"`` fsyncs
every `batch_size` records and at episode boundaries; ``"none"`` leaves that to the OS (a power
loss can lose the unsynced records). A crash leaves at most a torn tail. On open
the writer truncates a torn tail of the last segment of an episode; a reader simply stops at
it (the writer may still be appending). A bad record *before* valid ones is real corruption
and raises `ReplayStoreError` naming the file and byte offset (``repair=True`` truncates).

A write that fails (disk full, a file-size limit, an I/O error) is cut back off the segment and
raises `ReplayStoreError` saying why and what to free; the store stays valid and the writer goes
on with the next record. The next stored record counts the steps lost before it
(``lost_before``), so a reader knows where the gaps are and `EpisodeInfo.lost_steps` reports them.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

MAGIC = b"PBR1"
_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32
FORMAT = "postbc_replay"
VERSION = 1
MAX_RECORD_BYTES = 1 << 31


class ReplayStoreError(RuntimeError):
    """Problem with a replay store on disk; the message names the path and the fix."""


# ---------------------------------------------------------------------------------------------
# record encoding
# ---------------------------------------------------------------------------------------------

def _check_array(name: str, value: Any) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(value))
    if arr.dtype == object or arr.dtype.kind in "OUSV":
        raise ReplayStoreError(f"array {name!r} has dtype {arr.dtype}; only numeric/bool arrays are stored (no pickle)")
    return arr


def encode_record(meta: dict, arrays: dict[str, Any]) -> bytes:
    """Frame one record: header + safetensors payload with `meta` as JSON metadata."""
    tensors = {k: _check_array(k, v) for k, v in arrays.items()}
    payload = st_save(tensors, metadata={"record": json.dumps(meta, separators=(",", ":"))})
    if len(payload) >= MAX_RECORD_BYTES:
        raise ReplayStoreError(f"record of {len(payload)} bytes is too large (max {MAX_RECORD_BYTES})")
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode_payload(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of `encode_record` for the payload part."""
    (n,) = struct.unpack_from("<Q", payload, 0)
    header = json.loads(payload[8 : 8 + n])
    meta = json.loads(header.get("__metadata__", {}).get("record", "{}"))
    arrays = st_load(payload) if len(header) > 1 else {}
    return meta, arrays


@dataclass
class _Frame:
    offset: int
    length: int  # payload length
    kind: str


def scan_segment(path: Path, start: int = 0) -> tuple[list[_Frame], int, str | None]:
    """Parse the frames of one segment from byte `start`:
    (frames, end offset of the last valid frame, problem or None)."""
    frames: list[_Frame] = []
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    off = 0
    size = len(data)
    while off < size:
        at = start + off
        if size - off < _HEADER.size:
            return frames, at, f"torn header ({size - off} bytes) at offset {at}"
        magic, length, crc = _HEADER.unpack_from(data, off)
        if magic != MAGIC:
            return frames, at, f"bad magic at offset {at}"
        body = off + _HEADER.size
        if body + length > size:
            return frames, at, f"torn record at offset {at} (needs {length} bytes, {size - body} present)"
        payload = data[body : body + length]
        if zlib.crc32(payload) != crc:
            return frames, at, f"CRC mismatch at offset {at}"
        try:
            meta = _peek_meta(payload)
        except Exception as e:  # noqa: BLE001 - any decoding failure is corruption
            return frames, at, f"undecodable record at offset {at}: {e}"
        frames.append(_Frame(offset=start + body, length=length, kind=str(meta.get("type", "?"))))
        off = body + length
    return frames, start + off, None


def _peek_meta(payload: bytes) -> dict:
    (n,) = struct.unpack_from("<Q", payload, 0)
    header = json.loads(payload[8 : 8 + n])
    return json.loads(header.get("__metadata__", {}).get("record", "{}"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# index
# ---------------------------------------------------------------------------------------------

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


@dataclass
class _EpisodeIndex:
    episode: int
    dir: Path
    kind: str = "?"
    meta: dict = field(default_factory=dict)
    steps: list[tuple[Path, int, int]] = field(default_factory=list)  # (segment, offset, length)
    interventions: list[bool] = field(default_factory=list)
    lost_before: list[int] = field(default_factory=list)  # steps lost right before each stored step
    end: tuple[Path, int, int] | None = None
    end_meta: dict | None = None
    scanned: dict[Path, int] = field(default_factory=dict)  # bytes of each segment parsed

    def info(self) -> EpisodeInfo:
        success = None if self.end_meta is None else self.end_meta.get("success")
        lost = sum(self.lost_before) + self.lost_before_end
        return EpisodeInfo(self.episode, self.kind, self.meta, len(self.steps), self.end is not None, success,
                           int(sum(self.interventions)), int(lost))

    @property
    def lost_before_end(self) -> int:
        """Steps lost between the last stored step and the end record."""
        return int((self.end_meta or {}).get("lost_before", 0))


# ---------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------

class ReplayStore:
    """Episode-organised persistent store. mode "a": single writer (+ reading); "r": reader.

    A reader opens it read-only (possibly while the writer appends), calls `refresh()` to pick up
    new data and reads steps back with `episodes()` / `read_step()` (replay_buffer_node republishes
    the stored transitions that way).
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
        self.root = Path(root)
        self.mode = mode
        self.fsync = fsync
        self.batch_size = max(1, int(batch_size))
        self.max_segment_bytes = int(max_segment_bytes)
        self.repair = repair
        self.recovered: list[str] = []  # what open-time recovery did (for logs)
        self._index: dict[int, _EpisodeIndex] = {}
        self._lock_fd: int | None = None
        self._fh = None  # current segment file (writer)
        self._cur: _EpisodeIndex | None = None
        self._seg_no = 0
        self._unsynced = 0
        self._lost = 0  # steps of the open episode lost since the last stored record
        self._read_handles: dict[Path, Any] = {}
        marker = self.root / "STORE.json"
        if mode == "a":
            (self.root / "episodes").mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
            if not marker.exists():
                tmp = marker.with_suffix(".tmp")
                tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION, "created": time.time()}))
                os.replace(tmp, marker)
                _fsync_dir(self.root)
        if not marker.exists():
            raise ReplayStoreError(f"{self.root}: not a replay store (no STORE.json); open it with mode='a' to create one")
        try:
            info = json.loads(marker.read_text())
        except json.JSONDecodeError as e:
            raise ReplayStoreError(f"{marker}: unreadable ({e}); restore it or recreate the store") from e
        if info.get("format") != FORMAT or info.get("version") != VERSION:
            raise ReplayStoreError(f"{marker}: format {info.get('format')!r} v{info.get('version')!r} is not {FORMAT} v{VERSION}")
        self.refresh()

    # -- locking / lifecycle -------------------------------------------------------------------
    def _acquire_lock(self) -> None:
        path = self.root / ".writer.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
        for fh in self._read_handles.values():
            fh.close()
        self._read_handles.clear()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ReplayStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- scanning ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """(Re)scan the episodes directory; parses only bytes not seen before."""
        ep_root = self.root / "episodes"
        if not ep_root.is_dir():
            return
        for d in sorted(ep_root.iterdir()):
            if not (d.is_dir() and d.name.startswith("ep_")):
                continue
            try:
                eid = int(d.name[3:])
            except ValueError:
                continue
            idx = self._index.get(eid)
            if idx is None:
                idx = self._index[eid] = _EpisodeIndex(episode=eid, dir=d)
            if self._cur is not None and idx is self._cur:
                continue  # our own open episode is indexed as we write it
            segs = sorted(d.glob("seg_*.rec"))
            for si, seg in enumerate(segs):
                self._scan_into(idx, seg, is_last=(si == len(segs) - 1))

    def _scan_into(self, idx: _EpisodeIndex, seg: Path, is_last: bool) -> None:
        start = idx.scanned.get(seg, 0)
        size = seg.stat().st_size
        if size == start:
            return
        frames, end, problem = scan_segment(seg, start)
        for fr in frames:
            self._add_frame(idx, seg, fr)
        idx.scanned[seg] = end
        if problem is None:
            return
        if not is_last and not self.repair:
            raise ReplayStoreError(
                f"{seg}: corrupt record ({problem}) followed by further segments; this is disk corruption, "
                f"not a torn write. Open with repair=True to truncate {seg.name} at byte {end}."
            )
        if self.mode == "a":
            with open(seg, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
            self.recovered.append(f"{seg}: {problem}; truncated {size - end} bytes")

    def _add_frame(self, idx: _EpisodeIndex, seg: Path, fr: _Frame) -> None:
        loc = (seg, fr.offset, fr.length)
        if fr.kind == "begin":
            meta, _ = decode_payload(self._read(loc))
            idx.kind = meta.get("kind", "?")
            idx.meta = meta.get("meta", {})
        elif fr.kind == "step":
            meta = _peek_meta(self._read(loc))
            idx.steps.append(loc)
            idx.interventions.append(bool(meta.get("intervention", False)))
            idx.lost_before.append(int(meta.get("lost_before", 0)))
        elif fr.kind == "end":
            idx.end = loc
            idx.end_meta, _ = decode_payload(self._read(loc))

    def _read(self, loc: tuple[Path, int, int]) -> bytes:
        seg, off, length = loc
        fh = self._read_handles.get(seg)
        if fh is None:
            fh = self._read_handles[seg] = open(seg, "rb")
        return os.pread(fh.fileno(), length, off)

    # -- writing -----------------------------------------------------------------------------
    def _require_writer(self) -> None:
        if self.mode != "a" or self._lock_fd is None:
            raise ReplayStoreError(f"{self.root}: opened read-only (or closed); open with mode='a' to write")

    def _append(self, meta: dict, arrays: dict[str, Any]) -> tuple[Path, int, int]:
        """Write one record. Every record reaches the OS before this returns (fsync per the
        store's mode), so a failed write is this record's alone: it is cut off again and
        ReplayStoreError says why, the store stays valid, and the next record can be written."""
        self._require_writer()
        rec = encode_record(meta, arrays)
        assert self._cur is not None
        seg = pos = None
        try:
            if self._fh is None:  # a failed write closed it (_cut_back)
                self._fh = open(self._segment_path(), "ab")
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
        return (seg, pos + _HEADER.size, len(rec) - _HEADER.size)

    def _segment_path(self) -> Path:
        return self._cur.dir / f"seg_{self._seg_no:06d}.rec"

    def _cut_back(self, seg: Path | None, pos: int | None) -> None:
        """After a failed write: drop whatever part of the record reached the file (and what the
        file object still buffers). The next record reopens the segment."""
        if self._fh is not None:
            try:
                self._fh.close()  # tries to flush the rest of the record once more; its error is moot
            except OSError:
                pass
            self._fh = None
        if pos is not None and seg.exists():
            os.truncate(seg, pos)  # shrinking a file needs no free space

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
        self._seg_no = n
        path = self._cur.dir / f"seg_{n:06d}.rec"
        self._fh = open(path, "ab")
        _fsync_dir(self._cur.dir)

    def begin_episode(self, kind: str = "online", meta: dict | None = None) -> int:
        """Start a new episode (demo / online / ...); returns its id."""
        self._require_writer()
        if self._cur is not None:
            raise ReplayStoreError(f"episode {self._cur.episode} is still open; call end_episode() first")
        self.refresh()
        eid = max(self._index, default=-1) + 1
        d = self.root / "episodes" / f"ep_{eid:08d}"
        d.mkdir()
        _fsync_dir(d.parent)
        self._cur = self._index[eid] = _EpisodeIndex(episode=eid, dir=d, kind=str(kind), meta=dict(meta or {}))
        self._lost = 0
        try:
            self._open_segment(0)
            self._append({"type": "begin", "episode": eid, "kind": str(kind), "meta": dict(meta or {}), "stamp": time.time()}, {})
        except (OSError, ReplayStoreError):  # no episode without its begin record: leave none behind
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            shutil.rmtree(d, ignore_errors=True)
            del self._index[eid]
            self._cur = None
            raise
        return eid

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
            loc = self._append(meta, arrays)
        except ReplayStoreError:
            self._lost += 1
            raise
        self._cur.steps.append(loc)
        self._cur.interventions.append(bool(intervention))
        self._cur.lost_before.append(self._lost)
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
        loc = self._append(m, arrays)
        self._lost = 0
        self._cur.end, self._cur.end_meta = loc, m
        self._sync(force=True)
        self._fh.close()
        self._fh = None
        info = self._cur.info()
        self._cur = None
        return info

    # -- reading -----------------------------------------------------------------------------
    def episodes(self) -> list[EpisodeInfo]:
        """Every episode found so far (`refresh()` picks up new ones), by id."""
        return [self._index[e].info() for e in sorted(self._index)]

    def _get(self, episode: int) -> _EpisodeIndex:
        if episode not in self._index:
            raise ReplayStoreError(f"{self.root}: no episode {episode}; have {sorted(self._index)}")
        return self._index[episode]

    def read_step(self, episode: int, i: int) -> tuple[dict, dict[str, np.ndarray]]:
        """(scalar fields, arrays) of step `i` of `episode`."""
        return decode_payload(self._read(self._get(episode).steps[i]))
