"""Parameter YAML under config/: where it lives and how a node's parameters are merged.

Files are ordinary ROS 2 parameter files (usable with `--params-file`):

* ``config/<executable>.yaml``  ``/**: {ros__parameters: {...}}``  defaults of one node
* ``config/robots/<robot>.yaml`` ``/**/<node name>: {ros__parameters: {...}}``  per-arm values

Merge order for a node: node defaults < robot file < values the graph derives from launch
arguments. The merged dict is what both `postbc launch` and the launch files hand the node.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from postbc_ros.resources import resource_dir


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
    path = config_dir() / "robots" / f"{robot}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no parameter file for robot {robot!r}")
    data = _load(str(path))
    out = _section(data, path, "/**")
    out.update(_section(data, path, f"/**/{node_name}"))
    return out


def merged_parameters(executable: str, node_name: str, robot: str | None,
                      overrides: dict[str, Any]) -> dict[str, Any]:
    params = node_defaults(executable)
    if robot:
        params.update(robot_overrides(robot, node_name))
    params.update(overrides)
    return params
