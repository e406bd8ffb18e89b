"""WidowX free drive on the simulated bus (what `postbc calibrate hand-eye-capture` uses to let
the operator pose the arm by hand): refused without confirmation; confirmed, it torques off the
arm servos (shadows too, the gripper keeps its torque) and refuses commands; the arm is moved by
hand; free_drive(False) locks it where it now is (goal := present before torque on, no jump)
and commands are accepted again."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dxl_sim import A_GOAL_POS, widowx_bus  # noqa: E402
from widowx_helpers import PRIMARIES, SHADOWS, torque_writes  # noqa: E402

from postbc_ros.drivers.arm import ArmError, make_arm  # noqa: E402

ARM_SERVOS = (*PRIMARIES, *SHADOWS)


def test_free_drive_releases_the_arm_and_locks_it_where_it_was_moved():
    with widowx_bus(speed=400.0) as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        with arm:
            assert arm.can_free_drive
            q0 = arm.read_state().q
            with pytest.raises(ArmError, match="refused without the operator's confirmation"):
                arm.free_drive(True)
            assert all(bus.servos[i].torque for i in ARM_SERVOS), "an unconfirmed free drive changed nothing"
            assert "moves by hand" in arm.free_drive(True, confirmed=True)
            assert not any(bus.servos[i].torque for i in ARM_SERVOS)
            assert bus.servos[9].torque, "the gripper keeps its torque (a held object is not dropped)"
            assert sorted(torque_writes(bus, 0)) == sorted(ARM_SERVOS)
            with pytest.raises(ArmError, match="free drive"):
                arm.command(q0, 0.0)
            arm.hold()  # a hold (the watchdog's) leaves the arm released: no fight with the hand
            assert not any(bus.servos[i].torque for i in ARM_SERVOS)
            for _ in range(12):  # more than hw_error_poll_every reads: torque off is no fault here
                arm.read_state()
            with bus.lock:  # the operator turns the waist and bends the wrist by hand
                bus.servos[1].native += 300.0
                bus.servos[7].native -= 200.0  # wrist angle: reverse drive mode, the register rises
            moved = arm.read_state().q
            assert moved[0] == pytest.approx(q0[0] + 300 / 651.9, abs=0.01)
            assert abs(moved[4] - q0[4]) > 0.2
            assert "holding" in arm.free_drive(False)
            assert all(bus.servos[i].torque for i in ARM_SERVOS)
            for i in (1, 7):  # goal := where the hand left it, written before the torque went on
                assert abs(bus.servos[i].get(A_GOAL_POS, 4) - bus.present(i)) <= 1
            time.sleep(0.1)
            held = arm.read_state().q
            assert np.allclose(held, moved, atol=0.005), "locking moved the arm"
            arm.command(held + np.array([0.05, 0, 0, 0, 0, 0]), 0.0)  # commands are accepted again
            assert arm.free_drive(False) == "not in free drive: the arm holds"
