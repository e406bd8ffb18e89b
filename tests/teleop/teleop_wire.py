"""Byte-level encoders for the device protocols the teleop tests speak (hidraw reports, js_event)."""
import os
import struct

JS_BUTTON, JS_AXIS, JS_INIT = 0x01, 0x02, 0x80


def js_event(etype: int, number: int, value: int, time_ms: int = 0) -> bytes:
    """struct js_event {u32 time; s16 value; u8 type; u8 number;} (linux/joystick.h)."""
    return struct.pack("<IhBB", time_ms, value, etype, number)


def hid_translation(x: int, y: int, z: int) -> bytes:
    return bytes([1]) + struct.pack("<3h", x, y, z)


def hid_rotation(rx: int, ry: int, rz: int) -> bytes:
    return bytes([2]) + struct.pack("<3h", rx, ry, rz)


def hid_buttons(mask: int) -> bytes:
    return bytes([3]) + mask.to_bytes(2, "little")


def fifo_pair(path):
    """A FIFO opened for non-blocking reads (device side) and writes (test side)."""
    os.mkfifo(path)
    rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    wfd = os.open(path, os.O_WRONLY)
    return rfd, wfd
