"""The dead-man end to end at the protocol boundary: js_event bytes from a gamepad and hidraw reports
from a SpaceMouse go through the real drivers into the teleop session, which holds the arm whenever
the enable button is up (the IK adapter is a stand-in: setpoint = measured joints + dx)."""
import os
import socket

import numpy as np
from teleop_wire import JS_AXIS, JS_BUTTON, JS_INIT, fifo_pair, hid_buttons, hid_translation, js_event

from postbc_ros.core.teleop_session import TeleopSession
from postbc_ros.drivers.teleop.gamepad import GamepadTeleop
from postbc_ros.drivers.teleop.spacemouse import SpaceMouseTeleop

N_JOINTS = 6
Q = np.zeros(N_JOINTS)
STATE = np.zeros(N_JOINTS + 6, dtype=np.float32)
LB, Y = 4, 3  # js buttons (xpad): LB = evdev BTN_TL, Y = intervene
RUNNING = {"episode": 0, "state": "running", "success": None, "reason": ""}


class Adapter:
    action_dim = 4

    def reset(self, q):
        pass

    def targets(self, actions, q):
        return np.concatenate([q + actions[0, 0], [actions[0, 3]]])[None]


def moves(out) -> bool:
    return out.target is not None and not out.hold


def test_gamepad_takeover_moves_the_arm_only_while_lb_is_held(tmp_path):
    rfd, wfd = fifo_pair(tmp_path / "js0")
    session = TeleopSession(GamepadTeleop(fd=rfd), Adapter(), N_JOINTS, takeover=True)
    session.on_episode(RUNNING)
    os.write(wfd, js_event(JS_BUTTON | JS_INIT, LB, 0) + js_event(JS_AXIS | JS_INIT, 1, 0))
    assert session.observe(STATE, Q).hold is False  # the policy drives: teleop stays silent
    os.write(wfd, js_event(JS_AXIS, 1, -32767) + js_event(JS_BUTTON, Y, 1) + js_event(JS_BUTTON, Y, 0))
    out = session.observe(STATE, Q)  # taken over with the stick pushed but LB up
    assert out.intervention is True and out.hold and out.target is None and out.action is None
    os.write(wfd, js_event(JS_BUTTON, LB, 1))
    out = session.observe(STATE, Q)
    assert moves(out) and out.target[0, 0] == 1.0 and out.action[0] == 1.0
    assert moves(session.observe(STATE, Q))  # held: it keeps moving
    os.write(wfd, js_event(JS_BUTTON, LB, 0))
    out = session.observe(STATE, Q)  # released: a hold in the very next control period
    assert out.hold and out.target is None and out.action is None
    os.close(wfd)
    os.close(rfd)


def test_spacemouse_records_only_while_the_left_button_is_held():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        session = TeleopSession(SpaceMouseTeleop(fd=b.fileno(), datagram=True), Adapter(), N_JOINTS)
        session.on_episode(RUNNING)
        a.send(hid_translation(0, -350, 0))
        assert session.observe(STATE, Q).hold
        a.send(hid_buttons(0b01))
        assert moves(session.observe(STATE, Q))
        a.send(hid_buttons(0b00))
        assert session.observe(STATE, Q).hold
    finally:
        a.close()
        b.close()
