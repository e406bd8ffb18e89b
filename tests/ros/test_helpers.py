"""ROS-free helpers of the nodes: wire records, trajectory following, chunk transitions, action
conversion, acting-weights export, message conversions."""
from __future__ import annotations

import json

import numpy as np
import pytest

from postbc_ros.core import wire
from postbc_ros.core.chunk_transitions import ChunkRecorder
from postbc_ros.core.transition import Transition
from postbc_ros.core.trajectory_follower import TrajectoryFollower


def test_wire_transition_roundtrip_and_errors():
    arrays = {"obs/state": np.arange(6, dtype=np.float32).reshape(2, 3), "action": np.ones((4, 4), np.float32)}
    data = wire.pack_transition({"reward": 1.0, "robot": "r1"}, arrays)
    head, got = wire.unpack_transition(data)
    assert head == {"kind": "transition", "reward": 1.0, "robot": "r1"}
    assert all(np.array_equal(got[k], arrays[k]) for k in arrays)
    with pytest.raises(wire.WireError, match="magic"):
        wire.unpack(b"XXXX" + data[4:])
    with pytest.raises(wire.WireError, match="version"):
        wire.unpack(data[:4] + (99).to_bytes(2, "little") + data[6:])
    with pytest.raises(wire.WireError, match="truncated"):
        wire.unpack(data[:12])
    with pytest.raises(wire.WireError, match="expected 'weights'"):
        wire.unpack(data, "weights")
    with pytest.raises(ValueError):  # NaN is not JSON: headers are strict
        wire.pack("transition", {"reward": float("nan")})


