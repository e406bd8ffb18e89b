#!/usr/bin/env bash
# README command 1: install everything, then run the main job on the MuJoCo twin.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh metaworld
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/postbc demo "$@"
