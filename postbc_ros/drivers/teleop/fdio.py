"""Non-blocking reads from a device file descriptor (tty, hidraw, joystick, FIFO, socket)."""
from __future__ import annotations

import errno
import os
import select
import stat


class TeleopError(RuntimeError):
    """A teleop device cannot be opened or read (names the device and the fix)."""


def open_device(path: str, what: str, fix: str, write: bool = False) -> int:
    flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        raise TeleopError(f"{what} device {path} does not exist; {fix}") from None
    except PermissionError:
        raise TeleopError(
            f"no permission to open {what} device {path}; add a udev rule (MODE=\"0666\") or add your user "
            "to the group owning it (ls -l " + path + ")"
        ) from None


def is_char_device(fd: int) -> bool:
    return stat.S_ISCHR(os.fstat(fd).st_mode)


def read_available(fd: int, size: int = 4096) -> list[bytes]:
    """All reads that are ready now, without blocking (one entry per read() call).

    On hidraw/joystick character devices and SOCK_SEQPACKET sockets each read returns whole
    reports; on FIFOs it returns a byte stream.
    """
    chunks: list[bytes] = []
    while True:
        r, _, _ = select.select([fd], [], [], 0)
        if not r:
            return chunks
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return chunks
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return chunks
            if e.errno == errno.ENODEV:
                raise TeleopError(f"teleop device (fd {fd}) was unplugged (ENODEV); reconnect it and restart") from e
            raise
        if not data:  # EOF (writer of a FIFO closed): nothing more now
            return chunks
        chunks.append(data)
