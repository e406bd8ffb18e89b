"""postbc_ros.resources: config/, models/ and calibration/ from the checkout, an override, or an
ament index (the installed-package path is exercised for real in tests/ros/test_colcon_workspace.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from postbc_ros.resources import calibration_root
from postbc_ros.graph.config import config_dir
from postbc_ros.resources import MARKERS, candidates, env_var, resource_dir
from postbc_ros.sim.twin import models_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_checkout_serves_all_three_folders(monkeypatch):
    for name in MARKERS:
        monkeypatch.delenv(env_var(name), raising=False)
        assert resource_dir(name) == ROOT / name
        assert (ROOT / name / MARKERS[name]).is_file()  # the marker really is in every copy
    assert (config_dir(), models_dir(), calibration_root()) == (ROOT / "config", ROOT / "models", ROOT / "calibration")


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTBC_CALIBRATION_DIR", str(tmp_path / "my_rig"))
    monkeypatch.setenv("POSTBC_MODELS_DIR", str(tmp_path / "models"))
    assert calibration_root() == tmp_path / "my_rig"
    assert models_dir() == tmp_path / "models"


def test_an_ament_index_entry_is_looked_at_after_the_checkout(monkeypatch, tmp_path):
    prefix = tmp_path / "install"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "postbc_ros").write_text("")
    (prefix / "share" / "postbc_ros").mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert candidates("models")[:2] == [ROOT / "models", prefix / "share" / "postbc_ros" / "models"]


def test_unknown_folder_is_named():
    with pytest.raises(ValueError, match="unknown resource folder 'weights'"):
        resource_dir("weights")
