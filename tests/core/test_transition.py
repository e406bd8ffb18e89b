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


def _nan_header_record(tr: Transition, **scalars) -> bytes:
    """A wire record whose JSON header holds NaN / Infinity (Python's json writes and reads them;
    `wire.pack` refuses to, so a faulty or foreign publisher is the only source)."""
    import json

    from safetensors.numpy import save

    head = json.dumps({**tr.scalars(), **scalars, "kind": "transition"}).encode()
    body = save({k: np.ascontiguousarray(v) for k, v in tr.arrays().items()})
    return wire._PREFIX.pack(wire.MAGIC, wire.FORMAT_VERSION, len(head)) + head + body


@pytest.mark.parametrize("scalars, field", [({"reward": float("nan")}, "'reward'"),
                                            ({"discount": float("inf")}, "'discount'"),
                                            ({"t_obs": float("-inf")}, "'t_obs'")])
def test_a_non_finite_number_is_refused_naming_the_field(scalars, field):
    with pytest.raises(TransitionError, match=field) as e:
        Transition.from_wire(_nan_header_record(make(), **scalars))
    assert e.value.reason == "non_finite"


@pytest.mark.parametrize("key", ["action", "noise", "obs/state", "next_obs/state"])
def test_a_non_finite_array_is_refused_naming_the_array_and_index(key):
    tr = make()
    arrays = tr.arrays()
    arrays[key] = arrays[key].astype(np.float32)
    arrays[key].reshape(-1)[3] = np.nan
    with pytest.raises(TransitionError, match=f"array '{key}' holds 1 non-finite value") as e:
        Transition.from_wire(wire.pack_transition(tr.scalars(), arrays))
    assert e.value.reason == "non_finite"
    with pytest.raises(TransitionError):  # nor can one be built
        make(action=np.full((4, 2), np.inf))


def test_the_reason_of_each_refusal():
    tr = make()
    no_reward = {k: v for k, v in tr.scalars().items() if k != "reward"}
    cases = [(wire.pack_transition(no_reward, tr.arrays()), "missing_field"),
             (wire.pack_transition({**tr.scalars(), "extra": 1}, tr.arrays()), "unknown_field"),
             (wire.pack_transition({**tr.scalars(), "reward": "1"}, tr.arrays()), "wrong_type"),
             (wire.pack_transition({**tr.scalars(), "steps": 3}, tr.arrays()), "wrong_shape"),
             (wire.pack_transition(tr.scalars(), {**tr.arrays(), "next_obs/state": np.zeros(5, np.float32)}),
              "wrong_shape")]
    for record, reason in cases:
        with pytest.raises(TransitionError) as e:
            Transition.from_wire(record)
        assert e.value.reason == reason, (reason, e.value)


def test_a_non_finite_step_of_an_older_store_is_skipped_when_replayed(tmp_path: Path):
    """A store written before decoding checked values may hold a NaN step: reading it back raises
    a named TransitionError (the replay node skips and counts it), the steps around it decode."""
    store = ReplayStore(tmp_path / "robot1", mode="a")
    store.begin_episode("online", {"robot": "robot1", "policy_episode": 0})
    good = make(episode_end=False, success=None)
    store.add_step(**good.to_store_step())
    bad = good.to_store_step()
    bad["action"] = np.full((4, 2), np.nan, np.float32)  # as an older node wrote it
    store.add_step(**bad)
    store.add_step(**good.to_store_step())
    store.end_episode(success=True)
    (info,) = store.episodes()
    assert Transition.from_store_step(*store.read_step(info.episode, 0)).steps == 4
    with pytest.raises(TransitionError, match="replay store step: array 'action'") as e:
        Transition.from_store_step(*store.read_step(info.episode, 1))
    assert e.value.reason == "non_finite"
    assert Transition.from_store_step(*store.read_step(info.episode, 2)).steps == 4
    store.close()
