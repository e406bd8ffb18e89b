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
from postbc_ros.drivers.teleop.spacemouse import SPACEMOUSE_MODELS, SpaceMouseTeleop, find_spacemouse


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
    sm = SpaceMouseTeleop(fd=rfd, datagram=False, deadman=False)  # the plain button map
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
        sm = SpaceMouseTeleop(fd=b.fileno(), datagram=True, deadman=False)
        a.send(hid_translation(0, 175, 0) + hid_rotation(1, 2, 3)[1:])  # newer models: one 13-byte report
        a.send(hid_buttons(0b01))
        cmd = sm.read()
        np.testing.assert_allclose(cmd.action, [-0.5, 0, 0, 1.0])
        assert sm.rotation.tolist() == [1, 2, 3]
    finally:
        a.close()
        b.close()


def hidraw_tree(root, devices):
    """A sysfs class dir (root/sys/hidrawN/device/uevent with HID_ID / HID_NAME, as the kernel writes
    them) and a dev dir whose hidrawN are FIFOs; returns (sys_class, dev_dir)."""
    sys_class, dev = root / "sys", root / "dev"
    dev.mkdir()
    for n, (hid_id, name) in devices.items():
        d = sys_class / f"hidraw{n}" / "device"
        d.mkdir(parents=True)
        (d / "uevent").write_text(f"DRIVER=hid-generic\nHID_ID={hid_id}\nHID_NAME={name}\n"
                                  f"HID_PHYS=usb-0000:00:14.0-2/input{n}\n")
        os.mkfifo(dev / f"hidraw{n}")
    return str(sys_class), str(dev)


UNIFYING = ("0003:0000046D:0000C52B", "Logitech USB Receiver")  # same vendor id as the old SpaceMice


def test_the_finder_picks_the_spacemouse_not_the_logitech_receiver(tmp_path):
    # the receiver's three interfaces come first (the old finder, vendor id alone, took hidraw0)
    sys_class, dev = hidraw_tree(tmp_path, {0: UNIFYING, 1: UNIFYING, 2: UNIFYING,
                                            3: ("0003:0000256F:0000C635", "3Dconnexion SpaceMouse Compact")})
    path = find_spacemouse(sys_class, dev)
    assert path == os.path.join(dev, "hidraw3")
    wfd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # the test writes reports into the found node
    sm = SpaceMouseTeleop(path, datagram=False, deadman=False)
    os.write(wfd, hid_translation(0, -350, 0))
    np.testing.assert_allclose(sm.read().action, [1.0, 0, 0, -1])
    sm.close()
    os.close(wfd)


def test_no_spacemouse_names_what_was_seen_and_the_fix(tmp_path):
    sys_class, dev = hidraw_tree(tmp_path, {0: UNIFYING, 1: ("0003:0000256F:0000C699", "3Dconnexion Future")})
    with pytest.raises(TeleopError) as e:
        find_spacemouse(sys_class, dev)
    msg = str(e.value)
    assert "hidraw0 046d:c52b Logitech USB Receiver" in msg and "hidraw1 256f:c699 3Dconnexion Future" in msg
    assert "Plug the SpaceMouse in" in msg and "udev rule" in msg and "--device-path" in msg
    with pytest.raises(TeleopError, match="hidraw devices seen: none"):
        find_spacemouse(str(tmp_path / "none"))
    with pytest.raises(TeleopError, match="/nonexistent/hidraw9 does not exist"):
        SpaceMouseTeleop("/nonexistent/hidraw9")


def test_the_model_table():
    assert SPACEMOUSE_MODELS[(0x256F, 0xC635)] == "SpaceMouse Compact"
    assert SPACEMOUSE_MODELS[(0x046D, 0xC626)] == "SpaceNavigator"
    assert (0x046D, 0xC52B) not in SPACEMOUSE_MODELS
    assert {v for v, _p in SPACEMOUSE_MODELS} == {0x046D, 0x256F}


