#!/usr/bin/env bash
# Installs postbc_ros into ./.venv on a fresh Debian/Ubuntu machine (no ROS install needed).
#   system packages: libusb (pyrealsense2), EGL/OpenGL (headless MuJoCo rendering)
#   Python: torch pinned to 2.13.0 first (unpinned pulls GBs of CUDA), then the package with
#           the ROS 2 wheels extra (rclpy, messages, Fast DDS) and the extras given as arguments.
# Usage: bash scripts/install.sh [extra ...]     e.g. bash scripts/install.sh test metaworld
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
DEB_PKGS="libusb-1.0-0 libegl1 libgl1 libgles2 libopengl0 libosmesa6"
missing=""
for p in $DEB_PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[install] apt packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

source scripts/disk_space.sh
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  needs_space 2600 ".venv (torch CPU, MuJoCo, ROS 2 wheels)"
  echo "[install] creating .venv"
  $PY -m venv .venv
fi
VPY=.venv/bin/python
# pip's exit status is kept; only the noise of unused local index folders is filtered out
pipi() { "$VPY" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "WARNING: Location" >&2); }
pipi --upgrade pip
pipi "torch==2.13.0"
extras="ros"
for e in "$@"; do extras="$extras,$e"; done
echo "[install] postbc_ros[$extras]"
pipi -e ".[${extras}]"
echo "[install] done: $($VPY -c 'import torch, mujoco; print("torch", torch.__version__, "mujoco", mujoco.__version__)')"
