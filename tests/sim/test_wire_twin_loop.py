"""The wire-level WidowX twin without ROS: goals written over the pty (the real dynamixel_sdk)
move the MuJoCo twin's joints by its physics, and the servos report what the twin measured."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("dynamixel_sdk")
pytest.importorskip("mujoco")

from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration  # noqa: E402
from postbc_ros.drivers.arm.widowx import WidowXArm  # noqa: E402
from postbc_ros.robots import get_robot, get_robot_spec  # noqa: E402
from postbc_ros.sim import make_env  # noqa: E402
from postbc_ros.sim.wire.dynamixel_bus import A_GOAL_POS, A_PRESENT_POS, A_TORQUE, HW_OVERLOAD  # noqa: E402
from postbc_ros.sim.wire.servo_bridge import servo_map  # noqa: E402
from postbc_ros.sim.wire.wire_twin_loop import BRIDGE_PERIOD_S, WireTwinLoop  # noqa: E402

ROBOT = "widowx"
WAIST_GOAL = 0.5  # rad
TOL_RAD = 0.02  # the twin's position servo settles within this
TICK = 2 * np.pi / 4096


@pytest.fixture
def loop():
    spec = get_robot_spec(ROBOT)
    joints, gripper = servo_map(load_widowx_calibration(None, spec.joint_names, get_robot(ROBOT).rig))
    lp = WireTwinLoop(make_env(ROBOT, "reach", obs_mode="state", seed=0), joints, gripper, seed=0, now=0.0)
    lp.start()
    yield lp
    lp.close()


def _raw(loop):
    from dynamixel_sdk import PacketHandler, PortHandler

    port = PortHandler(loop.port)
    assert port.openPort() and port.setBaudRate(1000000)
    return port, PacketHandler(2.0)


def _ok(result):
    assert result[-2] == 0 and result[-1] == 0, result  # COMM_SUCCESS, no servo error
    return result[0] if len(result) == 3 else None


def test_a_goal_over_the_pty_moves_the_twin_and_the_present_position_follows(loop):
    port, pkt = _raw(loop)
    waist = loop.bridge.joints[0]
    start = _ok(pkt.read4ByteTxRx(port, waist.servo_id, A_PRESENT_POS))
    assert abs(waist.angle(start) - loop.twin.joint_positions()[0]) <= TICK
    _ok(pkt.write1ByteTxRx(port, waist.servo_id, A_TORQUE, 1))
    _ok(pkt.write4ByteTxRx(port, waist.servo_id, A_GOAL_POS, int(round(waist.ticks(WAIST_GOAL)))))
    time.sleep(0.2)  # wall time alone does not move a ShaftServo: only the twin's physics does
    assert _ok(pkt.read4ByteTxRx(port, waist.servo_id, A_PRESENT_POS)) == start
    t = 0.0
    for _ in range(int(1.5 / BRIDGE_PERIOD_S)):
        t += BRIDGE_PERIOD_S
        loop.advance(t)
    q = loop.twin.joint_positions()
    assert abs(q[0] - WAIST_GOAL) < TOL_RAD
    present = _ok(pkt.read4ByteTxRx(port, waist.servo_id, A_PRESENT_POS))
    assert abs(waist.angle(present) - q[0]) <= TICK
    # the shoulder's shadow (3, reversed, Secondary ID 2) reads what its primary reads
    assert abs(_ok(pkt.read4ByteTxRx(port, 3, A_PRESENT_POS)) - _ok(pkt.read4ByteTxRx(port, 2, A_PRESENT_POS))) <= 1
    port.closePort()


def test_the_real_driver_drives_the_twin_and_a_servo_fault_leaves_that_joint_limp(loop):
    stop = threading.Event()

    def physics():
        while not stop.is_set():
            loop.advance(time.monotonic())
            time.sleep(BRIDGE_PERIOD_S / 4)

    loop.time = time.monotonic()
    th = threading.Thread(target=physics, daemon=True)
    th.start()
    arm = WidowXArm(ROBOT, port=loop.port)
    try:
        arm.connect()
        home = loop.twin.joint_positions()
        assert np.allclose(arm.read_state().q, home, atol=2 * TICK)
        goal = home + np.array([0.3, 0.1, -0.1, 0.0, 0.0, 0.2])
        arm.send(goal, 1.0)  # close the gripper (PWM mode)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            st = arm.read_state()
            if np.allclose(st.q, goal, atol=TOL_RAD) and st.gripper > 0.9:
                break
            time.sleep(0.02)
        assert np.allclose(loop.twin.joint_positions(), goal, atol=TOL_RAD)
        assert np.allclose(st.q, loop.twin.joint_positions(), atol=TOL_RAD)
        assert st.gripper > 0.9 and loop.twin.gripper_position() > 0.9
        loop.bus.inject_fault(1, HW_OVERLOAD)  # the waist servo shuts down: its torque drops
        with pytest.raises(Exception, match="waist"):
            for _ in range(50):
                arm.read_state()
                time.sleep(0.02)
        time.sleep(0.1)
        act = loop.twin.model.actuator("waist").id
        assert loop.twin.model.actuator_gainprm[act, 0] == 0.0  # limp in the twin
        assert loop.twin.model.actuator_gainprm[loop.twin.model.actuator("shoulder").id, 0] > 0.0
    finally:
        stop.set()
        th.join(timeout=2)
        arm.disconnect()


def test_observation_takes_the_measured_joints_and_refuses_stale_ones(loop):
    names = loop.joint_names + ["gripper"]
    measured = dict(zip(names, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]))
    assert loop.observation(measured, stamp=None, now=1.0) is None
    assert loop.observation(measured, stamp=0.0, now=1.0) is None  # stale: no observation
    state, labels = loop.observation(measured, stamp=0.95, now=1.0)
    assert [state[labels.index(f"q_{n}")] for n in loop.joint_names] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert state[labels.index("gripper")] == pytest.approx(0.7)
    assert state[labels.index("goal_x")] == pytest.approx(loop.twin.goal_position()[0])


def test_a_scene_reset_draws_a_new_layout_and_leaves_the_arm_where_it_is(loop):
    q = loop.twin.joint_positions() + 0.1
    loop.twin.set_joint_positions(q)
    goal = loop.twin.goal_position()
    drawn = loop.reset_scene()
    assert drawn["reset"] == 1 and not np.allclose(loop.twin.goal_position(), goal)
    assert np.allclose(loop.twin.joint_positions(), q)
