"""Robots' streams of transitions, written into their ReplayStores episode by episode (ROS-free).

The policy numbers its episodes and flags the last transition of each; transitions arrive one
at a time (over DDS, in the replay_buffer node). `EpisodeStreamWriter` keeps one store's episodes
in step with the policy's, also when a write fails (disk full): a step that could not be stored
is reported and counted by the store (no transition spans it), an episode whose last transition
was lost is still closed with its success label, and a begin or end record that could not be
written is tried again with the next transition. `RobotStreams` is what the node holds: one
store per robot under a root directory (root/<robot>), reopened on start, and read back whole
for a learner that asks for the history.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from postbc_ros.core.replay_store import ReplayStore, ReplayStoreError
from postbc_ros.core.transition import Transition, TransitionError

STORE_MARKER = "STORE.json"  # the file that makes a directory a replay store


class EpisodeStreamWriter:
    def __init__(self, store: ReplayStore, meta: dict[str, Any] | None = None, kind: str = "online"):
        self.store = store
        self.meta = dict(meta or {})
        self.kind = kind
        self.open_episode: int | None = None  # the stream's episode id the store has open
        self.episodes_begun = 0
        self._label: bool | None = None  # success label of an ended episode whose end record failed

    def write(self, tr: Transition) -> int:
        """Store `tr` as the next step of the stream's episode `tr.episode`; returns its index in
        the store's episode. Raises ReplayStoreError when it could not be stored."""
        if self.open_episode != tr.episode:
            if self.open_episode is not None:  # its last transition, or its end record, never made it
                self.store.end_episode(success=self._label)
                self.open_episode = self._label = None
            self.store.begin_episode(self.kind, {**self.meta, "policy_episode": tr.episode})
            self.open_episode = tr.episode
            self.episodes_begun += 1
        lost: ReplayStoreError | None = None
        try:
            i = self.store.add_step(**tr.to_store_step())
        except ReplayStoreError as e:
            lost = e
        if tr.episode_end:  # close it with its label even when its last step was lost
            self._label = tr.success
            self.store.end_episode(success=tr.success)
            self.open_episode = self._label = None
        if lost is not None:
            raise lost
        return i


class RobotStreams:
    """One ReplayStore per robot under `root`, each written through an EpisodeStreamWriter."""

    def __init__(self, root: str | Path, fsync: str, warn: Callable[[str], Any]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.warn = warn
        self.writers: dict[str, EpisodeStreamWriter] = {}
        for d in sorted(self.root.iterdir()):  # resume: existing stores (crash recovery on open)
            if (d / STORE_MARKER).exists():
                self._writer(d.name)

    def _writer(self, robot: str) -> EpisodeStreamWriter:
        if robot not in self.writers:
            st = ReplayStore(self.root / robot, mode="a", fsync=self.fsync)
            for r in st.recovered:
                self.warn(f"{robot}: recovered {r}")
            self.writers[robot] = EpisodeStreamWriter(st, {"robot": robot})
        return self.writers[robot]

    def write(self, tr: Transition) -> int:
        """Store `tr` in its robot's store (durable on return with fsync=step); its step index.
        ReplayStoreError / OSError when it could not be stored (the message says why)."""
        return self._writer(tr.robot).write(tr)

    @property
    def robots(self) -> list[str]:
        return sorted(self.writers)

    @property
    def episodes_begun(self) -> int:
        """Episodes begun by this run, over all robots."""
        return sum(w.episodes_begun for w in self.writers.values())

    def stored(self) -> Iterator[Transition]:
        """Every transition in the stores, robot by robot, episode by episode (a step that does
        not decode is reported and left out)."""
        for robot, w in self.writers.items():
            w.store.refresh()
            for info in w.store.episodes():
                for i in range(info.num_steps):
                    try:
                        yield Transition.from_store_step(*w.store.read_step(info.episode, i))
                    except TransitionError as e:
                        self.warn(f"{robot}: episode {info.episode} step {i} not replayed: {e}")

    def close(self) -> None:
        for w in self.writers.values():
            w.store.close()
