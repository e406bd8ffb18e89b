"""arm_node's core (ArmLoop + ArmController) driving the real WidowX driver over the simulated
Dynamixel bus: an overload mid-motion latches the arm in the same control period with the
servo named, commands are dropped while it is latched, and the operator's reset (the
confirmation the reboot needs) plus arm/enable restore motion."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import HW_OVERLOAD, INST_REBOOT, widowx_bus  # noqa: E402
from widowx_helpers import wait_until  # noqa: E402

from postbc_ros.core.arm_controller import ArmController  # noqa: E402
from postbc_ros.core.arm_loop import ArmLoop  # noqa: E402
from postbc_ros.core.safety import load_safety_limits  # noqa: E402
from postbc_ros.drivers.arm import make_arm  # noqa: E402

PERIOD = 0.05


def _command(loop, q, names, now):
    loop.command(now, names, [list(q) + [0.5]], np.array([now + 0.5]), now)


def test_overload_latches_at_once_and_the_operator_reset_reboots_and_restores_motion():
    limits = load_safety_limits("widowx")
    names = list(limits.joint_names) + ["gripper"]
    with widowx_bus(speed=400.0) as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        ctl = ArmController(limits, "gripper", PERIOD, 0.5, clock=time.monotonic)
        loop = ArmLoop(ctl, arm.spec.home, lambda _d: None, logging.getLogger("widowx_arm_loop"))
        loop.connect(arm)
        try:
            loop.activate(True)
            q0 = loop.control(time.monotonic)[2][:6]
            target = q0 + np.array([0.3, -0.2, 0.2, 0.0, 0.2, 0.0])
            for _ in range(4):  # a policy streaming toward the target
                _command(loop, target, names, time.monotonic())
                loop.control(time.monotonic)
                time.sleep(PERIOD)
            assert ctl.latched is None and ctl.holding is False
            bus.inject_fault(4, HW_OVERLOAD)
            _command(loop, target, names, time.monotonic())
            loop.control(time.monotonic)  # the very next control period
            assert ctl.latched and "hardware fault" in ctl.latched and "servo 4 (elbow): overload" in ctl.latched
            assert ctl.status(time.monotonic())["faults"] == {"hardware_fault": 1}
            _command(loop, target, names, time.monotonic())
            assert ctl.dropped["latched"] >= 1
            ok, msg = loop.enable(True)  # the episode manager cannot undo it
            assert not ok and "postbc arm reset" in msg
            assert not bus.instructions(INST_REBOOT)
            ok, msg = loop.operator_reset()  # the operator confirms: the faulted servo is rebooted
            assert ok and ctl.latched is None, msg
            assert [i for i, _p in bus.instructions(INST_REBOOT)] == [4] and bus.servos[4].torque
            assert loop.enable(True)[0]

            def moved_to_target():
                _command(loop, target, names, time.monotonic())
                measured = loop.control(time.monotonic)
                time.sleep(PERIOD)
                return measured is not None and np.allclose(measured[2][:6], target, atol=0.02)
            assert wait_until(moved_to_target, timeout=8.0), "motion did not resume after the reboot"
            assert ctl.latched is None
        finally:
            loop.close()
