"""Fake and MuJoCo arm backends, and backend selection by name."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.core.safety import SafetyState, filter_command, load_safety_limits
from postbc_ros.drivers.arm import ArmError, ArmInterface, make_arm
from postbc_ros.robots import get_robot_spec


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_unknown_backend_and_generic_params_ignored():
    with pytest.raises(ValueError, match="unknown arm backend 'kuka'.*fake"):
        make_arm("kuka", "ur5e")
    arm = make_arm("fake", "ur5e", host="ignored", port="", baudrate=57600, control_dt=0.01)
    assert isinstance(arm, ArmInterface) and arm.joint_names == get_robot_spec("ur5e").joint_names


def test_fake_first_order_and_velocity_limited():
    clk = Clock()
    spec = get_robot_spec("widowx")
    arm = make_arm("fake", "widowx", tau=0.1, clock=clk)
    with pytest.raises(ArmError, match="not connected"):
        arm.command(spec.home)
    arm.connect()
    target = spec.home + 0.05
    arm.command(target, 1.0)
    clk.t = 0.1  # one time constant: 1 - e^-1 of the way
    st = arm.read_state()
    np.testing.assert_allclose(st.q - spec.home, 0.05 * (1 - np.exp(-1)), rtol=1e-9)
    assert st.gripper == pytest.approx(1 - np.exp(-1))
    arm.command(spec.home + 3.0)
    clk.t = 0.2
    moved = arm.read_state().q - (spec.home + 0.05 * (1 - np.exp(-1)))
    assert np.all(moved <= spec.velocity_limits * 0.1 + 1e-12)
    arm.hold()
    q_hold = arm.read_state().q
    clk.t = 1.0
    np.testing.assert_allclose(arm.read_state().q, q_hold)
    with pytest.raises(ArmError, match="6 joint positions"):
        arm.command([0.0] * 5)


def test_mujoco_twin_follows_safety_filtered_commands():
    spec = get_robot_spec("widowx")
    arm = make_arm("mujoco", "widowx", realtime=False)
    limits = load_safety_limits("widowx_twin")
    with arm:
        st = arm.read_state()
        np.testing.assert_allclose(st.q, spec.home, atol=1e-3)
        target = spec.home.copy()
        target[0] += 0.3
        state = SafetyState(q=st.q, dq=st.dq)
        dt = arm.twin.control_dt
        for _ in range(150):
            res = filter_command(np.append(target, 1.0), state, limits, dt)
            assert not res.held
            arm.command(res.q(6), res.gripper(6))
            st = arm.read_state()
            state = state.after(res, st.q, st.dq)
        assert abs(st.q[0] - target[0]) < 0.02
        assert st.gripper > 0.5
        arm.hold()
        q0 = arm.read_state().q
        for _ in range(20):
            arm.twin.step()
        np.testing.assert_allclose(arm.read_state().q, q0, atol=5e-3)


def test_mujoco_realtime_catches_up_with_the_clock():
    clk = Clock()
    arm = make_arm("mujoco", "ur5e", realtime=True, clock=clk, max_catchup=0.5)
    with arm:
        t0 = arm.twin.time
        clk.t += 0.1
        arm.read_state()
        assert arm.twin.time - t0 == pytest.approx(0.1, abs=arm.twin.control_dt)
        clk.t += 60.0  # a paused process must not fast-forward a minute of physics
        arm.read_state()
        assert arm.twin.time - t0 < 0.1 + 0.5 + 2 * arm.twin.control_dt
