"""Stale Fast DDS shared-memory cleanup: only groups no live process maps or holds open go."""
from __future__ import annotations

import mmap
import os

from postbc_ros.ros.dds_shm import clean_stale_fastdds_shm


def _touch(d, name, size=4096):
    p = d / name
    p.write_bytes(b"\0" * size)
    return p


def test_removes_only_unused_fastdds_groups(tmp_path):
    held = _touch(tmp_path, "fastdds_port7411")            # open fd in this process
    _touch(tmp_path, "fastdds_port7411_el")                 # same group: kept with it
    _touch(tmp_path, "sem.fastdds_port7411_mutex")
    mapped = _touch(tmp_path, "fastdds_0123456789abcdef")  # mmapped, fd closed
    _touch(tmp_path, "fastdds_0123456789abcdef_el")
    _touch(tmp_path, "fastdds_port7413")                    # dead process's port: removed
    _touch(tmp_path, "fastdds_port7413_el")
    _touch(tmp_path, "sem.fastdds_port7413_mutex")
    _touch(tmp_path, "fastdds_fedcba9876543210")            # dead participant segment: removed
    _touch(tmp_path, "other_app_segment")                   # not Fast DDS: never touched
    fd = os.open(held, os.O_RDONLY)
    with open(mapped, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 0)
    try:
        removed = clean_stale_fastdds_shm(tmp_path)
    finally:
        os.close(fd)
        mm.close()
    assert removed == ["fastdds_fedcba9876543210", "fastdds_port7413", "fastdds_port7413_el",
                       "sem.fastdds_port7413_mutex"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["fastdds_0123456789abcdef", "fastdds_0123456789abcdef_el", "fastdds_port7411",
                    "fastdds_port7411_el", "other_app_segment", "sem.fastdds_port7411_mutex"]


def test_missing_or_empty_directory(tmp_path):
    assert clean_stale_fastdds_shm(tmp_path / "nope") == []
    assert clean_stale_fastdds_shm(tmp_path) == []
