#!/usr/bin/env bash
# README command 2: install what the tests need, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test metaworld
# The official LeRobot v3 reader (lerobot-dataset) pins numpy 2.2 and needs torchvision, so it gets
# its own venv; tests/data/test_lerobot_compat.py reads our datasets with it through LEROBOT_PYTHON.
if [ ! -x .venv-lerobot/bin/python ] || ! .venv-lerobot/bin/python -c "import ledataset" 2>/dev/null; then
  echo "[test] installing the official LeRobot dataset reader into .venv-lerobot"
  python3 -m venv .venv-lerobot
  lpip() { .venv-lerobot/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "WARNING: Location" >&2); }
  lpip "torch==2.13.0"
  lpip "lerobot-dataset==0.4.4"
  lpip --no-deps "torchvision==0.28.0"
fi
export LEROBOT_PYTHON="$PWD/.venv-lerobot/bin/python"
export MUJOCO_GL=${MUJOCO_GL:-egl}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
set +e
.venv/bin/python -m pytest -q tests "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then echo "pytest: no tests collected"; rc=0; fi
exit $rc
