"""Versioned byte format for payloads richer than standard messages (ROS-free).

Transitions (policy -> replay buffer -> learner) and policy weights (learner -> policy) travel in
`std_msgs/UInt8MultiArray.data` as one *record*:

    offset 0   4 bytes   magic  b"PBCR"
    offset 4   2 bytes   format version, little-endian uint16 (currently 1)
    offset 6   4 bytes   header length H, little-endian uint32
    offset 10  H bytes   header: UTF-8 JSON object; always has "kind" (str)
    offset 10+H ...      payload

Payload per kind:
  - ``"transition"``: safetensors bytes (numpy arrays: obs, next_obs, action, noise, ...);
    header holds the scalars (episode_id, step, reward, done, success, robot, policy_version,
    intervention, stamps ...).
  - ``"weights"``: a *bundle* of the files of a checkpoint directory (safetensors + JSON only);
    header["files"] = [{"name", "offset", "size", "sha256"}], offsets relative to the payload.

Never pickle: a record is JSON + safetensors, readable from any language.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"PBCR"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
ALLOWED_BUNDLE_SUFFIXES = (".safetensors", ".json")


class WireError(ValueError):
    """A record that cannot be decoded; the message names the field and what to do."""


def pack(kind: str, header: dict[str, Any], payload: bytes = b"") -> bytes:
    """Encode one record."""
    head = dict(header)
    head["kind"] = kind
    hb = json.dumps(head, sort_keys=True, allow_nan=False).encode("utf-8")
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, len(hb)) + hb + bytes(payload)


def unpack(data: bytes | bytearray | memoryview, expect_kind: str | None = None) -> tuple[dict, bytes]:
    """Decode one record -> (header, payload); raises WireError on anything malformed."""
    buf = bytes(data)
    if len(buf) < _PREFIX.size:
        raise WireError(f"record too short ({len(buf)} bytes): not a postbc_ros wire record")
    magic, version, hlen = _PREFIX.unpack_from(buf)
    if magic != MAGIC:
        raise WireError(f"bad magic {magic!r} (expected {MAGIC!r}): the publisher is not postbc_ros")
    if version != FORMAT_VERSION:
        raise WireError(
            f"wire format version {version} but this build reads {FORMAT_VERSION}: "
            "run the same postbc_ros version on every machine"
        )
    end = _PREFIX.size + hlen
    if end > len(buf):
        raise WireError(f"header length {hlen} exceeds record size {len(buf)}: truncated message")
    try:
        header = json.loads(buf[_PREFIX.size:end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"record header is not UTF-8 JSON: {e}") from e
    if not isinstance(header, dict) or "kind" not in header:
        raise WireError("record header must be a JSON object with a 'kind' field")
    if expect_kind is not None and header["kind"] != expect_kind:
        raise WireError(f"record kind {header['kind']!r}, expected {expect_kind!r}")
    return header, buf[end:]


# --------------------------------------------------------------------------- transitions
def pack_arrays(kind: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Record whose payload is safetensors bytes of `arrays` (numpy, contiguous)."""
    from safetensors.numpy import save

    clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return pack(kind, header, save(clean) if clean else b"")


def unpack_arrays(data, expect_kind: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of pack_arrays."""
    from safetensors.numpy import load

    header, payload = unpack(data, expect_kind)
    try:
        arrays = load(payload) if payload else {}
    except Exception as e:  # safetensors raises its own error types
        raise WireError(f"{header.get('kind')} payload is not valid safetensors: {e}") from e
    return header, dict(arrays)


def pack_transition(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    return pack_arrays("transition", header, arrays)


def unpack_transition(data) -> tuple[dict, dict[str, np.ndarray]]:
    return unpack_arrays(data, "transition")


# --------------------------------------------------------------------------- weight bundles
def pack_bundle(directory: str | Path, header: dict[str, Any]) -> bytes:
    """Pack every safetensors/JSON file of a checkpoint directory (recursively) into a record."""
    root = Path(directory)
    files, blobs, off = [], [], 0
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix not in ALLOWED_BUNDLE_SUFFIXES:
            raise WireError(
                f"{p}: only {ALLOWED_BUNDLE_SUFFIXES} files may be sent as weights "
                "(checkpoints are safetensors + JSON, never pickle)"
            )
        b = p.read_bytes()
        files.append({"name": p.relative_to(root).as_posix(), "offset": off, "size": len(b),
                      "sha256": hashlib.sha256(b).hexdigest()})
        blobs.append(b)
        off += len(b)
    if not files:
        raise WireError(f"{root}: no checkpoint files to send")
    head = dict(header)
    head["files"] = files
    return pack("weights", head, b"".join(blobs))


def unpack_bundle(data, directory: str | Path) -> dict:
    """Write the files of a weights record into `directory`; returns the header."""
    header, payload = unpack(data, "weights")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for f in header.get("files", []):
        name = str(f["name"])
        if name.startswith("/") or ".." in Path(name).parts or Path(name).suffix not in ALLOWED_BUNDLE_SUFFIXES:
            raise WireError(f"weights file name {name!r} rejected (absolute, '..' or not safetensors/JSON)")
        blob = payload[int(f["offset"]): int(f["offset"]) + int(f["size"])]
        if len(blob) != int(f["size"]) or hashlib.sha256(blob).hexdigest() != f["sha256"]:
            raise WireError(f"weights file {name!r}: size/sha256 mismatch (message truncated or corrupted)")
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blob)
    return header
