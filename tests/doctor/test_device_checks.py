"""Doctor's RealSense check on librealsense software devices (the real pyrealsense2 answers the
camera_info queries), the teleop check with injected finders, and the ROS environment check."""
from __future__ import annotations

import pyrealsense2 as rs

from postbc_ros.doctor.realsense import check_realsense
from postbc_ros.doctor.ros_env import check_ros
from postbc_ros.doctor.teleop import check_teleop
from postbc_ros.drivers.teleop.fdio import TeleopError


def camera(serial, usb, fw="5.15.1.0", rec="5.15.1.0"):
    d = rs.software_device()
    for key, v in (("name", "Intel RealSense D435"), ("serial_number", serial), ("usb_type_descriptor", usb),
                   ("firmware_version", fw), ("recommended_firmware_version", rec)):
        d.register_info(getattr(rs.camera_info, key), v)
    return d


def test_usb2_camera_fails_with_the_fix_and_usb3_passes():
    c = {x.name: x for x in check_realsense(devices=[camera("111", "3.2"), camera("222", "2.1")])}
    assert c["realsense"].ok and "111" in c["realsense"].detail and "222" in c["realsense"].detail
    assert c["realsense 111"].ok and "USB 3.2" in c["realsense 111"].detail
    assert not c["realsense 222"].ok and "USB 2.1" in c["realsense 222"].detail and "USB 3 port" in c["realsense 222"].fix


def test_old_firmware_and_missing_cameras_are_named():
    c = check_realsense(devices=[camera("333", "3.2", fw="5.12.7.100", rec="5.15.1.0")], expect=2)
    assert not c[0].ok and "1 of the rig's 2 cameras" in c[0].detail
    assert not c[1].ok and "firmware 5.12.7.100 (recommended 5.15.1.0)" in c[1].detail and "rs-fw-update" in c[1].fix
    none = check_realsense(devices=[])
    assert len(none) == 1 and not none[0].ok and "no RealSense" in none[0].detail


def test_teleop_needs_one_device(tmp_path):
    def missing():
        raise TeleopError("none")

    dev = tmp_path / "hidraw3"
    dev.write_bytes(b"")
    assert not check_teleop(find_spacemouse=missing, find_gamepad=missing)[0].ok
    ok = check_teleop(find_spacemouse=lambda: str(dev), find_gamepad=missing)[0]
    assert ok.ok and f"SpaceMouse at {dev}" in ok.detail


def test_ros_environment():
    c = {x.name: x for x in check_ros({})}
    assert not c["ros: ROS_DOMAIN_ID"].ok and "ROS_DOMAIN_ID" in c["ros: ROS_DOMAIN_ID"].fix
    assert not c["ros: discovery range"].ok
    c = {x.name: x for x in check_ros({"ROS_DOMAIN_ID": "7", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"})}
    assert all(x.ok for x in c.values()), [x.line() for x in c.values()]
    c = {x.name: x for x in check_ros({"ROS_DOMAIN_ID": "300", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LAN"})}
    assert not c["ros: ROS_DOMAIN_ID"].ok and not c["ros: discovery range"].ok