@pytest.fixture
def hidraw():
    """A SEQPACKET pair: one report per read(), as a hidraw node gives them."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield a, b
    a.close()
    b.close()


def test_spacemouse_deadman_on_the_left_button(hidraw):
    a, b = hidraw
    sm = SpaceMouseTeleop(fd=b.fileno(), datagram=True)  # dead-man on by default: left button
    a.send(hid_translation(0, -350, 0))
    cmd = sm.read()
    assert not cmd.enabled and cmd.action[0] == 1.0  # the device reports; the session gates
    a.send(hid_buttons(0b01))
    assert sm.read().enabled
    a.send(hid_buttons(0b11))  # right clicked while the dead-man is held: gripper
    cmd = sm.read()
    assert cmd.enabled and cmd.action[3] == 1.0 and cmd.events() == []
    a.send(hid_buttons(0b01))
    a.send(hid_buttons(0b00))
    cmd = sm.read()
    assert not cmd.enabled and cmd.events() == [] and cmd.action[3] == 1.0
    a.send(hid_buttons(0b10))
    assert sm.read().events() == []  # right alone: decided at its release
    a.send(hid_buttons(0b00))
    assert sm.read().start
    a.send(hid_buttons(0b10))
    a.send(hid_buttons(0b00))
    assert sm.read().stop
    a.send(hid_buttons(0b10))
    a.send(hid_buttons(0b11))  # right held, then the dead-man: abort, and no start/stop at release
    a.send(hid_buttons(0b01))
    cmd = sm.read()
    assert cmd.events() == ["abort"] and cmd.enabled
    a.send(hid_buttons(0b00))
    assert sm.read().events() == []


def test_spacemouse_deadman_on_another_button(hidraw):
    a, b = hidraw
    sm = SpaceMouseTeleop(fd=b.fileno(), datagram=True, deadman_button="right")
    a.send(hid_buttons(0b10))
    assert sm.read().enabled
    a.send(hid_buttons(0b11))
    assert sm.read().action[3] == 1.0  # left clicked with the dead-man held: gripper
    pro = SpaceMouseTeleop(fd=b.fileno(), datagram=True, deadman_button="12")  # SpaceMouse Pro BTN_1 (byte 2, bit 4)
    a.send(bytes([3]) + (1 << 12 | 0b01).to_bytes(4, "little"))
    cmd = pro.read()
    assert cmd.enabled and cmd.action[3] == 1.0  # left (MENU) keeps the plain map: gripper
    a.send(bytes([3]) + (0b10).to_bytes(4, "little"))
    cmd = pro.read()
    assert not cmd.enabled and cmd.start
    off = SpaceMouseTeleop(fd=b.fileno(), datagram=True, deadman=False)
    assert off.read().enabled
    for bad in ("middle", "40"):
        with pytest.raises(ValueError, match="dead-man button"):
            SpaceMouseTeleop(fd=b.fileno(), datagram=True, deadman_button=bad)


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


def test_gamepad_deadman_lb(tmp_path):
    rfd, wfd = fifo_pair(tmp_path / "js0")
    gp = GamepadTeleop(fd=rfd)  # dead-man on by default: LB (evdev BTN_TL, js button 4 under xpad)
    os.write(wfd, js_event(JS_BUTTON | JS_INIT, 4, 0) + js_event(JS_AXIS | JS_INIT, 1, 0))
    assert not gp.read().enabled
    os.write(wfd, js_event(JS_AXIS, 1, -32767))
    cmd = gp.read()
    assert not cmd.enabled and cmd.action[0] == 1.0  # the device reports; the session gates
    os.write(wfd, js_event(JS_BUTTON, 4, 1))
    cmd = gp.read()
    assert cmd.enabled and cmd.events() == []  # the dead-man fires no event
    os.write(wfd, js_event(JS_BUTTON, 2, 1) + js_event(JS_BUTTON, 2, 0))
    cmd = gp.read()
    assert cmd.enabled and cmd.action[3] == 1.0
    os.write(wfd, js_event(JS_BUTTON, 4, 0))
    assert not gp.read().enabled
    os.close(wfd)
    os.close(rfd)
    # held when the device is opened: the kernel's initial state says so at once
    rfd, wfd = fifo_pair(tmp_path / "js1")
    gp = GamepadTeleop(fd=rfd)
    os.write(wfd, js_event(JS_BUTTON | JS_INIT, 4, 1))
    assert gp.read().enabled
    os.close(wfd)
    os.close(rfd)


def test_gamepad_deadman_trigger_and_off(tmp_path):
    rfd, wfd = fifo_pair(tmp_path / "js0")
    gp = GamepadTeleop(fd=rfd, deadman_button="L2")  # evdev ABS_Z, js axis 2: -32767 released
    assert not gp.read().enabled  # no event yet: released
    os.write(wfd, js_event(JS_AXIS | JS_INIT, 2, -32767))
    assert not gp.read().enabled
    os.write(wfd, js_event(JS_AXIS, 2, 0))
    assert not gp.read().enabled  # half way is not held
    os.write(wfd, js_event(JS_AXIS, 2, 32767))
    assert gp.read().enabled
    off = GamepadTeleop(fd=rfd, deadman=False)
    assert off.read().enabled
    with pytest.raises(ValueError, match="button 2 is the gripper button"):
        GamepadTeleop(fd=rfd, deadman_button="2")
    with pytest.raises(ValueError, match="use one of LB, RB"):
        GamepadTeleop(fd=rfd, deadman_button="ZL")
    os.close(wfd)
    os.close(rfd)


def test_the_keyboard_has_no_deadman(pty):
    master, slave = pty
    kb = KeyboardTeleop(fd=slave)
    assert kb.read().enabled  # no key: zero motion, still enabled (motion is a momentary press)
    kb.close()


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown teleop device 'joystick'"):
        make_teleop_device("joystick")
    with pytest.raises(ValueError, match="needs the env"):
        make_teleop_device("scripted")
