"""Dynamixel Protocol 2.0 bus access over ROBOTIS dynamixel_sdk, keeping each servo's error byte.

`DxlPort` wraps PortHandler + PacketHandler: single reads/writes and pings (retried on a lost
or corrupted status packet: noise on the half-duplex bus), a Sync Read that returns every
servo's data AND its status error byte (the SDK's GroupSyncRead drops it, and with it the Alert
bit), Sync Writes (broadcast, no reply) and Reboot. `check_latency_timer` reads the FTDI latency
timer of a U2D2 from sysfs: at the 16 ms default a 9-servo Sync Read takes ~16 ms instead of ~1.

The SDK opens the port non-blocking and polls it in a loop while it waits for a status packet:
a busy loop holding the GIL and a core for as long as the reply takes. `DxlPort` gives the
serial port a read timeout of READ_WAIT_S instead, so each poll waits in select() for the bytes
(GIL released, no CPU) and returns as soon as they are there; the SDK's own packet timeout
still bounds the whole wait. Measured on the wire-level twin (25 s of collecting, 20 Hz control):
arm_node used 20 s of CPU polling, 4 s with the read timeout.
"""
from __future__ import annotations

import logging
from pathlib import Path

from postbc_ros.drivers.arm.base import ArmError

LOG = logging.getLogger(__name__)
USB_SERIAL_SYSFS = Path("/sys/bus/usb-serial/devices")
READ_WAIT_S = 0.0005  # serial read timeout per SDK poll (< the U2D2's 1 ms latency timer: adds no latency)
MAX_LATENCY_TIMER_MS = 1  # the U2D2's FTDI chip batches replies for this long; 1 ms is what ROBOTIS recommends


def check_latency_timer(port: str, sysfs: Path = USB_SERIAL_SYSFS) -> str | None:
    """Warning text (also logged) when the FTDI latency timer behind `port` exceeds 1 ms; None
    when it is fine or does not apply (a pty or a non-FTDI device has no latency_timer)."""
    dev = Path(port).resolve()  # /dev/ttyDXL (Interbotix udev symlink) -> /dev/ttyUSB0
    if str(dev).startswith("/dev/pts/"):
        return None
    f = Path(sysfs) / dev.name / "latency_timer"
    try:
        ms = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    if ms <= MAX_LATENCY_TIMER_MS:
        return None
    msg = (f"widowx: the FTDI latency timer of {port} ({dev.name}) is {ms} ms: every servo read waits up to {ms} ms. "
           f"Fix now: echo 1 | sudo tee {f} ; for good: a udev rule, e.g. /etc/udev/rules.d/99-dxl-latency.rules with "
           f'ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{{latency_timer}}="1" '
           "(then sudo udevadm control --reload && replug the U2D2)")
    LOG.warning(msg)
    return msg


