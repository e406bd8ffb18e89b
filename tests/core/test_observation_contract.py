"""ObservationContract: JSON round trip, the comparison rules, the messages (field, both values,
fix), and contracts derived from old datasets / checkpoints."""
from __future__ import annotations

import dataclasses
import json

import pytest

from postbc_ros.core.observation_contract import (
    CONTROL_RATE_MAX_RTOL,
    ActionSpace,
    Chunking,
    ContractError,
    ContractMismatch,
    FeatureSpec,
    ObservationContract,
    contract_from_checkpoint_config,
    contract_from_features,
    default_source,
)

WIDOWX_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
STATE_NAMES = tuple(f"q_{j}" for j in WIDOWX_JOINTS) + ("gripper", "ee_x", "ee_y", "ee_z", "goal_x", "goal_y",
                                                        "goal_z")


def _contract(**kw) -> ObservationContract:
    base = dict(
        robot_type="widowx",
        joint_names=WIDOWX_JOINTS,
        action=ActionSpace("end_effector", "delta", 4, ("dx", "dy", "dz", "gripper"), "m/step", 0.02),
        control_rate_hz=10.0,
        features=(FeatureSpec("observation.state", (13,), "float32", "twin_state:privileged", STATE_NAMES),
                  FeatureSpec("observation.images.scene", (96, 96, 3), "image", "camera:scene"),
                  FeatureSpec("observation.markers", (8,), "float32", "markers:ids=[3,7]")),
        chunking=Chunking(16, 8, 2),
    )
    base.update(kw)
    return ObservationContract(**base)


def test_json_round_trip_is_exact():
    c = _contract()
    text = json.dumps(c.to_json())
    back = ObservationContract.from_json(json.loads(text))
    assert back == c and hash(back) == hash(c)
    assert back.feature("observation.markers").source == "markers:ids=[3,7]"
    assert json.loads(text)["features"]["observation.images.scene"]["shape"] == [96, 96, 3]
    assert dataclasses.is_dataclass(c)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.robot_type = "ur5e"


def test_identical_contracts_have_nothing_to_report():
    assert _contract().check(_contract()) == []
    running = _contract(chunking=None, features=_contract().features[:2] + (
        FeatureSpec("observation.images.wrist", (96, 96, 3), "image", "camera:wrist"),
        _contract().features[2]))
    assert running.check(running) == []
    assert _contract().check(running) == []  # an extra input of the cell is fine; chunking unset in the cell


def _only(mismatches, field):
    found = [m for m in mismatches if m.field == field]
    assert found, f"no mismatch on {field}: {[str(m) for m in mismatches]}"
    return found[0]


def test_robot_type_mismatch_names_both_robots_and_the_fix():
    ur = _contract(robot_type="ur5e")
    with pytest.raises(ContractMismatch) as e:
        _contract().require(ur, "checkpoint", "ck/widowx")
    msg = str(e.value)
    assert "robot_type" in msg and "trained on robot widowx, this cell runs ur5e" in msg
    assert "use a ur5e checkpoint, or retrain with `postbc pretrain --dataset <ur5e dataset>`" in msg
    assert "ck/widowx" in msg
    assert [m.field for m in e.value.mismatches] == ["robot_type"]


def test_joint_names_mismatch():
    m = _only(_contract().check(_contract(joint_names=WIDOWX_JOINTS[::-1])), "joint_names")
    assert m.fatal and "waist" in m.message and "wrist_rotate" in m.message and "joint names" in m.message


def test_feature_shape_source_and_missing_feature():
    feats = list(_contract().features)
    feats[1] = FeatureSpec("observation.images.scene", (64, 64, 3), "image", "camera:scene")
    feats[2] = FeatureSpec("observation.markers", (8,), "float32", "markers:ids=[3,9]")
    found = _contract().check(_contract(features=tuple(feats)))
    shape = _only(found, "features['observation.images.scene'].shape")
    assert shape.fatal and "[96, 96, 3]" in shape.message and "[64, 64, 3]" in shape.message
    src = _only(found, "features['observation.markers'].source")
    assert "markers:ids=[3,7]" in src.message and "markers:ids=[3,9]" in src.message
    missing = _only(_contract().check(_contract(features=tuple(feats[:1]))), "features['observation.markers']")
    assert "does not provide" in missing.message and "markers:ids=[3,7]" in missing.message


def test_state_entries_in_another_order_are_refused():
    names = list(STATE_NAMES)
    names[10], names[11] = names[11], names[10]
    feats = (FeatureSpec("observation.state", (13,), "float32", "twin_state:privileged", tuple(names)),)
    m = _only(_contract().check(_contract(features=feats + _contract().features[1:])),
              "features['observation.state'].names")
    assert m.fatal and "goal_x" in m.message


def test_action_space_mismatch_names_kind_mode_and_control():
    joint = ActionSpace("joint", "delta", 7, tuple(f"dq{i}" for i in range(1, 7)) + ("gripper",), "rad/step", 0.05)
    found = _contract().check(_contract(action=joint))
    kind = _only(found, "action.kind")
    assert kind.fatal and "'end_effector' vs 'joint'" in kind.message and "control:=ee_delta" in kind.message
    assert _only(found, "action.dim").message.startswith("4 vs 7")
    scale = _only(_contract().check(_contract(action=dataclasses.replace(_contract().action, scale=0.03))),
                  "action.scale")
    assert "0.02 vs 0.03 m/step" in scale.message
    absolute = dataclasses.replace(_contract().action, mode="absolute")
    assert "'delta' vs 'absolute'" in _only(_contract().check(_contract(action=absolute)), "action.mode").message


