"""Doctor check of the Intel RealSense cameras: which are connected (serial, model, firmware) and
at which USB speed, through librealsense's own device enumeration (pyrealsense2 `context`).

A RealSense on a USB 2 port or cable enumerates but offers only low resolutions and frame rates
(and no depth at 640x480 @ 30 on most models), so USB 2 is a failure with its fix. Firmware older
than the version librealsense recommends is reported (librealsense warns about it too).
"""
from __future__ import annotations

from postbc_ros.doctor.check import Check, failed, passed

USB3_PREFIX = "3"  # usb_type_descriptor is "2.1", "3.2", ...: the major USB version first
INSTALL_FIX = "pip install pyrealsense2 (or the librealsense SDK's Python bindings)"


def _info(dev, rs, key) -> str:
    ci = getattr(rs.camera_info, key)
    return dev.get_info(ci) if dev.supports(ci) else ""


def _version(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return ()


def describe(dev, rs) -> dict:
    """name, serial, firmware, recommended firmware and USB type of one rs.device."""
    return {k: _info(dev, rs, k) for k in ("name", "serial_number", "firmware_version",
                                           "recommended_firmware_version", "usb_type_descriptor")}


def check_realsense(name: str = "realsense", devices=None, expect: int = 1) -> list[Check]:
    """One check per connected camera plus one on their number (`expect`: how many the rig has).
    `devices` defaults to rs.context().query_devices()."""
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        return [failed(name, f"pyrealsense2 cannot be imported ({e})", INSTALL_FIX)]
    if devices is None:
        devices = list(rs.context().query_devices())
    cams = [describe(d, rs) for d in devices]
    listing = ", ".join(f"{c['name'] or 'RealSense'} {c['serial_number']}" for c in cams)
    if not cams:
        out = [failed(name, "no RealSense camera connected",
                      "plug the camera into a USB 3 port with a USB 3 cable; `rs-enumerate-devices` must list it "
                      "(on Linux install librealsense's udev rules: 99-realsense-libusb.rules)")]
    elif len(cams) < expect:
        out = [failed(name, f"{len(cams)} of the rig's {expect} cameras connected: {listing}",
                      "plug in the missing camera (USB 3); check the rig's camera_*.yaml files and camera_node serials")]
    else:
        out = [passed(name, f"{len(cams)} connected: {listing}")]
    for c in cams:
        n = f"{name} {c['serial_number']}"
        usb, fw, rec = c["usb_type_descriptor"], c["firmware_version"], c["recommended_firmware_version"]
        fw_text = f"firmware {fw or '?'}" + (f" (recommended {rec})" if rec and rec != fw else "")
        if usb and not usb.startswith(USB3_PREFIX):
            out.append(failed(n, f"{c['name']} on USB {usb}, {fw_text}",
                              "plug it into a USB 3 port (blue / SS) with a USB 3 cable: on USB 2 only low resolutions "
                              "and frame rates are offered"))
        elif fw and rec and _version(fw) < _version(rec):
            out.append(failed(n, f"{c['name']} on USB {usb or '?'}, {fw_text}",
                              "update the firmware (realsense-viewer: 'Update firmware', or rs-fw-update)"))
        else:
            out.append(passed(n, f"{c['name']} on USB {usb or '?'}, {fw_text}"))
    return out
