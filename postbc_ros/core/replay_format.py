"""On-disk record format of the replay store, its named errors, and a segment scanner that
resynchronises past damage instead of stopping at it (ROS-free).

A segment file is a sequence of framed records::

    b"PBR1" | u32 little-endian payload length | u32 CRC-32 of the payload | payload

The magic is the sync marker and the CRC covers every payload byte, so one damaged record is
found and skipped: the scanner looks for the next magic whose frame is complete, whose CRC
matches and whose payload is a well-formed record, and goes on from there. Everything before
and after the damage stays readable. (This is the store's format v1 unchanged: it already had a
per-record magic and CRC, so old stores read as before.)

The payload is a safetensors blob (numeric arrays, never pickle) whose ``__metadata__`` holds
``{"record": "<JSON object>"}`` with the record's scalar fields. A record is accepted only when
safetensors loads every tensor of its table and its fields have the types the store writes
(`check_record`), so nothing malformed reaches a reader as a raw KeyError/ValueError: every
problem is a `ReplayStoreError` subclass naming the file and byte offset.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

MAGIC = b"PBR1"
HEADER = struct.Struct("<4sII")  # magic, payload length, crc32
MAX_RECORD_BYTES = 1 << 31  # a length field above this is damage, not a record
_ST_LEN = struct.Struct("<Q")  # safetensors: u64 little-endian length of its JSON table
RECORD_TYPES = ("begin", "step", "end")
# array name prefixes each record type may hold ("action" is a step's one plain name)
_ARRAY_PREFIXES = {"begin": (), "step": ("obs/", "extra/"), "end": ("final_obs/",)}


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

class ReplayStoreError(RuntimeError):
    """Problem with a replay store on disk; the message names the path and the fix.
    `file` and `offset` (byte offset in that file) are set where one record or file is at fault."""

    def __init__(self, message: str, *, file: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.file = file
        self.offset = offset


class ForeignFileError(ReplayStoreError):
    """A file or directory the store did not make (a symlink, not a regular file, a name outside
    the layout, another owner, no record header): refused, never followed, read or truncated."""


class CorruptRecordError(ReplayStoreError):
    """One damaged record in a segment: quarantined (reported, skipped, its bytes left as they are)."""

    what = "damaged record"

    def __init__(self, file: str, offset: int, problem: str):
        super().__init__(f"{file}: {self.what} at byte {offset}: {problem}", file=file, offset=offset)
        self.problem = problem


class TornRecordError(CorruptRecordError):
    """The file ends inside the record (a crash while it was being written)."""

    what = "torn record"


class BadFrameError(CorruptRecordError):
    """No record magic where a record should start, or a length field that cannot be right."""

    what = "bad record frame"


class ChecksumError(CorruptRecordError):
    """The payload's CRC-32 does not match the one in the record header."""

    what = "CRC mismatch"


class BadTensorTableError(CorruptRecordError):
    """The payload is not a loadable safetensors blob (table, dtype, shape or offsets wrong)."""

    what = "bad tensor table"


class BadMetadataError(CorruptRecordError):
    """The record's fields are missing or of the wrong type, or the record does not belong where it is."""

    what = "bad record metadata"


# ---------------------------------------------------------------------------------------------
# encoding / decoding
# ---------------------------------------------------------------------------------------------

def _check_array(name: str, value: Any) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(value))
    if arr.dtype == object or arr.dtype.kind in "OUSV":
        raise ReplayStoreError(f"array {name!r} has dtype {arr.dtype}; only numeric/bool arrays are stored (no pickle)")
    return arr