def test_control_rate_warns_within_tolerance_and_refuses_beyond():
    near = _contract(control_rate_hz=10.0 * (1 + CONTROL_RATE_MAX_RTOL / 2))
    warn = _contract().require(near)
    assert [(m.field, m.fatal) for m in warn] == [("control_rate_hz", False)]
    assert "10 Hz" in warn[0].message and "within" in warn[0].message
    with pytest.raises(ContractMismatch, match="control_rate_hz: .*recorded at 10 Hz, this cell runs at 30 Hz"):
        _contract().require(_contract(control_rate_hz=30.0))
    assert _contract().check(_contract(control_rate_hz=10.000001)) == []


def test_unknown_fields_are_warnings_that_say_why():
    old = _contract(robot_type=None, joint_names=None, derived_from="ck/config.json without a 'contract'")
    found = old.require(_contract(robot_type="ur5e"))
    assert {m.field for m in found} >= {"robot_type", "joint_names"} and not any(m.fatal for m in found)
    assert "not checked" in str(found[0]) and "derived from ck/config.json" in str(found[0])


def test_chunking_compared_only_when_both_state_it():
    m = _only(_contract().check(_contract(chunking=Chunking(8, 4, 1))), "chunking")
    assert m.fatal and "horizon" in m.message


def test_malformed_json_names_the_field():
    bad = _contract().to_json()
    bad["action"]["kind"] = "cartesian"
    with pytest.raises(ContractError, match="info.json.*action.kind is 'cartesian'"):
        ObservationContract.from_json(bad, "meta/info.json")
    bad = _contract().to_json()
    del bad["features"]
    with pytest.raises(ContractError, match="malformed observation contract"):
        ObservationContract.from_json(bad)
    with pytest.raises(ContractError, match="version"):
        ObservationContract.from_json({**_contract().to_json(), "version": 99})


def test_contract_from_features_follows_the_naming_convention():
    feats = {
        "observation.state": {"dtype": "float32", "shape": [13], "names": list(STATE_NAMES)},
        "observation.images.scene": {"dtype": "image", "shape": [96, 96, 3], "names": ["height", "width", "channel"]},
        "action": {"dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "gripper"]},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
    }
    c = contract_from_features("widowx", feats, 10)
    assert c.robot_type == "widowx" and c.joint_names == WIDOWX_JOINTS
    assert c.action == ActionSpace("end_effector", "delta", 4, ("dx", "dy", "dz", "gripper"), "m/step", 0.02)
    assert c.feature("observation.state").source == "twin_state:privileged"
    assert c.feature("observation.images.scene").source == "camera:scene"
    assert c.feature("observation.images.scene").names is None
    assert "next.success" not in c.feature_map
    assert default_source("observation.state", STATE_NAMES[:10]) == "proprio:joints,gripper,ee_xyz"
    assert default_source("observation.joints", None) == "joint_states"
    unknown = contract_from_features("so100", feats, 30)
    assert unknown.joint_names is None and unknown.action.scale is None


def test_contract_derived_from_an_old_checkpoint_config():
    cfg = {"policy": {"obs_shapes": {"state": [13], "scene": [96, 96, 3]}, "action_dim": 4, "horizon": 16,
                      "n_action_steps": 8, "obs_history": 2},
           "obs_shapes": {"state": [13], "scene": [96, 96, 3]}, "action_dim": 4,
           "dataset": {"fps": 10, "feature_names": {"state": "observation.state",
                                                    "scene": "observation.images.scene"},
                       "features": {"action": {"dtype": "float32", "shape": [4],
                                               "names": ["dx", "dy", "dz", "gripper"]}}}}
    c = contract_from_checkpoint_config(cfg, "ck/config.json")
    assert c.robot_type is None and "ck/config.json without a 'contract'" in c.derived_from
    assert c.chunking == Chunking(16, 8, 2) and c.control_rate_hz == 10.0
    assert c.feature("observation.images.scene").source == "camera:scene"
    assert c.action.kind == "end_effector"
    stored = contract_from_checkpoint_config({**cfg, "contract": _contract().to_json()})
    assert stored == _contract()


def test_a_state_of_proprioception_and_marker_poses_names_its_markers():
    from postbc_ros.core.observation_assembler import marker_state_names
    from postbc_ros.core.observation_contract import SOURCE_PRIVILEGED, SOURCE_PROPRIO, default_source

    names = marker_state_names(["waist", "shoulder"], ["object", "goal_pad"])
    assert default_source("observation.state", names) == "proprio+markers:object,goal_pad"
    assert default_source("observation.state", names[:6]) == SOURCE_PROPRIO  # q_ x2, gripper, ee_x/y/z
    assert default_source("observation.state", names + ["object_x"]) == SOURCE_PRIVILEGED