def test_wire_bundle_only_safetensors_and_json(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text(json.dumps({"x": 1}))
    (src / "sub" / "w.safetensors").write_bytes(b"\x00" * 64)
    data = wire.pack_bundle(src, {"version": 3})
    head = wire.unpack_bundle(data, tmp_path / "dst")
    assert head["version"] == 3 and (tmp_path / "dst" / "sub" / "w.safetensors").read_bytes() == b"\x00" * 64
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    with pytest.raises(wire.WireError, match="sha256"):
        wire.unpack_bundle(bytes(corrupt), tmp_path / "dst2")
    (src / "evil.pkl").write_bytes(b"pickle")
    with pytest.raises(wire.WireError, match="never pickle"):
        wire.pack_bundle(src, {})


def test_trajectory_follower_interpolates_and_drops_past_points():
    f = TrajectoryFollower(2)
    dropped = f.replace(np.array([0.5, 1.0, 2.0]), np.array([[9, 9], [1, 1], [3, 3]]), now=0.8,
                        current=np.array([0.0, 0.0]))
    assert dropped == 1  # the point at 0.5 was already past
    assert np.allclose(f.sample(0.9), [0.5, 0.5]) and np.allclose(f.sample(1.5), [2, 2])
    assert np.allclose(f.sample(5.0), [3, 3]) and f.finished(5.0)
    assert f.replace(np.array([0.1]), np.array([[1, 1]]), now=1.0, current=np.zeros(2)) == 1 and not f.active


def test_chunk_recorder_rewards_success_inside_the_chunk():
    rec = ChunkRecorder(gamma=0.9)
    rec.start_episode()
    o = {"state": np.zeros((1, 3), np.float32)}
    assert rec.decided(o, np.zeros((4, 4)), np.zeros((4, 4)), np.array([1.1, 1.2, 1.3, 1.4]), 0.1, {"episode": 0}) is None
    rec.success_at(1.25)  # detected during the third step
    tr = rec.end_episode(o, success=True)
    assert tr.done and tr.reward == pytest.approx(0.9 ** 2) and tr.discount == pytest.approx(0.9 ** 4)
    assert tr.episode_end and tr.success and tr.episode == 0
    back = Transition.from_wire(tr.to_wire())
    assert back.reward == tr.reward and np.array_equal(back.obs["state"], o["state"])
    # no success: not terminal (time limit = truncation, the learner bootstraps)
    rec.start_episode()
    rec.decided(o, None, np.zeros((2, 4)), np.array([1.0, 1.1]), 0.1, {"intervention": True})
    tr = rec.end_episode(o, success=False)
    assert not tr.done and tr.reward == 0.0 and tr.noise is None and tr.intervention


def test_chunk_recorder_ignores_a_chunk_with_no_executed_step():
    """A chunk published too late (every step already past) was never executed: no transition, and
    the previous chunk's transition gets the next executed chunk's observation."""
    rec = ChunkRecorder(gamma=0.9)
    rec.start_episode()
    o1, o2, o3 = ({"state": np.full((1, 3), v, np.float32)} for v in (1, 2, 3))
    rec.decided(o1, np.zeros((4, 4)), np.zeros((4, 4)), np.arange(4) * 0.1, 0.1, {})
    assert rec.decided(o2, np.zeros((4, 4)), np.zeros((0, 4)), np.zeros(0), 0.1, {}) is None
    tr = rec.decided(o3, np.zeros((4, 4)), np.zeros((4, 4)), np.arange(4) * 0.1, 0.1, {})
    assert tr.steps == 4 and tr.next_obs is o3


def test_action_adapter_matches_the_env():
    """Executing the converted joint targets reproduces env.step's own setpoints."""
    from postbc_ros.sim.action_adapter import ActionAdapter
    from postbc_ros.sim import make_env

    env = make_env("widowx", "reach", seed=3)
    env.reset(seed=3)
    u = env.unwrapped
    ad = ActionAdapter("widowx", "reach")
    ad.reset(u.twin.joint_positions())
    acts = np.array([[0.5, -0.3, 0.2, 1.0]], np.float32)
    target = ad.targets(acts, u.twin.joint_positions())
    env.step(acts[0])
    assert np.allclose(target[0, :6], u.commanded_joints, atol=1e-6) and target[0, 6] == 1.0


def test_arm_controller_only_sends_filtered_setpoints_and_trips_the_watchdog():
    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.core.arm_controller import ArmController

    lim = load_safety_limits("widowx_twin")
    clock = {"t": 100.0}
    ctl = ArmController(lim, "gripper", period=0.05, watchdog_timeout=0.3, clock=lambda: clock["t"])
    names = list(lim.joint_names) + ["gripper"]
    q = np.zeros(6)
    assert ctl.step(100.0, q, None, 0.0).command is None  # not active yet: nothing moves
    ctl.activate(True)
    bad = np.zeros(7); bad[3] = np.nan
    d = ctl.trajectory(100.0, names, [np.zeros(7), bad], np.array([100.1, 100.2]), 100.0, q, None, 0.0)
    assert d is not None and d.command is None and {i.kind for i in d.interventions} == {"non_finite"}
    assert ctl.trajectory(100.0, names[:3], [np.zeros(3)], np.array([100.1]), 100.0, q, None, 0.0).interventions[0].kind \
        == "invalid_shape"
    far = np.zeros(7); far[0] = 50.0; far[6] = 3.0
    assert ctl.trajectory(100.0, names, [far], np.array([100.2]), 100.0, q, None, 0.0) is None
    sent = []
    for k in range(6):
        clock["t"] = 100.0 + 0.05 * k
        d = ctl.step(clock["t"], q, None, 0.0)
        assert d.command is not None
        sent.append(d.command)
        q = d.command[:6]  # perfect tracking
    steps = np.abs(np.diff(np.array(sent)[:, :6], axis=0))
    assert np.all(steps <= lim.step_bound(0.05) + 1e-9) and all(c[6] <= 1.0 for c in sent)
    clock["t"] = 100.0 + 0.31 + 0.05  # no fresh command for longer than the timeout
    d = ctl.step(clock["t"], q, None, 0.0)
    assert d.hold and d.command is None and d.interventions[0].kind == "watchdog"
    assert ctl.step(clock["t"] + 0.05, q, None, 0.0).command is None
    assert ctl.counts["watchdog"] == 1 and ctl.counts["non_finite"] == 1


def test_node_policy_parameter_errors_name_the_fix(tmp_path):
    import pytest

    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.rl.registry import load_node_policy

    with pytest.raises(ValueError, match="checkpoint:="):
        load_node_policy("", "auto")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_node_policy(str(tmp_path / "nope"), "cpu")
