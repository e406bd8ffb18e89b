"""Every built-in registry entry is complete: the files and backends it names exist."""
from __future__ import annotations

import pytest

from postbc_ros.resources import calibration_root, resource_dir
from postbc_ros.robots import DEFAULT_ROBOT, get_robot, robot_names


@pytest.mark.parametrize("name", robot_names())
def test_entry_names_existing_files_and_backends(name):
    from postbc_ros.drivers.arm import BACKENDS

    e = get_robot(name)
    assert e.make_spec().name == e.name
    assert e.real_backend in (*BACKENDS, "ros2_control")
    assert (calibration_root() / e.rig / "safety.yaml").is_file()
    if e.twin is not None:
        assert (calibration_root() / e.twin_rig / "safety.yaml").is_file()
        for task in (None, "reach", "push", "pick_place"):
            assert (resource_dir("models") / e.twin.model_file(task)).is_file(), (name, task)
    for node, params in e.node_params.items():
        assert node and isinstance(params, dict) and params, (name, node)


def test_aliases_and_default():
    assert DEFAULT_ROBOT in robot_names()
    for name in robot_names():
        e = get_robot(name)
        assert get_robot(name.upper()) is e
        for alias in e.aliases:
            assert get_robot(alias) is e
    with pytest.raises(ValueError, match="Adding a robot"):
        get_robot("panda")
