"""The U2D2 finder and the FTDI latency-timer check on fake sysfs trees."""
from __future__ import annotations

import os

from postbc_ros.doctor.dynamixel import check_latency, check_u2d2, find_u2d2


def usb_tty(root, tty, vendor, product):
    """sysfs: class/tty/<tty>/device -> devices/.../<usb dev>/<interface>/<tty>, ids on the usb dev."""
    usb = root / "devices" / f"usb-{tty}"
    (usb / "1-1:1.0" / tty).mkdir(parents=True)
    (usb / "idVendor").write_text(f"{vendor}\n")
    (usb / "idProduct").write_text(f"{product}\n")
    (root / "class" / "tty" / tty).mkdir(parents=True)
    os.symlink(usb / "1-1:1.0" / tty, root / "class" / "tty" / tty / "device")


def test_find_u2d2_picks_the_ftdi_ft232h_only(tmp_path):
    usb_tty(tmp_path, "ttyUSB0", "10c4", "ea60")  # a CP210x serial adapter
    usb_tty(tmp_path, "ttyUSB1", "0403", "6014")  # the U2D2
    assert find_u2d2(tmp_path / "class" / "tty") == ["/dev/ttyUSB1"]


def test_missing_u2d2_names_the_device_and_the_fix(tmp_path):
    check, port = check_u2d2("widowx: U2D2", str(tmp_path / "ttyDXL"), tmp_path)
    assert port is None and not check.ok
    assert "no U2D2" in check.detail and "plug the U2D2" in check.fix


def test_u2d2_found_under_another_name_is_used_and_the_file_fix_given(tmp_path):
    usb_tty(tmp_path, "ttyUSB3", "0403", "6014")
    check, port = check_u2d2("widowx: U2D2", str(tmp_path / "ttyDXL"), tmp_path / "class" / "tty")
    assert port == "/dev/ttyUSB3" and not check.ok and "port: /dev/ttyUSB3" in check.fix


def test_latency_timer_at_the_ftdi_default_fails_with_the_fix(tmp_path):
    (tmp_path / "ttyUSB7").mkdir()
    (tmp_path / "ttyUSB7" / "latency_timer").write_text("16\n")
    c = check_latency("widowx: FTDI latency timer", "/dev/ttyUSB7", tmp_path)
    assert not c.ok and "16 ms" in c.detail
    assert f"echo 1 | sudo tee {tmp_path / 'ttyUSB7' / 'latency_timer'}" in c.fix and "udev" in c.fix


def test_latency_timer_at_1_ms_passes(tmp_path):
    (tmp_path / "ttyUSB7").mkdir()
    (tmp_path / "ttyUSB7" / "latency_timer").write_text("1\n")
    c = check_latency("widowx: FTDI latency timer", "/dev/ttyUSB7", tmp_path)
    assert c.ok and c.detail.startswith("1 ms")
