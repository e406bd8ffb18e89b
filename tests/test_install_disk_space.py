"""The install scripts stop before pip when the disk cannot hold a virtual environment, and say what
to free, instead of pip's "No space left on device" halfway through an install."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _needs_space(mb: int, tmp_path: Path) -> subprocess.CompletedProcess:
    script = f'source "{ROOT}/scripts/disk_space.sh"; needs_space {mb} ".venv (test)"; echo went-on'
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)


def test_refuses_with_the_sizes_and_the_fix_when_the_disk_is_too_small(tmp_path):
    run = _needs_space(10**12, tmp_path)  # an exabyte: no disk here holds it
    assert run.returncode == 1
    assert "went-on" not in run.stdout
    assert ".venv (test) needs about 1000000000000 MB" in run.stderr
    assert "MB are free on /" in run.stderr and "Free some space" in run.stderr


def test_goes_on_when_the_disk_has_room(tmp_path):
    run = _needs_space(1, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "went-on"


def test_both_install_scripts_check_before_creating_a_venv():
    install = (ROOT / "scripts/install.sh").read_text()
    test = (ROOT / "scripts/test.sh").read_text()
    assert install.index("needs_space") < install.index("-m venv .venv")
    assert test.index("needs_space") < test.index("-m venv .venv-lerobot")
