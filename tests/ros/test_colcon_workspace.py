"""The README's ROS 2 workspace path: `colcon build` of this package, then run from the install tree.

colcon (colcon-common-extensions, the tool a ROS 2 install uses) builds the package as ament_python
in a fresh workspace; the test checks the installed layout `ros2 run` / `ros2 launch` rely on and
runs an installed node with the environment `source install/setup.bash` gives, with no source
tree on the path: the code, its config/models/calibration and the ament index all come from the
install. The entry scripts' shebang is colcon's interpreter (the system python3 on a ROS install);
here they are started with this test's interpreter, which has rclpy. scripts/test.sh installs
colcon into .venv-colcon and sets COLCON.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from postbc_ros.ros.bootstrap import dds_env
from .harness import Probe, stop_node_process, unique_domain

ROOT = Path(__file__).resolve().parents[2]
COLCON = os.environ.get("COLCON")
pytestmark = pytest.mark.skipif(not COLCON, reason="set COLCON to colcon-common-extensions' colcon (scripts/test.sh does)")


def _package_files() -> list[str]:
    """What a clone of the repository holds (tracked + new, not ignored), tests and bench excluded."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [f for f in out if f and not f.startswith(("tests/", "bench/")) and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ros2_ws")
    src = ws / "src" / "postbc_ros"
    src.mkdir(parents=True)
    tar = ws / "src.tar"
    with tarfile.open(tar, "w") as t:
        for f in _package_files():
            t.add(ROOT / f, arcname=f)
    with tarfile.open(tar) as t:
        t.extractall(src, filter="data")
    tar.unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    env["COLCON_HOME"] = str(ws / ".colcon")  # no user defaults
    res = subprocess.run([COLCON, "build", "--packages-select", "postbc_ros", "--base-paths", "src"], cwd=ws,
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return ws


def _sourced_env(ws: Path) -> dict[str, str]:
    """The environment after `source install/setup.bash`, starting from one without the checkout."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    out = subprocess.run(["bash", "-c", "source install/setup.bash >/dev/null && env -0"], cwd=ws, env=base,
                         capture_output=True, check=True).stdout.decode()
    return dict(kv.split("=", 1) for kv in out.split("\0") if "=" in kv)


def test_installed_layout_has_every_executable_launch_file_and_data_folder(workspace):
    prefix = workspace / "install" / "postbc_ros"
    nodes = re.findall(r'"(\w+)"', re.search(r"NODES = \[(.*?)\]", (ROOT / "setup.py").read_text(), re.S).group(1))
    for exe in [*nodes, "postbc"]:  # `ros2 run postbc_ros <exe>` looks in lib/<package>/
        assert (prefix / "lib" / "postbc_ros" / exe).is_file(), exe
    share = prefix / "share" / "postbc_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "postbc_ros").is_file()
    assert (share / "package.xml").is_file()
    for folder in ("launch", "config", "models", "calibration"):
        want = sorted(p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*") if p.is_file()
                      and "__pycache__" not in p.parts)
        got = sorted(p.relative_to(share / folder) for p in (share / folder).rglob("*") if p.is_file())
        assert got == want, folder


def test_installed_package_finds_its_data_through_the_ament_index(workspace):
    env = _sourced_env(workspace)
    prefix = workspace / "install" / "postbc_ros"
    code = ("import postbc_ros, postbc_ros.resources as r; print(postbc_ros.__file__); "
            "[print(n, r.resource_dir(n)) for n in sorted(r.MARKERS)]")
    out = subprocess.run([sys.executable, "-c", code], cwd=workspace, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0].startswith(str(prefix / "lib")), lines[0]  # the installed copy, not the checkout
    share = prefix / "share" / "postbc_ros"
    assert lines[1:4] == [f"calibration {share / 'calibration'}", f"config {share / 'config'}",
                          f"models {share / 'models'}"]
    # without the workspace sourced (no ament index) the same install names what is missing
    env.pop("AMENT_PREFIX_PATH")
    out = subprocess.run([sys.executable, "-c", "from postbc_ros.sim.twin import models_dir; models_dir()"],
                         cwd=workspace, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "postbc_ros models/ not found" in out.stderr and "set POSTBC_MODELS_DIR" in out.stderr


def test_installed_node_runs_from_the_install_tree(workspace):
    dom = unique_domain()
    env = dds_env(domain_id=dom, base=_sourced_env(workspace))
    env.setdefault("MUJOCO_GL", "egl")
    exe = workspace / "install" / "postbc_ros" / "lib" / "postbc_ros" / "sim_node"
    proc = subprocess.Popen([sys.executable, str(exe), "--ros-args", "-p", "robot:=widowx", "-p", "task:=reach"],
                            cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    from sensor_msgs.msg import JointState

    from postbc_ros.ros import qos

    probe = Probe(dom)
    try:
        js = probe.subscribe(JointState, "/joint_states", qos.STATE)
        probe.wait_for(lambda: len(js) >= 3, 60, "joint_states from the installed sim_node")
        assert "waist" in js[-1].name
    finally:
        probe.close()
        out = stop_node_process(proc, signal.SIGINT, 15)
    assert proc.returncode == 0, out
    assert "twin widowx/reach" in out
