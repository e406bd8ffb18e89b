"""One robot's stream of transitions, written into its ReplayStore episode by episode.

The policy numbers its episodes and flags the last transition of each; transitions arrive one
at a time (over DDS, in the replay_buffer node). This keeps the store's episodes in step with the
policy's, also when a write fails (disk full): a step that could not be stored is reported and
counted by the store (no transition spans it), an episode whose last transition was lost is
still closed with its success label, and a begin or end record that could not be written is
tried again with the next transition.
"""
from __future__ import annotations

from typing import Any

from postbc_ros.core.replay_store import ReplayStore, ReplayStoreError


class EpisodeStreamWriter:
    def __init__(self, store: ReplayStore, meta: dict[str, Any] | None = None, kind: str = "online"):
        self.store = store
        self.meta = dict(meta or {})
        self.kind = kind
        self.open_episode: int | None = None  # the stream's episode id the store has open
        self.episodes_begun = 0
        self._label: bool | None = None  # success label of an ended episode whose end record failed

    def write(self, episode: int, step: dict[str, Any], episode_end: bool = False, success: bool | None = None) -> int:
        """Store one step (ReplayStore.add_step kwargs) of the stream's `episode`; returns its index
        in the store's episode. Raises ReplayStoreError when it could not be stored."""
        episode = int(episode)
        if self.open_episode != episode:
            if self.open_episode is not None:  # its last transition, or its end record, never made it
                self.store.end_episode(success=self._label)
                self.open_episode = self._label = None
            self.store.begin_episode(self.kind, {**self.meta, "policy_episode": episode})
            self.open_episode = episode
            self.episodes_begun += 1
        lost: ReplayStoreError | None = None
        try:
            i = self.store.add_step(**step)
        except ReplayStoreError as e:
            lost = e
        if episode_end:  # close it with its label even when its last step was lost
            self._label = success
            self.store.end_episode(success=success)
            self.open_episode = self._label = None
        if lost is not None:
            raise lost
        return i
