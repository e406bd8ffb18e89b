"""EpisodeStreamWriter: a robot's transitions, as they arrive, become the store's episodes, also
when episodes end without their last transition and when the disk is full."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from replay_full_disk_proc import run as run_full_disk

from postbc_ros.core.episode_stream import EpisodeStreamWriter
from postbc_ros.core.replay_store import ReplayStore
from postbc_ros.core.transition import Transition


def step(episode: int, t: int, episode_end: bool = False, success: bool | None = None) -> Transition:
    obs = {"state": np.full(3, t, np.float32)}
    return Transition(obs=obs, next_obs=obs, action=np.full((1, 2), t, np.float32), reward=float(t), discount=0.9,
                      done=False, steps=1, robot="r1", episode=episode, episode_end=episode_end, success=success)


def test_episodes_follow_the_stream(tmp_path: Path):
    store = ReplayStore(tmp_path / "s", mode="a")
    w = EpisodeStreamWriter(store, {"robot": "r1"})
    assert [w.write(step(7, t, episode_end=t == 2, success=True)) for t in range(3)] == [0, 1, 2]
    w.write(step(8, 0))
    w.write(step(8, 1))  # episode 8's last transition never comes (the policy restarted) ...
    w.write(step(9, 0, episode_end=True, success=False))  # ... so episode 9 closes it unlabelled
    store.close()
    r = ReplayStore(tmp_path / "s")
    got = [(e.meta, e.num_steps, e.complete, e.success) for e in r.episodes()]
    assert got == [({"robot": "r1", "policy_episode": 7}, 3, True, True),
                   ({"robot": "r1", "policy_episode": 8}, 2, True, None),
                   ({"robot": "r1", "policy_episode": 9}, 1, True, False)]
    assert w.episodes_begun == 3 and w.open_episode is None


@pytest.mark.parametrize("fsync", ["step", "batch"])
def test_a_full_disk_loses_only_what_did_not_fit(tmp_path: Path, fsync: str):
    root = tmp_path / "full"
    ev = run_full_disk(root, fsync, "stream")
    assert not ev["last step of episode 0"]["ok"] and "free space there" in ev["last step of episode 0"]["error"]
    assert ev["first step of episode 1"] == {"event": "first step of episode 1", "ok": True, "result": 0}
    assert ev["last step of episode 1"]["ok"]
    assert not ev["first step of episode 2"]["ok"]  # its begin record did not fit: tried again next time
    assert ev["second step of episode 2"] == {"event": "second step of episode 2", "ok": True, "result": 0}
    assert ev["episodes begun"]["n"] == 3
    r = ReplayStore(root)
    assert not r.recovered
    got = [(e.meta["policy_episode"], e.num_steps, e.success, e.lost_steps) for e in r.episodes()]
    # episode 0 lost its last step and its end record, and is closed with its label when the
    # next episode starts
    assert got == [(0, 2, True, 1), (1, 2, False, 0), (2, 1, True, 0)]
    assert [e.complete for e in r.episodes()] == [True, True, True]
