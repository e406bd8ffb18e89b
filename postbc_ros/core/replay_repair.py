"""Check a replay store and copy every readable record into a new one (ROS-free; what
`postbc replay check` and `postbc replay repair` run).

`check_store` only reads: it opens the store as a reader (which never writes a byte), reads every
indexed record back once more (CRC + decode) and reports episodes, quarantined spans, refused
files and a torn tail. `repair_store` never edits the old store: it writes a NEW store holding
every record the old one can read, byte for byte (so step numbers keep the gaps where records
were damaged), checks that the copy reopens with the same episodes and nothing quarantined, and
writes REPAIRED.json beside its STORE.json saying where it came from and what was left behind.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from postbc_ros.core.replay_store import QuarantineEntry, ReplayStore, ReplayStoreError

REPAIR_REPORT = "REPAIRED.json"  # in the new store's root: source, what was copied, what was not


def check_store(root: str | Path) -> dict:
    """Read-only report of a store: `ReplayStore.report()` plus records that did not read back and
    `ok` (nothing quarantined, torn or unreadable). Raises ReplayStoreError when it is no store."""
    with ReplayStore(root, mode="r") as store:
        for info in store.episodes():
            try:
                for _ in store.records(info.episode):
                    pass
            except ReplayStoreError as e:  # changed on disk after the scan: reported like damage
                store.quarantined.append(QuarantineEntry(e.file or str(root), e.offset, None, type(e).__name__,
                                                         str(e), info.episode))
        rep = store.report()
    rep["ok"] = not rep["quarantined"] and not rep["torn"]
    return rep


def _refuse_out(src: Path, out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReplayStoreError(f"{out}: exists and is not empty; repair writes a new store and never overwrites: "
                               "give --out a new or empty directory")
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents:
        raise ReplayStoreError(f"{out}: inside the store being repaired ({src}); give --out a directory elsewhere")


def repair_store(src: str | Path, out: str | Path) -> dict:
    """Copy every readable record of store `src` into a new store `out` (must not exist or be
    empty); returns what was copied and left behind. `src` is only read."""
    src, out = Path(src), Path(out)
    _refuse_out(src, out)
    with ReplayStore(src, mode="r") as old:
        source = old.report()
        copied, empty = 0, []
        with ReplayStore(out, mode="a", fsync="batch") as new:
            for info in old.episodes():
                n = new._copy_episode(info.episode, old.records(info.episode))
                copied += n
                if n == 0:  # nothing of it is readable
                    empty.append(info.episode)
    report = {"source": str(src), "out": str(out), "at": time.time(), "records": copied,
              "episodes": len(source["episodes"]) - len(empty), "steps": source["steps"],
              "episodes_without_readable_records": empty,
              "left_behind": {"quarantined": source["quarantined"], "torn": source["torn"]}}
    _verify(source, out, empty)
    tmp = out / f".{REPAIR_REPORT}.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out / REPAIR_REPORT)
    return report


def _verify(source: dict, out: Path, empty: list[int]) -> None:
    """The new store reopens cleanly with the same episodes (steps, completeness, labels)."""
    def key(e: dict) -> tuple:
        return (e["episode"], e["kind"], e["meta"], e["num_steps"], e["complete"], e["success"], e["lost_steps"],
                e["missing_steps"])

    with ReplayStore(out, mode="r") as st:
        got = st.report()
    want = [key(e) for e in source["episodes"] if e["episode"] not in empty]
    if got["quarantined"] or got["torn"] or [key(e) for e in got["episodes"]] != want:
        raise ReplayStoreError(f"{out}: the repaired store does not read back as the source's readable records "
                               f"({len(got['quarantined'])} quarantined, {len(got['episodes'])} episodes, "
                               f"{len(want)} expected); the source {source['store']} is unchanged")
