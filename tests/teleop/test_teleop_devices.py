"""Teleop backends at the protocol boundary: a pty for the keyboard, FIFOs / SEQPACKET sockets carrying
real HID report bytes for the SpaceMouse, js_event structs for the gamepad."""
import os
import socket
import termios

import numpy as np
import pytest
from teleop_wire import JS_AXIS, JS_BUTTON, JS_INIT, fifo_pair, hid_buttons, hid_rotation, hid_translation, js_event

from postbc_ros.drivers.teleop import TeleopError, make_teleop_device
from postbc_ros.drivers.teleop.gamepad import GamepadTeleop
from postbc_ros.drivers.teleop.keyboard import KeyboardTeleop, parse_keys
from postbc_ros.drivers.teleop.spacemouse import SpaceMouseTeleop, find_spacemouse


# ----------------------------------------------------------------------------- keyboard (pty)

@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_keyboard_over_pty(pty):
    master, slave = pty
    before = termios.tcgetattr(slave)
    kb = KeyboardTeleop(fd=slave)
    lflag = termios.tcgetattr(slave)[3]
    assert not lflag & termios.ICANON and not lflag & termios.ECHO  # raw keys, no echo
    cmd = kb.read()
    assert np.array_equal(cmd.action, [0, 0, 0, -1]) and cmd.events() == []
    os.write(master, b"w")
    assert np.array_equal(kb.read().action, [1, 0, 0, -1])
    os.write(master, b"\x1b[B" b"ad" b"d" b"r")  # down arrow, a, d, d, r
    np.testing.assert_array_equal(kb.read().action, [-1, -1, 1, -1])
    os.write(master, b" ")
    assert kb.read().action[3] == 1.0  # gripper closed, and it stays closed
    assert kb.read().action[3] == 1.0
    os.write(master, b"\r")
    assert kb.read().start
    os.write(master, b"y")
    c = kb.read()
    assert c.success and not c.start
    os.write(master, b"nix")
    assert set(kb.read().events()) == {"failure", "intervene", "stop"}
    os.write(master, b"\x1b")
    assert kb.read().abort
    kb.close()
    assert termios.tcgetattr(slave)[3] == before[3]  # terminal mode restored


def test_keyboard_by_tty_path(pty):
    master, slave = pty
    kb = make_teleop_device("keyboard", path=os.ttyname(slave))
    os.write(master, b"o")
    assert kb.read().action[3] == -1.0
    kb.close()


def test_keyboard_needs_a_tty():
    r, w = os.pipe()
    try:
        with pytest.raises(TeleopError, match="needs a terminal"):
            KeyboardTeleop(fd=r)
    finally:
        os.close(r)
        os.close(w)


def test_parse_keys():
    assert parse_keys("w\x1b[A\x1bOCq\x1b") == ["w", "UP", "RIGHT", "q", "ESC"]


# ----------------------------------------------------------------------------- spacemouse (hidraw bytes)

def test_spacemouse_stream_reports(tmp_path):
    rfd, wfd = fifo_pair(tmp_path / "hidraw0")
    sm = SpaceMouseTeleop(fd=rfd, datagram=False)
    os.write(wfd, hid_translation(100, -350, 175) + hid_rotation(5, 6, 7))
    cmd = sm.read()
    # push forward (device -y) -> +x, device +x (right) -> -y, device +z (down) -> -z
    np.testing.assert_allclose(cmd.action, [1.0, -100 / 350, -0.5, -1.0], rtol=1e-6)
    assert sm.rotation.tolist() == [5, 6, 7]
    # a report split across two writes is reassembled; small motion falls in the dead zone
    rep = hid_translation(20, 0, -350)
    os.write(wfd, rep[:3])
    np.testing.assert_allclose(sm.read().action, [1.0, -100 / 350, -0.5, -1.0], rtol=1e-6)
    os.write(wfd, rep[3:])
    np.testing.assert_allclose(sm.read().action, [0, 0, 1.0, -1.0])
    os.write(wfd, hid_buttons(0b01) + hid_buttons(0))  # left click: gripper closes
    assert sm.read().action[3] == 1.0
    os.write(wfd, hid_buttons(0b10) + hid_buttons(0))
    assert sm.read().start
    os.write(wfd, hid_buttons(0b10) + hid_buttons(0))
    assert sm.read().stop
    os.write(wfd, hid_buttons(0b11))
    assert sm.read().abort
    os.write(wfd, b"\x07\x00")
    with pytest.raises(TeleopError, match="unknown report id 7"):
        sm.read()
    os.close(wfd)
    os.close(rfd)


