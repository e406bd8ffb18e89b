"""A checkpoint carries its dataset's observation contract, and `postbc eval` / check_checkpoint_for
refuse it on another cell: a WidowX checkpoint on the UR5e twin (both 16-D state, 4-D action on
reach, so only the contract tells them apart). An old checkpoint without a contract still runs,
with a warning that its contract was derived."""
from __future__ import annotations

import argparse
import json
import shutil

import pytest

from postbc_ros.core.observation_contract import ContractMismatch
from postbc_ros.learning import TrainConfig, load_policy
from postbc_ros.learning.pipeline import pretrain_dataset


@pytest.fixture(scope="module")
def widowx_checkpoint(tmp_path_factory):
    from postbc_ros.cli import collect_cmd

    root = tmp_path_factory.mktemp("contract")
    parser = argparse.ArgumentParser(prog="postbc")
    collect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["collect", "--robot", "widowx", "--task", "reach", "--episodes", "2", "--scripted",
                              "--max-steps", "6", "--out", str(root / "demos"), "--no-progress", "--obs-mode", "state"])
    assert args.func(args) == 0
    pretrain_dataset(root / "demos", root / "ck", TrainConfig(method="bc", epochs=2, hidden=[16, 16], horizon=2,
                                                              n_action_steps=2, seed=0, device="cpu"),
                     progress=False)
    return root / "ck"


def _eval(argv):
    from postbc_ros.cli import eval_cmd

    p = argparse.ArgumentParser()
    eval_cmd.register(p.add_subparsers())
    args = p.parse_args(["eval", *argv, "--episodes", "1", "--max-steps", "2", "--json", "--quiet", "--device", "cpu"])
    return args.func(args)


def test_checkpoint_stores_the_datasets_contract(widowx_checkpoint):
    cfg = json.loads((widowx_checkpoint / "config.json").read_text())
    c = cfg["contract"]
    assert c["robot_type"] == "widowx" and c["chunking"] == {"horizon": 2, "n_action_steps": 2, "obs_history": 1}
    assert list(c["features"]) == ["observation.state"] and c["features"]["observation.state"]["shape"] == [16]
    policy = load_policy(widowx_checkpoint, device="cpu")
    assert policy.contract.robot_type == "widowx" and policy.contract.derived_from is None


def test_postbc_eval_refuses_a_widowx_checkpoint_on_the_ur5e(widowx_checkpoint, capsys):
    assert _eval(["--checkpoint", str(widowx_checkpoint), "--robot", "ur5e", "--task", "reach"]) == 2
    err = capsys.readouterr().err
    assert "robot_type: the checkpoint was trained on robot widowx, this cell runs ur5e" in err
    assert "use a ur5e checkpoint, or retrain with `postbc pretrain --dataset <ur5e dataset>`" in err
    assert "joint_names" in err and str(widowx_checkpoint) in err
    assert _eval(["--checkpoint", str(widowx_checkpoint), "--env", "postbc/UR5eReach-v0"]) == 2
    assert "trained on robot widowx" in capsys.readouterr().err
    assert _eval(["--checkpoint", str(widowx_checkpoint), "--robot", "widowx", "--task", "reach"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out.strip().splitlines()[-1])["env"] == "postbc/WidowXReach-v0"
    assert "warning" not in out.err
    # the other task's state has other entries: refused on the feature, not the robot
    assert _eval(["--checkpoint", str(widowx_checkpoint), "--robot", "widowx", "--task", "push"]) == 2
    assert "features['observation.state'].shape" in capsys.readouterr().err
    assert _eval(["--checkpoint", str(widowx_checkpoint), "--robot", "widowx"]) == 2
    assert "--robot ROBOT --task TASK" in capsys.readouterr().err


def test_check_checkpoint_for_the_twin(widowx_checkpoint):
    from postbc_ros.sim.twin_contract import check_checkpoint_for

    assert check_checkpoint_for("widowx", "reach", widowx_checkpoint) == []
    with pytest.raises(ContractMismatch) as e:
        check_checkpoint_for("ur5e", "reach", widowx_checkpoint)
    fields = [m.field for m in e.value.mismatches]
    assert fields[0] == "robot_type" and "joint_names" in fields and "action.scale" in fields
    with pytest.raises(ContractMismatch, match="action.kind"):
        check_checkpoint_for("widowx", "reach", widowx_checkpoint, control="joint_delta")


def test_evaluate_policy_refuses_too(widowx_checkpoint):
    from postbc_ros.learning.evaluate import evaluate_policy
    from postbc_ros.sim import make_env

    env = make_env("ur5e", "reach")
    try:
        with pytest.raises(ContractMismatch, match="robot_type"):
            evaluate_policy(load_policy(widowx_checkpoint, device="cpu"), env, 1, progress=False)
    finally:
        env.close()


def test_old_checkpoint_without_contract_evaluates_with_a_warning(widowx_checkpoint, tmp_path, capsys):
    old = shutil.copytree(widowx_checkpoint, tmp_path / "old")
    cfg = json.loads((old / "config.json").read_text())
    del cfg["contract"]
    (old / "config.json").write_text(json.dumps(cfg))
    contract = load_policy(old, device="cpu").contract
    assert contract.robot_type is None and "without a 'contract'" in contract.derived_from
    # the dataset features it records still name the state's entries: the WidowX joints do not fit
    assert _eval(["--checkpoint", str(old), "--robot", "ur5e", "--task", "reach"]) == 2
    assert "features['observation.state'].names" in capsys.readouterr().err
    # a checkpoint from before the contract has unnamed state entries: nothing to refuse it on
    cfg["dataset"]["features"]["observation.state"]["names"] = None
    (old / "config.json").write_text(json.dumps(cfg))
    assert _eval(["--checkpoint", str(old), "--robot", "ur5e", "--task", "reach"]) == 0
    err = capsys.readouterr().err
    assert "warning: observation contract robot_type: not checked" in err and "derived from" in err


def test_check_checkpoint_for_reads_no_weights_and_names_a_wrong_directory(widowx_checkpoint, tmp_path):
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.sim.twin_contract import check_checkpoint_for

    light = tmp_path / "config_only"
    light.mkdir()
    shutil.copy(widowx_checkpoint / "config.json", light / "config.json")
    with pytest.raises(ContractMismatch, match="robot_type"):
        check_checkpoint_for("ur5e", "reach", light)
    with pytest.raises(CheckpointError, match="does not exist"):
        check_checkpoint_for("widowx", "reach", tmp_path / "nowhere")
    cfg = json.loads((light / "config.json").read_text())
    (light / "config.json").write_text(json.dumps({**cfg, "kind": "posterior_ensemble"}))
    with pytest.raises(CheckpointError, match="'diffusion_policy' checkpoint was expected"):
        check_checkpoint_for("widowx", "reach", light)
