"""Transition: one codec for the wire record and the replay store, and decoding that names what is
wrong (a bad message is rejected, never half-read)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from postbc_ros.core import wire
from postbc_ros.core.episode_stream import EpisodeStreamWriter, RobotStreams
from postbc_ros.core.replay_store import ReplayStore
from postbc_ros.core.transition import FORWARDING, SCALARS, Transition, TransitionError


def make(noise: bool = True, **kw) -> Transition:
    obs = {"state": np.arange(6, dtype=np.float32).reshape(2, 3), "scene": np.full((2, 4, 4, 3), 7, np.uint8)}
    nxt = {"state": obs["state"] + 1, "scene": obs["scene"] + 1}
    fields = dict(obs=obs, next_obs=nxt, action=np.arange(8, dtype=np.float64).reshape(4, 2),
                  noise=np.ones((4, 2), np.float32) if noise else None, reward=np.float32(0.5), discount=0.96,
                  done=np.bool_(True), steps=4, robot="robot1", episode=3, policy_version=2, t_obs=10.5,
                  t_first=10.6, inference_s=0.02, dropped=1, mode="dsrl", episode_end=True, success=True)
    return Transition(**{**fields, **kw})


def assert_same(a: Transition, b: Transition, skip: tuple[str, ...] = ()) -> None:
    assert {k: v for k, v in a.scalars().items() if k not in skip} == \
           {k: v for k, v in b.scalars().items() if k not in skip}
    aa, ba = a.arrays(), b.arrays()
    assert sorted(aa) == sorted(ba)
    for k in aa:
        assert aa[k].dtype == ba[k].dtype and np.array_equal(aa[k], ba[k]), k


def test_every_dataclass_field_is_in_the_codec():
    import dataclasses

    arrays = {"obs", "next_obs", "action", "noise"}
    assert {f.name for f in dataclasses.fields(Transition)} == arrays | set(SCALARS)


def test_construction_gives_plain_typed_values():
    tr = make()
    assert type(tr.reward) is float and type(tr.done) is bool and tr.action.dtype == np.float32
    with pytest.raises(TransitionError, match="'steps'"):
        make(steps=4.0)
    with pytest.raises(TransitionError, match="robot id"):
        make(robot="../etc")


@pytest.mark.parametrize("noise", [True, False])
def test_wire_round_trip(noise):
    tr = make(noise=noise, seq=7, store_step=2)
    back = Transition.from_wire(tr.to_wire())
    assert_same(tr, back)
    assert (back.noise is None) == (not noise) and back.seq == 7 and back.obs["scene"].dtype == np.uint8


def test_store_round_trip_through_the_stream_writer(tmp_path: Path):
    store = ReplayStore(tmp_path / "s", mode="a")
    w = EpisodeStreamWriter(store, {"robot": "robot1"})
    trs = [make(noise=False, episode_end=False, success=None, intervention=True, seq=1), make(seq=2)]
    assert [w.write(tr) for tr in trs] == [0, 1]
    meta, arrays = store.read_step(0, 0)
    assert meta["terminated"] and meta["intervention"] and meta["stamp"] == 10.5 and "extra/next_obs/scene" in arrays
    assert not set(meta["info"]) & set(FORWARDING)  # forwarding fields are not stored
    for i, tr in enumerate(trs):
        back = Transition.from_store_step(*store.read_step(0, i))
        assert_same(tr, back, skip=FORWARDING)
        assert back.seq is None and not back.replayed
    store.close()


def test_a_step_of_an_older_store_without_the_newer_bookkeeping_decodes(tmp_path: Path):
    tr = make()
    step = tr.to_store_step()
    step["info"] = {k: step["info"][k] for k in ("discount", "steps", "robot", "episode", "t_obs")}
    store = ReplayStore(tmp_path / "s", mode="a")
    store.begin_episode("online")
    store.add_step(**step)
    back = Transition.from_store_step(*store.read_step(0, 0))
    assert back.episode == 3 and back.mode == "" and not back.episode_end and back.success is None
    store.close()


def bad_record(drop: str = "", add: dict | None = None, arrays: dict | None = None) -> bytes:
    tr = make()
    head = {k: v for k, v in tr.scalars().items() if k != drop}
    return wire.pack_transition({**head, **(add or {})}, arrays if arrays is not None else tr.arrays())


@pytest.mark.parametrize("record,message", [
    (lambda: bad_record(drop="reward"), r"missing field\(s\) \['reward'\]"),
    (lambda: bad_record(add={"rewrad": 1.0}), r"unknown field\(s\) \['rewrad'\]"),
    (lambda: bad_record(add={"done": "yes"}), "field 'done' = 'yes': expected true or false"),
    (lambda: bad_record(arrays={**make().arrays(), "action": np.zeros(8, np.float32)}), r"action shape \(8,\)"),
    (lambda: bad_record(arrays={**make().arrays(), "action": np.zeros((3, 2), np.float32)}), "steps=4"),
    (lambda: bad_record(arrays={k: v for k, v in make().arrays().items() if k != "next_obs/scene"}),
     "differ from next_obs keys"),
    (lambda: bad_record(arrays={**make().arrays(), "next_obs/state": np.zeros(3, np.float32)}),
     r"obs/state shape \(2, 3\) != next_obs/state shape \(3,\)"),
    (lambda: bad_record(arrays={**make().arrays(), "extra": np.zeros(1)}), r"unknown array\(s\) \['extra'\]"),
    (lambda: bad_record(add={"robot": "a/b"}), "robot id"),
])
def test_a_bad_record_raises_a_named_error(record, message):
    with pytest.raises(TransitionError, match=message):
        Transition.from_wire(record())


def test_robot_streams_write_per_robot_and_replay_everything(tmp_path: Path):
    warnings: list[str] = []
    streams = RobotStreams(tmp_path, "none", warn=warnings.append)
    streams.write(make(robot="a", episode_end=False))
    streams.write(make(robot="b"))
    streams.write(make(robot="a"))
    assert streams.robots == ["a", "b"] and streams.episodes_begun == 2
    streams.close()
    again = RobotStreams(tmp_path, "none", warn=warnings.append)  # a restarted node reopens the stores
    assert [(tr.robot, tr.episode_end) for tr in again.stored()] == [("a", False), ("a", True), ("b", True)]
    assert again.episodes_begun == 0 and not warnings
    again.close()
