#!/usr/bin/env bash
# README command 2: install what the tests need, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test metaworld
# The official LeRobot v3 reader (lerobot-dataset) pins numpy 2.2 and needs torchvision, so it gets
# its own venv; tests/data/test_lerobot_compat.py reads our datasets with it through LEROBOT_PYTHON.
if [ ! -x .venv-lerobot/bin/python ] || ! .venv-lerobot/bin/python -c "import ledataset" 2>/dev/null; then
  source scripts/disk_space.sh
  needs_space 2200 ".venv-lerobot (the official LeRobot reader, with its own torch)"
  echo "[test] installing the official LeRobot dataset reader into .venv-lerobot"
  python3 -m venv .venv-lerobot
  lpip() { .venv-lerobot/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "WARNING: Location" >&2); }
  lpip "torch==2.13.0"
  lpip "lerobot-dataset==0.4.4"
  lpip --no-deps "torchvision==0.28.0"
fi
export LEROBOT_PYTHON="$PWD/.venv-lerobot/bin/python"
# colcon, as a ROS 2 install uses it, for tests/ros/test_colcon_workspace.py (its own venv: it pulls
# pytest plugins that have no place in the test environment)
if [ ! -x .venv-colcon/bin/colcon ]; then
  echo "[test] installing colcon into .venv-colcon"
  python3 -m venv .venv-colcon
  .venv-colcon/bin/python -m pip install -q --disable-pip-version-check "colcon-common-extensions==0.3.0" \
    2> >(grep -v "WARNING: Location" >&2)
fi
export COLCON="$PWD/.venv-colcon/bin/colcon"
export MUJOCO_GL=${MUJOCO_GL:-egl}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
set +e
.venv/bin/python -m pytest -q tests "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then echo "pytest: no tests collected"; rc=0; fi
exit $rc
