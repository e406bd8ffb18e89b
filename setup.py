"""postbc_ros: installable both as an ament_python package (colcon) and with pip.

colcon build:  rclpy & messages come from the ROS 2 install (package.xml exec_depends).
pip:           pip install -e ".[ros]" pulls rclpy & messages from the PyPI ROS 2 wheels.
"""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "postbc_ros"

NODES = [
    "camera_node",
    "policy_node",
    "arm_node",
    "replay_buffer_node",
    "learner_node",
    "episode_manager_node",
    "reset_operator_node",
    "teleop_node",
    "sim_node",
    "observation_node",
    "wire_twin_node",
]


def tree(src):
    """data_files entries installing every file under `src` into share/<pkg>/<src>."""
    out = []
    for root, _dirs, files in os.walk(src):
        files = [os.path.join(root, f) for f in files if not f.endswith((".pyc", "~"))]
        if files:
            out.append((os.path.join("share", PACKAGE, root), files))
    return out


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
    ("share/" + PACKAGE, ["package.xml"]),
    ("share/" + PACKAGE + "/launch", glob("launch/*.py")),
]
for d in ("config", "models", "calibration"):
    data_files += tree(d)

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*", "bench", "bench.*"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=data_files,
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26",
        "torch>=2.3",  # install torch==2.13.0 first (see README); a satisfied range installs nothing
        "mujoco==3.3.0",  # Meta-World 3.1.1 pins it
        "gymnasium>=1.0",
        "safetensors>=0.4",
        "pyarrow>=14",
        "diffusers>=0.30",
        "pyyaml",
        "tqdm",
        "rich",
        "matplotlib",
        "scipy",
        "opencv-python-headless",
        "pyserial",
        "dynamixel-sdk",
        "ur-rtde",
        "pyrealsense2",
    ],
    extras_require={
        # ROS 2 Kilted as PyPI wheels: only for pip-only installs (colcon uses the system ROS)
        "ros": [
            "ros-rclpy==9.1.2",
            "ros-rmw-fastrtps-cpp==9.3.3",
            "ros-std-msgs",
            "ros-sensor-msgs",
            "ros-std-srvs",
            "ros-geometry-msgs",
            "ros-trajectory-msgs",
            "ros-diagnostic-msgs",
            "ros-lifecycle-msgs",
            "ros-rosgraph-msgs",
            "ros-rcl-interfaces",
        ],
        "metaworld": ["metaworld==3.1.1", "packaging"],
        "test": ["pytest>=8", "pytest-rerunfailures>=14", "hypothesis", "catkin_pkg"],
    },
    zip_safe=True,
    maintainer="postbc_ros developers",
    maintainer_email="postbc-ros@example.org",
    description="Posterior Behavioral Cloning + online RL finetuning for robot arms on ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [f"{n} = {PACKAGE}.nodes.{n}:main" for n in NODES]
        + ["postbc = postbc_ros.cli.main:main"],
    },
)
