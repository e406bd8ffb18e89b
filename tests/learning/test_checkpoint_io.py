"""Checkpoints: round trip, and clear errors for corrupt / truncated / mismatched files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from postbc_ros.learning import CheckpointError, TrainConfig, load_checkpoint, load_policy, pretrain, save_checkpoint
from postbc_ros.learning.policy_io import load_ensemble, save_pretrain_result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from learning_helpers import random_episodes
    from postbc_ros.learning.training_data import windows_from_episodes

    data = windows_from_episodes(random_episodes(4, 15), obs_history=2, horizon=4)
    res = pretrain(data, TrainConfig(method="postbc", epochs=3, ensemble_epochs=3, ensemble_size=4,
                                     hidden=[32, 32], horizon=4, n_action_steps=2, obs_history=2, seed=0,
                                     device="cpu"), progress=False)
    out = tmp_path_factory.mktemp("ckpt") / "policy"
    save_pretrain_result(out, res)
    return res, out


def test_policy_round_trip(trained):
    res, out = trained
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["kind"] == "diffusion_policy" and cfg["method"] == "postbc"
    assert cfg["train"]["ensemble_size"] == 4 and cfg["action_dim"] == 3 and cfg["obs_keys"] == ["state"]
    assert len(cfg["normalization"]["action"]["lo"]) == 3
    p = load_policy(out, device="cpu")
    obs = {"state": torch.randn(2, 2, 5)}
    noise = torch.randn(2, 4, 3)
    torch.testing.assert_close(p.sample(obs, noise), res.ema.model.sample(obs, noise), rtol=0, atol=0)
    raw = load_policy(out, device="cpu", use_ema=False)
    torch.testing.assert_close(raw.sample(obs, noise), res.policy.sample(obs, noise), rtol=0, atol=0)
    ens, ecfg = load_ensemble(out / "ensemble")
    assert ens.k == 4 and ecfg["bootstrap"] == "trajectory"
    assert not any(p.suffix in (".pt", ".pkl", ".pth") for p in out.rglob("*"))


def test_generic_checkpoint_round_trip(tmp_path):
    t = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(1, dtype=torch.int64)}
    save_checkpoint(tmp_path / "x", t, {"lr": 0.1}, kind="dsrl_agent")
    got, cfg = load_checkpoint(tmp_path / "x", "dsrl_agent")
    assert cfg["lr"] == 0.1 and cfg["kind"] == "dsrl_agent"
    torch.testing.assert_close(got["a"], t["a"])
    with pytest.raises(CheckpointError, match="kind"):
        load_checkpoint(tmp_path / "x", "diffusion_policy")


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_truncated_and_corrupt_weights(trained, tmp_path):
    _, out = trained
    d = _copy(out, tmp_path / "trunc")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*(corrupt|truncated)"):
        load_policy(d)
    d = _copy(out, tmp_path / "garbage")
    (d / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_policy(d)
    d = _copy(out, tmp_path / "missing")
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_policy(d)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "nowhere")


def test_mismatched_or_bad_config(trained, tmp_path):
    _, out = trained

    def edited(name, fn):
        d = _copy(out, tmp_path / name)
        cfg = json.loads((d / "config.json").read_text())
        fn(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
        return d

    d = edited("ver", lambda c: c.update(format_version=99))
    with pytest.raises(CheckpointError, match="format_version"):
        load_policy(d)
    d = edited("dim", lambda c: c["policy"].update(action_dim=7))
    with pytest.raises(CheckpointError, match="action_dim"):
        load_policy(d)
    d = edited("hidden", lambda c: (c["policy"].update(hidden=[64, 64])))
    with pytest.raises(CheckpointError, match="shape"):
        load_policy(d)
    d = edited("horizon", lambda c: c["policy"].update(n_action_steps=9))
    with pytest.raises(CheckpointError, match="n_action_steps"):
        load_policy(d)
    d = edited("method", lambda c: c.update(method="dagger"))
    with pytest.raises(CheckpointError, match="method"):
        load_policy(d)
    d = _copy(out, tmp_path / "json")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json.*JSON"):
        load_policy(d)


def test_saved_ensemble_can_be_reused_for_an_alpha_sweep(trained):
    from learning_helpers import random_episodes
    from postbc_ros.learning.training_data import windows_from_episodes

    res, out = trained
    ens, _ = load_ensemble(out / "ensemble")
    cfg = TrainConfig(method="postbc", alpha=0.5, epochs=1, hidden=[32, 32], horizon=4, n_action_steps=2,
                      obs_history=2, seed=0, device="cpu")
    again = pretrain(res.data, cfg, progress=False, ensemble=ens)
    assert again.info["ensemble_reused"] and again.ensemble is ens
    np.testing.assert_allclose(again.cov_trace, res.cov_trace, rtol=1e-4, atol=1e-7)
    other = windows_from_episodes(random_episodes(2, 6, action_dim=2), obs_history=2, horizon=4)
    with pytest.raises(ValueError, match="ensemble"):
        pretrain(other, cfg, progress=False, ensemble=ens)


def test_checkpoint_contract_round_trip(trained, tmp_path):
    """save_pretrain_result narrows the dataset's contract to the policy's inputs, adds its
    chunking; load_policy exposes it. Inputs the contract lacks are an error naming them."""
    import dataclasses

    from postbc_ros.core.observation_contract import ActionSpace, Chunking, FeatureSpec, ObservationContract

    res, _ = trained
    ds_contract = ObservationContract(
        "widowx", ("waist",), ActionSpace("joint", "delta", 3, ("dq1", "dq2", "gripper"), "rad/step", 0.1), 10.0,
        (FeatureSpec("observation.state", (5,), "float32", "joint_states"),
         FeatureSpec("observation.images.scene", (8, 8, 3), "image", "camera:scene")))
    data = dataclasses.replace(res.data, feature_names={"state": "observation.state"})
    save_pretrain_result(tmp_path / "c", dataclasses.replace(res, data=data), dataset_contract=ds_contract)
    got = load_policy(tmp_path / "c", device="cpu").contract
    assert got.robot_type == "widowx" and [f.name for f in got.features] == ["observation.state"]
    assert got.chunking == Chunking(horizon=4, n_action_steps=2, obs_history=2)
    assert json.loads((tmp_path / "c" / "config.json").read_text())["contract"] == got.to_json()
    with pytest.raises(CheckpointError, match="policy observation keys \\['state'\\] have no dataset feature name"):
        save_pretrain_result(tmp_path / "d", res, dataset_contract=ds_contract)
    bad = dataclasses.replace(res.data, feature_names={"state": "observation.joints"})
    with pytest.raises(CheckpointError, match="observation.joints"):
        save_pretrain_result(tmp_path / "e", dataclasses.replace(res, data=bad), dataset_contract=ds_contract)
