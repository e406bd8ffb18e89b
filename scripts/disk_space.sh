# Sourced by install.sh and test.sh. needs_space MB WHAT: stop before pip does, naming the reason and
# the fix, when the disk under the repository cannot hold WHAT (pip's own "No space left on device"
# comes halfway through an install and says neither).
needs_space() {
  local free_mb mount
  free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
  mount=$(df -P . | awk 'NR==2 {print $6}')
  if [ "$free_mb" -lt "$1" ]; then
    echo "[install] error: $2 needs about $1 MB of disk, but only $free_mb MB are free on $mount." >&2
    echo "[install] Free some space (old clones and their .venv* folders, ~/.cache/pip) and run this command again." >&2
    exit 1
  fi
}
