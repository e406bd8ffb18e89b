"""Nothing non-finite crosses the learner -> policy boundary: a diverged agent's weights are not
exported, a record with NaN / misshapen tensors is refused before any tensor is copied (the
policy keeps its weights), act() never returns a non-finite chunk, and the learner refuses
NaN demonstrations at load, naming the episode and frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from postbc_ros.core import wire
from postbc_ros.core.policy_loop import NonFiniteChunkError
from postbc_ros.rl.acting_weights import WeightsError, apply_weights_record, export_acting_state
from postbc_ros.rl.learner_loop import LearnerLoop
from postbc_ros.rl.registry import make_agent

SMALL = {"batch_size": 8, "utd": 1, "hidden": 16, "layers": 1, "learning_starts": 4, "warmup_env_steps": 0}
OBS = {"state": np.zeros((2, 3), np.float32)}  # toy_policy's stacked history: obs_history 2, 3-D state


def set_value(root: Path, feature: str, row: int, entry: int, value: float) -> None:
    """Overwrite one entry of a vector feature in a dataset's data file (as a foreign tool might)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (f,) = sorted((root / "data").rglob("*.parquet"))
    table = pq.read_table(f)
    col = table.column(feature).to_pylist()
    col[row][entry] = value
    i = table.column_names.index(feature)
    table = table.set_column(i, table.schema.field(i), pa.array(col, type=table.schema.field(i).type))
    pq.write_table(table, f)


def built(policy, kind="dsrl", **cfg):
    small = SMALL if kind != "best_of_n" else {"batch_size": 8, "utd": 1, "learning_starts": 4,
                                               "iql": {"hidden": 16, "layers": 1}}
    agent = make_agent(kind, policy, {**small, **cfg}, device="cpu", seed=0)
    agent.ensure_built_from(OBS)
    return agent


def poison(agent, module="actor"):
    with torch.no_grad():
        next(agent.modules[module].parameters()).view(-1)[0] = float("nan")


def state_of(agent):
    return {f"{n}.{k}": v.clone() for n, m in agent.modules.items() for k, v in m.state_dict().items()}


def record_of(agent, tmp_path: Path, version: int = 1) -> bytes:
    d = tmp_path / f"export{version}"
    export_acting_state(agent, d, version)
    return wire.pack_bundle(d, {"version": version, "algorithm": "dsrl"})


def test_a_diverged_agent_is_not_exported(toy_policy, tmp_path):
    agent = built(toy_policy)
    poison(agent)
    with pytest.raises(WeightsError, match=r"net\.actor\..*not exported") as e:
        export_acting_state(agent, tmp_path / "w", 1)
    assert e.value.reason == "weights_non_finite" and not (tmp_path / "w").exists()


@pytest.mark.parametrize("fault", ["nan", "shape"])
def test_a_bad_weights_record_leaves_the_policys_agent_untouched(toy_policy, tmp_path, fault):
    learner = built(toy_policy, **({"hidden": 16} if fault == "nan" else {}))
    record = record_of(learner, tmp_path)
    # tamper with the record the way a diverged learner or a mismatched peer would send it
    from safetensors.torch import load_file, save_file

    unpacked = tmp_path / "unpacked"
    head = wire.unpack_bundle(record, unpacked)
    f = next(unpacked.rglob("*.safetensors"))
    tensors = load_file(f)
    key = sorted(k for k in tensors if k.startswith("net.critic."))[-1]
    tensors[key] = (tensors[key].clone().fill_(float("nan")) if fault == "nan"
                    else torch.zeros(tuple(s + 1 for s in tensors[key].shape)))
    save_file(tensors, f)
    bad = wire.pack_bundle(unpacked, {k: v for k, v in head.items() if k != "files"})
    policy_agent = built(toy_policy)
    before = state_of(policy_agent)
    with pytest.raises(WeightsError) as e:
        apply_weights_record(policy_agent, bad, tmp_path / "in", OBS, lambda *a: pytest.fail("same config"))
    assert e.value.reason == {"nan": "weights_non_finite", "shape": "weights_shape"}[fault]
    assert key in str(e.value)
    after = state_of(policy_agent)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the good record still loads
    agent, head = apply_weights_record(policy_agent, record, tmp_path / "ok", OBS, lambda *a: pytest.fail("cfg"))
    assert head["version"] == 1


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na", "best_of_n"])
def test_act_never_returns_a_non_finite_chunk(toy_policy, kind):
    agent = built(toy_policy, kind)
    chunk, w = agent.act(OBS, mode="eval")
    assert np.isfinite(chunk).all() and np.isfinite(w).all()
    with pytest.raises(NonFiniteChunkError, match=r"observation \['state'\]"):
        agent.act({"state": np.full((2, 3), np.nan, np.float32)}, mode="eval")
    if kind != "best_of_n":  # Best-of-N samples the pretrained policy: no network of its own decides w
        poison(agent)
        with pytest.raises(NonFiniteChunkError, match="noise is not finite"):
            agent.act(OBS, mode="eval")


def test_the_learner_skips_non_finite_weights_counts_them_and_keeps_learning(toy_policy, tmp_path):
    agent = built(toy_policy)
    loop = LearnerLoop(agent, "dsrl", tmp_path / "work", publish_every=1, utd=1)
    agent.grad_steps = 1
    good = loop.publish()
    assert good.version == 1
    poison(agent)
    from postbc_ros.core.transition import Transition

    end = Transition(obs=OBS, next_obs=OBS, action=np.zeros((2, 2), np.float32), reward=1.0, discount=0.98,
                     done=True, steps=2, episode=1, episode_end=True, success=True)
    out = loop.learn(end)
    assert out.weights is None and out.metrics is not None and loop.state.version == 1
    assert loop.guard.snapshot()["dropped"] == {"weights_non_finite": 1}
    # the saved agent (what a restart resumes) is the last good one
    again = make_agent("dsrl", toy_policy, SMALL, device="cpu", seed=0)
    again.load(tmp_path / "work" / "agent")
    assert all(torch.isfinite(v).all() for m in again.modules.values() for v in m.state_dict().values())


def test_the_learner_refuses_nan_demonstrations_naming_episode_and_frame(toy_policy, tmp_path):
    from postbc_ros.data import DatasetError, DatasetWriter

    feats = {"observation.state": {"dtype": "float32", "shape": [3], "names": None},
             "action": {"dtype": "float32", "shape": [2], "names": None}}
    w = DatasetWriter(tmp_path / "demos", feats, fps=10.0, robot_type="widowx")
    for ep in range(2):
        for t in range(5):
            w.add_frame({"observation.state": np.zeros(3, np.float32), "action": np.array([0.1, 0.2], np.float32)})
        w.save_episode(task="toy", success=True)
    w.close()
    set_value(tmp_path / "demos", "action", 8, 1, float("nan"))  # the writer refuses NaN: written past it
    with pytest.raises(DatasetError, match=r"episode 1 frame 3 \(dataset frame 8\): feature 'action' entry 1 is nan"):
        LearnerLoop(built(toy_policy), "dsrl", tmp_path / "work", demos=str(tmp_path / "demos"))
