"""`postbc doctor`: what is connected and what is misconfigured, before the first run on a robot.

Each check (`Check`: name, ok, detail, fix) reads a device or a file through the drivers' own
functions and never moves anything: the Dynamixel bus of a WidowX (dynamixel.py), a UR
controller's network ports and dashboard (ur.py), RealSense cameras (realsense.py), teleop
devices (teleop.py), the rig's calibration files (calibration.py) and the ROS environment
(ros_env.py); runner.py picks them per rig.
"""
from postbc_ros.doctor.check import Check
from postbc_ros.doctor.runner import known_rigs, resolve_rigs, run_doctor

__all__ = ["Check", "known_rigs", "resolve_rigs", "run_doctor"]
