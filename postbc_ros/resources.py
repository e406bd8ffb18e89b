"""Where the package's data folders live: config/, models/ and calibration/.

One lookup for all three, in this order:
1. $POSTBC_CONFIG_DIR / $POSTBC_MODELS_DIR / $POSTBC_CALIBRATION_DIR, taken as given (your own rig);
2. the source tree next to the package (a checkout, or `pip install -e`);
3. the ament index: <prefix>/share/postbc_ros/<name> of a colcon install (ament_index_python is
   plain Python, so this needs no running ROS);
4. <sys.prefix>/share/postbc_ros/<name> of a pip install (setup.py's data_files).
Outside the environment variable, a folder counts only if it holds the file that marks it, so an
unrelated folder of the same name (a `config` package in site-packages, ~/calibration) is never
picked up. Not found: FileNotFoundError naming every place looked at and the variable to set.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

PACKAGE = "postbc_ros"
# folder -> a file every copy of it holds
MARKERS = {
    "config": "policy_node.yaml",
    "models": "widowx250.xml",
    "calibration": "widowx_twin/safety.yaml",
}


def env_var(name: str) -> str:
    return f"POSTBC_{name.upper()}_DIR"


def _places(name: str) -> Iterator[Path]:
    """The places looked at, in order, each computed only when the earlier ones did not do."""
    if name not in MARKERS:
        raise ValueError(f"unknown resource folder {name!r}; one of {sorted(MARKERS)}")
    yield Path(__file__).resolve().parents[1] / name
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(PACKAGE)) / name
    except Exception:  # noqa: BLE001 - no ament_index_python, or the package is not in the index
        share = None
    if share is not None:
        yield share
    yield Path(sys.prefix) / "share" / PACKAGE / name


def candidates(name: str) -> list[Path]:
    """The places `resource_dir(name)` looks at, in order (the environment variable excluded)."""
    return list(_places(name))


def resource_dir(name: str) -> Path:
    env = os.environ.get(env_var(name))
    if env:
        return Path(env)
    looked = []
    for c in _places(name):
        if (c / MARKERS[name]).is_file():
            return c
        looked.append(c)
    raise FileNotFoundError(
        f"postbc_ros {name}/ not found: looked in {', '.join(map(str, looked))} (none holds "
        f"{MARKERS[name]}); set {env_var(name)} to the folder")


def calibration_root() -> Path:
    """calibration/ of the source tree, a colcon or a pip install ($POSTBC_CALIBRATION_DIR overrides)."""
    return resource_dir("calibration")