def frame_payload(payload: bytes) -> bytes:
    """Header + payload: one record as it is written."""
    if len(payload) >= MAX_RECORD_BYTES:
        raise ReplayStoreError(f"record of {len(payload)} bytes is too large (max {MAX_RECORD_BYTES})")
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def encode_record(meta: dict, arrays: dict[str, Any]) -> bytes:
    """Frame one record: header + safetensors payload with `meta` as JSON metadata."""
    tensors = {k: _check_array(k, v) for k, v in arrays.items()}
    try:
        text = json.dumps(meta, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ReplayStoreError(f"record fields are not JSON-serialisable ({e}); store numbers, strings, lists and dicts") from None
    return frame_payload(st_save(tensors, metadata={"record": text}))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# field -> (test, what it must be) per record type; optional fields are checked when present
_REQUIRED = {
    "begin": {"kind": (lambda v: isinstance(v, str), "a string"), "meta": (lambda v: isinstance(v, dict), "an object")},
    "step": {"i": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"), "reward": (_is_number, "a number"),
             "terminated": (lambda v: isinstance(v, bool), "true/false"),
             "truncated": (lambda v: isinstance(v, bool), "true/false"),
             "intervention": (lambda v: isinstance(v, bool), "true/false"), "stamp": (_is_number, "a number")},
    "end": {"success": (lambda v: v is None or isinstance(v, bool), "true/false/null"),
            "length": (lambda v: _is_int(v) and v >= 0, "an integer >= 0")},
}
_OPTIONAL = {
    "lost_before": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "info": (lambda v: isinstance(v, dict), "an object"),
    "meta": (lambda v: isinstance(v, dict), "an object"),
    "episode": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
}


def check_record(meta: Any, names: list[str]) -> str | None:
    """What is wrong with a record's fields and array names, or None when it is one the store writes."""
    if not isinstance(meta, dict):
        return f"record metadata is a JSON {type(meta).__name__}, not an object"
    kind = meta.get("type")
    if kind not in RECORD_TYPES:
        return f"record type {kind!r} is not one of {', '.join(RECORD_TYPES)}"
    for fields in (_REQUIRED[kind], _OPTIONAL):
        for key, (ok, must) in fields.items():
            if key not in meta:
                if fields is _REQUIRED[kind]:
                    return f"{kind} record has no {key!r} field"
                continue
            if not ok(meta[key]):
                return f"{kind} record field {key!r} is {meta[key]!r}; it must be {must}"
    prefixes = _ARRAY_PREFIXES[kind]
    for n in names:
        if not (n.startswith(prefixes) if prefixes else False) and not (kind == "step" and n == "action"):
            return f"{kind} record holds an array {n!r} the store does not write there"
    if kind == "step" and ("action" not in names or not any(n.startswith("obs/") for n in names)):
        return "step record lacks its 'action' or any 'obs/' array"
    return None


def parse_payload(payload: bytes, file: str = "<payload>", offset: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """(fields, arrays) of one record's payload, validated; BadTensorTableError / BadMetadataError
    (naming `file` and the record's byte `offset`) when it is not a record the store writes."""
    try:
        arrays = st_load(payload)
        (n,) = _ST_LEN.unpack_from(payload, 0)
        table = json.loads(payload[_ST_LEN.size : _ST_LEN.size + n])
    except Exception as e:  # noqa: BLE001 - safetensors/numpy/json: any failure means a bad table
        raise BadTensorTableError(file, offset, f"{type(e).__name__}: {e}") from None
    if not isinstance(table, dict) or not isinstance(table.get("__metadata__"), dict) \
            or not isinstance(table["__metadata__"].get("record"), str):
        raise BadMetadataError(file, offset, "no '__metadata__' object with a 'record' string")
    try:
        meta = json.loads(table["__metadata__"]["record"])
    except ValueError as e:
        raise BadMetadataError(file, offset, f"record metadata is not JSON ({e})") from None
    problem = check_record(meta, list(arrays))
    if problem is not None:
        raise BadMetadataError(file, offset, problem)
    return meta, arrays


def decode_payload(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of `encode_record` for the payload part (validated; see `parse_payload`)."""
    return parse_payload(payload)


# ---------------------------------------------------------------------------------------------
# scanning
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One valid record found in a segment."""

    offset: int  # byte offset of its header in the segment file
    length: int  # payload bytes
    crc: int
    meta: dict

    @property
    def kind(self) -> str:
        return self.meta["type"]

    @property
    def end(self) -> int:
        return self.offset + HEADER.size + self.length


@dataclass(frozen=True)
class Damage:
    """Bytes of a segment that hold no valid record: [offset, offset + length)."""

    offset: int
    length: int
    error: CorruptRecordError
    partial: bool  # runs to the end of the file and is the start of a record cut short (a torn write)


@dataclass
class SegmentScan:
    records: list[Record]
    damage: list[Damage]
    end: int  # offset of the last byte scanned + 1 (the file size seen)


def _record_at(data: bytes, off: int, base: int, file: str) -> Record:
    """The valid record starting at data[off:], or the CorruptRecordError saying why there is none."""
    at = base + off
    size = len(data) - off
    if size < HEADER.size:
        raise TornRecordError(file, at, f"{size} bytes left, a record header needs {HEADER.size}")
    magic, length, crc = HEADER.unpack_from(data, off)
    if magic != MAGIC:
        raise BadFrameError(file, at, f"bytes {magic!r} where the record magic {MAGIC!r} should be")
    if length >= MAX_RECORD_BYTES:
        raise BadFrameError(file, at, f"length field {length} exceeds the maximum record size {MAX_RECORD_BYTES}")
    if HEADER.size + length > size:
        raise TornRecordError(file, at, f"the record needs {length} payload bytes, {size - HEADER.size} are there")
    payload = data[off + HEADER.size : off + HEADER.size + length]
    if zlib.crc32(payload) != crc:
        raise ChecksumError(file, at, f"CRC-32 of the {length} payload bytes is not the header's {crc:#010x} "
                                      "(a damaged payload or length field)")
    meta, _ = parse_payload(payload, file, at)
    return Record(offset=at, length=length, crc=crc, meta=meta)


def _is_partial(data: bytes, off: int) -> bool:
    """data[off:] is the beginning of a record the file ends inside (not damage inside a record)."""
    rest = data[off : off + HEADER.size]
    if len(rest) < HEADER.size:
        return MAGIC.startswith(rest[: len(MAGIC)])
    magic, length, _ = HEADER.unpack(rest)
    return magic == MAGIC and length < MAX_RECORD_BYTES and HEADER.size + length > len(data) - off


def _resync(data: bytes, start: int, base: int, file: str) -> int | None:
    """Offset (in data) of the next valid record at or after `start`, or None."""
    p = data.find(MAGIC, start)
    while p != -1:
        try:
            _record_at(data, p, base, file)
            return p
        except CorruptRecordError:
            p = data.find(MAGIC, p + 1)
    return None


def scan_bytes(data: bytes, base: int = 0, file: str = "<segment>") -> SegmentScan:
    """Every valid record and every damaged span in `data`, which are the bytes of segment `file`
    from offset `base` on. Damage never stops the scan: it resumes at the next valid record."""
    records: list[Record] = []
    damage: list[Damage] = []
    off = 0
    while off < len(data):
        try:
            rec = _record_at(data, off, base, file)
        except CorruptRecordError as err:
            nxt = _resync(data, off + 1, base, file)
            if nxt is None:
                damage.append(Damage(base + off, len(data) - off, err, _is_partial(data, off)))
                break
            if isinstance(err, TornRecordError):  # not the end of the file: the length field is wrong
                err = BadFrameError(file, base + off, f"{err.problem}, but a valid record starts at byte "
                                                      f"{base + nxt}: the length field is damaged")
            damage.append(Damage(base + off, nxt - off, err, False))
            off = nxt
            continue
        records.append(rec)
        off = rec.end - base
    return SegmentScan(records, damage, base + len(data))
