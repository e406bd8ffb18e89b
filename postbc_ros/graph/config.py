"""Where a node's parameters come from and how they are merged.

* ``config/<executable>.yaml``  ``/**: {ros__parameters: {...}}``  defaults of one node (an ordinary
  ROS 2 parameter file, usable with `--params-file`)
* the robot's registry entry, ``node_params[<node name>]``  per-arm values (postbc_ros.robots)

Merge order for a node: node defaults < robot entry < values the graph derives from launch
arguments. The merged dict is what both `postbc launch` and the launch files hand the node.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from postbc_ros.resources import resource_dir
from postbc_ros.robots import get_robot


def config_dir() -> Path:
    """config/ of the source tree, a colcon or a pip install ($POSTBC_CONFIG_DIR overrides)."""
    return resource_dir("config")


@lru_cache(maxsize=64)
def _load(path: str) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a ROS 2 parameter file must be a mapping of node names")
    return data


def _section(data: dict, path: Path, key: str) -> dict[str, Any]:
    sec = data.get(key)
    if sec is None:
        return {}
    if not isinstance(sec, dict) or not isinstance(sec.get("ros__parameters", {}), dict):
        raise ValueError(f"{path}: '{key}' must hold a 'ros__parameters' mapping")
    return dict(sec.get("ros__parameters") or {})


def node_defaults(executable: str) -> dict[str, Any]:
    path = config_dir() / f"{executable}.yaml"
    if not path.exists():
        return {}
    return _section(_load(str(path)), path, "/**")


def robot_overrides(robot: str, node_name: str) -> dict[str, Any]:
    """Parameters of node `node_name` that differ for `robot` (its registry entry's node_params)."""
    return dict(get_robot(robot).node_params.get(node_name, {}))


def merged_parameters(executable: str, node_name: str, robot: str | None,
                      overrides: dict[str, Any]) -> dict[str, Any]:
    params = node_defaults(executable)
    if robot:
        params.update(robot_overrides(robot, node_name))
    params.update(overrides)
    return params
