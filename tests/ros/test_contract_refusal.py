"""A WidowX checkpoint does not drive the UR5e: `postbc launch finetune` refuses it before any
node starts, and the policy node refuses it on its own (it may be started by other launchers),
each naming the robot mismatch. The contract itself: tests/core/test_observation_contract.py."""
from __future__ import annotations

import os

import pytest

from postbc_ros.cli.main import main


def test_postbc_launch_finetune_refuses_a_checkpoint_of_another_robot(tiny_checkpoint, tmp_path, capsys):
    rc = main(["launch", "finetune", f"checkpoint:={tiny_checkpoint / 'policy'}", "robot:=ur5e",
               f"output_dir:={tmp_path / 'run'}"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "trained on robot widowx, this cell runs ur5e" in out and "postbc pretrain" in out
    assert not (tmp_path / "run" / "launch").exists()  # nothing was started


def test_launch_accepts_the_matching_robot(tiny_checkpoint, tmp_path, capsys):
    rc = main(["launch", "--print", "finetune", f"checkpoint:={tiny_checkpoint / 'policy'}", "robot:=widowx",
               f"output_dir:={tmp_path / 'run'}"])
    assert rc == 0, capsys.readouterr().out


def test_the_policy_node_refuses_a_checkpoint_of_another_robot(tiny_checkpoint):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from postbc_ros.core.observation_contract import ContractMismatch
    from postbc_ros.nodes.policy_node import PolicyNode
    from postbc_ros.ros.probe import unique_domain

    ctx = Context()
    rclpy.init(context=ctx, domain_id=unique_domain())
    try:
        with pytest.raises(ContractMismatch, match="trained on robot widowx, this cell runs ur5e"):
            PolicyNode(context=ctx, parameter_overrides=[
                Parameter("checkpoint", value=str(tiny_checkpoint / "policy")), Parameter("robot", value="ur5e"),
                Parameter("mode", value="pretrained")])
    finally:
        rclpy.try_shutdown(context=ctx)


def test_a_real_cell_refuses_a_checkpoint_trained_on_privileged_twin_state(tiny_privileged_checkpoint, tmp_path,
                                                                           capsys):
    """A real cell observes joints + markers (observation_node): a checkpoint trained on the twin's
    privileged state cannot drive it, and the launcher says which feature differs. The twin's
    graphs observe markers too unless told observation:=privileged, which the launcher suggests."""
    ck = f"checkpoint:={tiny_privileged_checkpoint / 'policy'}"
    rc = main(["launch", "--print", "finetune", ck, "robot:=widowx", "sim:=false", f"output_dir:={tmp_path / 'run'}"])
    out = capsys.readouterr().out
    assert rc == 2 and "observation.state" in out, out
    rc = main(["launch", "--print", "finetune", ck, "robot:=widowx", f"output_dir:={tmp_path / 'run'}"])
    out = capsys.readouterr().out
    assert rc == 2 and "add observation:=privileged" in out, out
    rc = main(["launch", "--print", "finetune", ck, "robot:=widowx", "observation:=privileged",
               f"output_dir:={tmp_path / 'run'}"])
    out = capsys.readouterr().out
    assert rc == 0 and '"observation": "privileged"' in out, out[-3000:]


def test_the_twin_graph_observes_markers_by_default(tiny_checkpoint, tmp_path, capsys):
    from postbc_ros.graph import build_graph

    g = build_graph("finetune", {"checkpoint": str(tiny_checkpoint / "policy")})
    assert g.node("/robot1/sim").parameters["observation"] == "markers"
    assert g.node("/robot1/policy").parameters["observation"] == "markers"
    collect = build_graph("collect", {"device": "scripted"})
    teleop = collect.node("/robot1/teleop").parameters
    assert teleop["observation"] == "markers" and teleop["scene_topic"] == "operator/scene"
    priv = build_graph("collect", {"device": "scripted", "observation": "privileged"}).node("/robot1/teleop")
    assert priv.parameters["observation"] == "twin" and "scene_topic" not in priv.parameters
    assert main(["launch", "--print", "finetune", f"checkpoint:={tiny_checkpoint / 'policy'}",
                 f"output_dir:={tmp_path / 'run'}"]) == 0


def test_the_real_cell_graph_has_an_observation_node_on_the_arms_rig():
    from postbc_ros.graph import build_graph
    from postbc_ros.robots import get_robot

    for graph in ("collect", "finetune"):
        spec = build_graph(graph, {"sim": "false", "robot": "widowx", "task": "pick_place"})
        (obs,) = [n for n in spec.nodes if n.executable == "observation_node"]
        assert obs.parameters["rig"] == get_robot("widowx").rig and obs.parameters["task"] == "pick_place"
    assert not [n for n in build_graph("collect", {}).nodes if n.executable == "observation_node"]  # the twin's own


def test_a_proprio_cell_takes_an_image_checkpoint_and_refuses_a_markers_one(tiny_image_checkpoint, tiny_checkpoint,
                                                                           tmp_path, capsys):
    """observation:=proprio on a real cell is the twin's image mode: a checkpoint trained on
    proprioception + scene images passes the launcher's check; one trained on marker poses is
    refused naming the state, and the image checkpoint is refused on a markers cell."""
    image_ck = f"checkpoint:={tiny_image_checkpoint / 'policy'}"
    base = ["launch", "--print", "finetune", "robot:=widowx", "sim:=false", f"output_dir:={tmp_path / 'run'}"]
    assert main([*base, image_ck, "observation:=proprio"]) == 0, capsys.readouterr().out[-3000:]
    assert '"layout": "proprio"' in capsys.readouterr().out
    assert main([*base, f"checkpoint:={tiny_checkpoint / 'policy'}", "observation:=proprio"]) == 2
    out = capsys.readouterr().out
    assert "observation.state" in out, out
    assert main([*base, image_ck]) == 2
    out = capsys.readouterr().out
    assert "observation.state" in out, out