class DxlPort:
    """An open Protocol 2.0 bus. `who(id)` names a servo in error messages."""

    def __init__(self, name: str, baudrate: int, retries: int, who) -> None:
        from dynamixel_sdk import PacketHandler, PortHandler

        self.name, self.retries, self.who = name, max(0, int(retries)), who
        port = PortHandler(name)
        try:
            opened = port.openPort()
        except Exception as e:  # serial.SerialException and OSError
            raise ArmError(f"widowx: cannot open {name}: {e}. Is the U2D2 plugged in and are you in the dialout group?") from e
        if not opened:
            raise ArmError(f"widowx: cannot open {name}")
        if not port.setBaudRate(baudrate):
            port.closePort()
            raise ArmError(f"widowx: baud rate {baudrate} not supported by the port")
        port.ser.timeout = READ_WAIT_S  # the SDK's polls wait in select(), not in a busy loop
        self.port, self.pkt = port, PacketHandler(2.0)

    @property
    def is_open(self) -> bool:
        return self.port is not None and self.port.is_open

    def close(self) -> None:
        if self.port is not None:
            self.port.closePort()
            self.port = None

    def _txrx(self, fn, *args):
        """An SDK TxRx call retried on a missing/corrupted status packet; its result tuple."""
        from dynamixel_sdk import COMM_RX_CORRUPT, COMM_RX_TIMEOUT

        for _ in range(self.retries + 1):
            out = fn(self.port, *args)
            if out[-2] not in (COMM_RX_TIMEOUT, COMM_RX_CORRUPT):
                break
            self.port.clearPort()
        return out

    def _check(self, what: str, mid: int, result: int, error: int, alert_ok: bool) -> None:
        from dynamixel_sdk import COMM_SUCCESS

        from postbc_ros.drivers.arm.dynamixel_table import ERRBIT_ALERT

        if result != COMM_SUCCESS:
            raise ArmError(f"widowx: {what} servo {mid} ({self.who(mid)}) on {self.name}: {self.pkt.getTxRxResult(result)}")
        if error & ~ERRBIT_ALERT or (error and not alert_ok):
            raise ArmError(f"widowx: {what} servo {mid} ({self.who(mid)}): servo reported {self.pkt.getRxPacketError(error)}")

    def ping(self, mid: int) -> int:
        """Model number of servo `mid`."""
        model, result, error = self._txrx(self.pkt.ping, mid)
        self._check("ping", mid, result, error, alert_ok=True)
        return model

    def read(self, mid: int, addr: int, n: int, what: str) -> bytes:
        data, result, error = self._txrx(self.pkt.readTxRx, mid, addr, n)
        self._check(what, mid, result, error, alert_ok=True)
        return bytes(data)

    def write(self, mid: int, addr: int, n: int, value: int, what: str) -> None:
        fn = {1: self.pkt.write1ByteTxRx, 2: self.pkt.write2ByteTxRx, 4: self.pkt.write4ByteTxRx}[n]
        self._check(what, mid, *self._txrx(fn, mid, addr, value & ((1 << (8 * n)) - 1)), alert_ok=False)

    def reboot(self, mid: int) -> None:
        self._check("reboot", mid, *self._txrx(self.pkt.reboot, mid), alert_ok=True)

    def sync_read(self, ids: list[int], addr: int, n: int, what: str) -> dict[int, tuple[bytes, int]]:
        """{id: (data, status error byte)} from one Sync Read (the whole exchange is retried)."""
        from dynamixel_sdk import COMM_SUCCESS

        missing = None
        for _ in range(self.retries + 1):
            result = self.pkt.syncReadTx(self.port, addr, n, list(ids), len(ids), False)
            out: dict[int, tuple[bytes, int]] = {}
            missing = None
            if result == COMM_SUCCESS:
                for mid in ids:
                    data, result, error = self.pkt.readRx(self.port, mid, n)
                    if result != COMM_SUCCESS:
                        missing = mid
                        break
                    out[mid] = (bytes(data), error)
            if result == COMM_SUCCESS:
                return out
            self.port.clearPort()
        who = f" (servo {missing}, {self.who(missing)}, did not answer)" if missing is not None else ""
        raise ArmError(f"widowx: sync read of {what} failed on {self.name}{who}: {self.pkt.getTxRxResult(result)}")

    def sync_write(self, addr: int, n: int, values: dict[int, int], what: str) -> None:
        """One Sync Write of `n`-byte `values` {id: value} (broadcast: no status packets)."""
        from dynamixel_sdk import COMM_SUCCESS, GroupSyncWrite

        if not values:
            return
        grp = GroupSyncWrite(self.port, self.pkt, addr, n)
        for mid, v in values.items():
            v &= (1 << (8 * n)) - 1
            grp.addParam(mid, [(v >> (8 * k)) & 0xFF for k in range(n)])
        result = grp.txPacket()
        if result != COMM_SUCCESS:
            raise ArmError(f"widowx: sync write of {what} failed on {self.name}: {self.pkt.getTxRxResult(result)}")
