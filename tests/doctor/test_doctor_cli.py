"""`postbc doctor` as a user runs it, here (no robot attached): the JSON schema, exit 1 with every
missing device named with its fix, the human-readable lines, exit 2 for an unknown rig."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postbc_ros.doctor.dynamixel import find_u2d2

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"name", "ok", "detail", "fix"}


def doctor(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("ROS_DOMAIN_ID", None)
    return subprocess.run([sys.executable, "-m", "postbc_ros.cli.main", "doctor", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def report():
    p = doctor("--json")
    return p.returncode, json.loads(p.stdout)


def test_json_schema_and_exit_status(report):
    rc, out = report
    assert rc == 1
    assert list(out) == ["checks"] and out["checks"]
    for c in out["checks"]:
        assert set(c) == KEYS and isinstance(c["ok"], bool)
        assert all(isinstance(c[k], str) and c[k] for k in ("name", "detail"))
        assert c["ok"] or c["fix"], f"failed check without a fix: {c}"
    names = [c["name"] for c in out["checks"]]
    assert len(names) == len(set(names))


@pytest.mark.skipif(bool(find_u2d2()), reason="a U2D2 is attached to this machine")
def test_every_missing_device_is_named_with_its_fix(report):
    c = {x["name"]: x for x in report[1]["checks"]}
    u2d2 = c["widowx: U2D2"]
    assert not u2d2["ok"] and "no U2D2" in u2d2["detail"] and "plug the U2D2" in u2d2["fix"]
    assert not c["widowx: servos"]["ok"] and c["widowx: servos"]["fix"] == "fix 'widowx: U2D2' first"
    ur = c["ur5e: controller reachable"]  # the shipped rtde.yaml has no address
    assert not ur["ok"] and ur["fix"] == "fix 'ur5e: rtde.yaml' first" and not c["ur5e: rtde.yaml"]["ok"]
    rs = c["realsense"]
    if not rs["ok"]:
        assert "no RealSense" in rs["detail"] and "USB 3" in rs["fix"]
    if not c["teleop"]["ok"]:
        assert "SpaceMouse" in c["teleop"]["detail"] and "plug in" in c["teleop"]["fix"]
    assert not c["ros: ROS_DOMAIN_ID"]["ok"]  # unset by doctor() above


def test_human_output_one_line_per_check():
    p = doctor("--rig", "widowx_twin")
    lines = p.stdout.strip().splitlines()
    checks = [ln for ln in lines if ln[:2] in ("\u2713 ", "\u2717 ")]
    assert checks and "widowx_twin: safety.yaml" in p.stdout and "ros: ROS_DOMAIN_ID" in p.stdout
    failed = [ln for ln in checks if ln.startswith("\u2717")]
    assert all(" \u2014 " in ln for ln in failed)  # each failure carries its fix
    assert p.returncode == (1 if failed else 0)


def test_unknown_rig_is_refused_with_the_choices():
    p = doctor("--rig", "nope")
    assert p.returncode == 2 and "unknown rig 'nope'" in p.stderr and "widowx" in p.stderr