def test_spacemouse_datagram_12_byte_report():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sm = SpaceMouseTeleop(fd=b.fileno(), datagram=True)
        a.send(hid_translation(0, 175, 0) + hid_rotation(1, 2, 3)[1:])  # newer models: one 13-byte report
        a.send(hid_buttons(0b01))
        cmd = sm.read()
        np.testing.assert_allclose(cmd.action, [-0.5, 0, 0, 1.0])
        assert sm.rotation.tolist() == [1, 2, 3]
    finally:
        a.close()
        b.close()


def test_spacemouse_discovery_and_errors(tmp_path):
    for n, hid in [(0, "0003:000004F3:00000C33"), (3, "0003:0000256F:0000C635")]:
        d = tmp_path / f"hidraw{n}" / "device"
        d.mkdir(parents=True)
        (d / "uevent").write_text(f"DRIVER=hid-generic\nHID_ID={hid}\nHID_NAME=x\n")
    assert find_spacemouse(str(tmp_path)) == "/dev/hidraw3"
    with pytest.raises(TeleopError, match="no SpaceMouse found"):
        find_spacemouse(str(tmp_path / "none"))
    with pytest.raises(TeleopError, match="/nonexistent/hidraw9 does not exist"):
        SpaceMouseTeleop("/nonexistent/hidraw9")


# ----------------------------------------------------------------------------- gamepad (js_event)

def test_gamepad_js_events(tmp_path):
    rfd, wfd = fifo_pair(tmp_path / "js0")
    gp = GamepadTeleop(fd=rfd)
    # the kernel first sends the initial state with JS_EVENT_INIT: no button edges from those
    os.write(wfd, js_event(JS_BUTTON | JS_INIT, 0, 1) + js_event(JS_AXIS | JS_INIT, 1, 0))
    cmd = gp.read()
    assert cmd.events() == [] and np.array_equal(cmd.action, [0, 0, 0, -1])
    os.write(wfd, js_event(JS_AXIS, 1, -32767) + js_event(JS_AXIS, 0, 16384) + js_event(JS_AXIS, 4, 1000))
    np.testing.assert_allclose(gp.read().action, [1.0, -16384 / 32767, 0.0, -1.0], rtol=1e-6)
    ev = js_event(JS_BUTTON, 2, 1)
    os.write(wfd, ev[:5])  # half an event: nothing yet
    assert gp.read().action[3] == -1.0
    os.write(wfd, ev[5:] + js_event(JS_BUTTON, 2, 0))
    assert gp.read().action[3] == 1.0  # X toggled the gripper closed
    os.write(wfd, js_event(JS_BUTTON, 7, 1) + js_event(JS_BUTTON, 7, 0))
    assert gp.read().start
    os.write(wfd, js_event(JS_BUTTON, 0, 0) + js_event(JS_BUTTON, 0, 1) + js_event(JS_BUTTON, 3, 1))
    assert set(gp.read().events()) == {"success", "intervene"}
    os.write(wfd, js_event(JS_BUTTON, 7, 1))
    assert gp.read().stop
    os.write(wfd, js_event(JS_BUTTON, 6, 1))
    assert gp.read().abort
    gp.reset()
    assert gp.read().action[3] == -1.0  # new episode: gripper open again
    os.close(wfd)
    os.close(rfd)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown teleop device 'joystick'"):
        make_teleop_device("joystick")
    with pytest.raises(ValueError, match="needs the env"):
        make_teleop_device("scripted")
