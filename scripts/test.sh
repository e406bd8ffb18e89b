#!/usr/bin/env bash
# README command 2: install what the tests need, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test metaworld
export MUJOCO_GL=${MUJOCO_GL:-egl}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
set +e
.venv/bin/python -m pytest -q tests "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then echo "pytest: no tests collected"; rc=0; fi
exit $rc
