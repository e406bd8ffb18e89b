"""Remove Fast DDS shared-memory segments that no live process uses.

Fast DDS (the default RMW of the ROS 2 wheels) keeps its shared-memory transport in /dev/shm:
`fastdds_port<N>` (+ `_el`, `sem.fastdds_port<N>_mutex`) per listening port and `fastdds_<id>`
(+ `_el`) per participant. A process that dies without destroying its participants (SIGKILL, a
crash, `os._exit`) leaves them behind. Port numbers derive from the ROS_DOMAIN_ID, so a later
graph on the same domain reopens the dead port segments; on this project's test machines that
coincided with lost messages (a service reply, episode-state updates) after a few hundred stale
files had accumulated, and with none after they were removed. This is what Fast DDS's own
`fastdds shm clean` does; its CLI is not part of the PyPI wheels.

A segment group is removed only if its files belong to this user and no live process that can be
inspected has any of them mapped or open (/proc/<pid>/maps and /proc/<pid>/fd; processes that
cannot be inspected -- other users', a container's pid 1 -- cannot use this user's segments
unless they run as root).
"""
from __future__ import annotations

import os
from pathlib import Path

SHM_DIR = Path("/dev/shm")
_PREFIXES = ("fastdds_", "sem.fastdds_")


def _group(name: str) -> str:
    """fastdds_port7411, fastdds_port7411_el and sem.fastdds_port7411_mutex -> fastdds_port7411."""
    if name.startswith("sem."):
        name = name[4:]
    for suffix in ("_mutex", "_el"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _names_in_use(shm_dir: Path) -> set[str]:
    """Basenames under `shm_dir` mapped or open by any live process we can inspect."""
    prefix = str(shm_dir).rstrip("/") + "/"
    used: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            maps = (proc / "maps").read_text()
            fds = list((proc / "fd").iterdir())
        except OSError:  # exited meanwhile, or not inspectable (another user, a container's pid 1)
            continue
        for line in maps.splitlines():
            i = line.find(prefix)
            if i >= 0:
                used.add(line[i + len(prefix):].split(" (deleted)")[0].strip())
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile (e.g. the descriptor of this very listing)
                continue
            if target.startswith(prefix):
                used.add(target[len(prefix):])
    return used


def clean_stale_fastdds_shm(shm_dir: str | os.PathLike = SHM_DIR) -> list[str]:
    """Delete the stale Fast DDS segment groups in `shm_dir`; returns the removed file names."""
    shm_dir = Path(shm_dir)
    try:
        files = [p for p in shm_dir.iterdir() if p.name.startswith(_PREFIXES)]
    except OSError:
        return []
    if not files:
        return []
    used = _names_in_use(shm_dir)
    busy = {_group(n) for n in used}
    me = os.getuid()
    removed = []
    for p in files:
        try:
            if _group(p.name) in busy or p.stat().st_uid != me:
                continue
            p.unlink()
            removed.append(p.name)
        except OSError:
            continue
    return sorted(removed)
