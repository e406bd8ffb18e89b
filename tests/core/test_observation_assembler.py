"""Observation assembler (core, ROS-free) with a fake clock: pairing by capture stamp within the
slop, a camera that stops -> no observation and a named reason, a marker that leaves the view ->
flagged (visible 0, growing age), never frozen as fresh."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from postbc_ros.core.observation_assembler import AssemblerConfig, ObservationAssembler, marker_state_names


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Marker:
    position: np.ndarray | None
    visible: bool
    age_s: float


def fk(q):
    return np.asarray(q[:3], float) * 0.1  # any tool map: the assembler only calls it


IMG = np.zeros((4, 4, 3), np.uint8)
Q = np.arange(6, dtype=float)


def make(clock, **kw) -> ObservationAssembler:
    cfg = AssemblerConfig(cameras=("scene",), markers=("object",), slop_s=0.02, max_age_s=0.2, **kw)
    return ObservationAssembler(cfg, fk, clock)


def feed(a: ObservationAssembler, t: float, marker: Marker | None = None, camera: bool = True) -> None:
    a.add_joint_state(t, Q + t, 0.5)
    if camera:
        a.add_frame("scene", t + 0.004, IMG + int(t * 100) % 200)
        a.add_markers(t + 0.004, {"object": marker or Marker(np.array([0.3, 0.0, 0.05]), True, 0.0)})


def test_inputs_are_paired_by_capture_stamp_within_the_slop():
    clock = Clock()
    a = make(clock)
    for k in range(5):  # joint_states at 100 Hz, camera at 33 Hz
        a.add_joint_state(100.0 + 0.01 * k, Q + k, 0.5)
    a.add_frame("scene", 100.031, IMG)
    a.add_markers(100.031, {"object": Marker(np.array([0.3, 0.0, 0.05]), True, 0.0)})
    clock.t = 100.05
    out = a.assemble()
    assert out is not None, a.reason
    assert out.stamp == 100.031 and out.input_stamps["joint_states"] == pytest.approx(100.03)
    state = out.observation["observation.state"]
    names = marker_state_names([f"j{i}" for i in range(6)], ["object"])
    assert state.shape == (len(names),) and state.dtype == np.float32
    assert np.allclose(state[:6], Q + 3)  # the joint sample nearest to the frame, not the newest
    tool = fk(Q + 3)
    assert np.allclose(state[names.index("marker_object_rel_x"):], np.array([0.3, 0.0, 0.05]) - tool, atol=1e-6)
    assert out.observation["observation.images.scene"] is IMG


def test_no_sample_within_the_slop_gives_no_observation():
    clock = Clock()
    a = make(clock)
    a.add_joint_state(100.0, Q, 0.0)
    a.add_frame("scene", 100.05, IMG)
    a.add_markers(100.05, {"object": Marker(np.zeros(3), True, 0.0)})
    clock.t = 100.06
    assert a.assemble() is None
    assert a.reason == "joint_states: nearest sample 0.050 s from the camera scene stamp 100.050 > slop 0.02 s"


def test_a_camera_that_stops_gives_no_observation_and_a_reason():
    clock = Clock()
    a = make(clock)
    feed(a, 100.0)
    clock.t = 100.01
    assert a.assemble() is not None
    for k in range(1, 40):  # joint_states keep coming, the camera is silent
        clock.t = 100.0 + 0.01 * k
        a.add_joint_state(clock.t, Q, 0.0)
    clock.t = 100.424
    assert a.assemble() is None
    assert a.reason == "camera scene: last frame 0.42 s old > max_age 0.2 s"
    feed(a, 100.43)  # it comes back: observations resume
    clock.t = 100.44
    assert a.assemble() is not None and a.reason == ""


def test_missing_inputs_and_never_seen_markers_are_named():
    clock = Clock()
    a = make(clock)
    assert a.assemble() is None and a.reason == "joint_states: nothing received yet"
    a.add_joint_state(100.0, Q, 0.0)
    assert a.assemble() is None and a.reason == "camera scene: nothing received yet"
    feed(a, 100.0, Marker(None, False, math.inf))
    assert a.assemble() is None and a.reason.startswith("marker object: not detected yet")


def test_a_marker_that_leaves_is_flagged_not_frozen():
    clock = Clock()
    a = make(clock)
    feed(a, 100.0, Marker(np.array([0.3, 0.1, 0.05]), True, 0.0))
    clock.t = 100.01
    first = a.assemble()
    feed(a, 100.1, Marker(np.array([0.3, 0.1, 0.05]), False, 0.1))
    clock.t = 100.11
    left = a.assemble()
    names = marker_state_names([f"j{i}" for i in range(6)], ["object"])
    vis = names.index("marker_object_visible")
    assert first.observation["observation.state"][vis] == 1.0
    assert left.observation["observation.state"][vis] == 0.0 and left.marker_ages == {"object": 0.1}
    assert left.stamp > first.stamp


def test_bad_configuration_and_inputs_are_refused():
    with pytest.raises(ValueError, match="max_age_s"):
        AssemblerConfig(max_age_s=0)
    a = make(Clock())
    with pytest.raises(ValueError, match="camera 'wrist' is not configured"):
        a.add_frame("wrist", 1.0, IMG)
    with pytest.raises(ValueError, match=r"lack \['object'\]"):
        a.add_markers(1.0, {})


def test_without_markers_the_state_is_proprioception_paired_with_the_frame():
    """No markers configured (a cell's layout proprio): the state is joints, gripper and tool point
    (`proprio_state_names`), assembled as soon as joints and a frame pair -- nothing waits for a
    marker; a joint stream that stopped still blocks."""
    from postbc_ros.core.observation_assembler import proprio_state_names

    clock = Clock(10.0)
    a = ObservationAssembler(AssemblerConfig(cameras=("scene",), slop_s=0.02, max_age_s=0.2), fk, clock)
    a.add_joint_state(10.0, Q, 0.5)
    a.add_frame("scene", 10.01, IMG)
    got = a.assemble()
    assert got is not None, a.reason
    np.testing.assert_array_equal(got.observation["observation.state"],
                                  np.concatenate([Q, [0.5], fk(Q)]).astype(np.float32))
    assert proprio_state_names([f"j{i}" for i in range(6)]) == [f"q_j{i}" for i in range(6)] + [
        "gripper", "ee_x", "ee_y", "ee_z"]
    with pytest.raises(ValueError, match="no markers configured"):
        a.add_markers(10.01, {})
    clock.t = 10.3
    a.add_frame("scene", 10.3, IMG)  # frames keep coming, joint_states stopped at 10.0
    assert a.assemble() is None and a.reason == "joint_states: last sample 0.30 s old > max_age 0.2 s"
