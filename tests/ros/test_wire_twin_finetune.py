"""The real-robot loop end to end through the real WidowX driver against the wire-level twin:
collect demonstrations with the `sim:=false` collect graph, pretrain PostBC on that dataset (what a
real cell records: joints + marker poses, no privileged state), then run the `sim:=false` finetune
graph: the policy acts on observation_node's observation, the learner publishes weights the policy
reloads, the scripted operator answers the real `human_reset` service between episodes, the replay
buffer stores the transitions, and the graph ends by itself after `episodes:=N` (exit 0)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import run_until_exit, unique_domain

pytest.importorskip("dynamixel_sdk")

ROOT = Path(__file__).resolve().parents[2]
DEMOS = 2
EPISODES = 5  # the "at least 5 finetune episodes"
EPISODE_TIME_LIMIT_S = 6.0  # a reach takes ~3 s; failures must not stretch the test
COLLECT_TIMEOUT_S = 90.0  # start (~5 s) + two scripted reaches + resets + shutdown, loaded CI machine
FINETUNE_TIMEOUT_S = 150.0  # start (~8 s: torch, checkpoint) + 5 episodes of <= 6 s + resets + shutdown
EXIT_TIMEOUT_S = 30.0  # a failed run's Ctrl-C: the arm holds, then the rest stop (grace 8 s each)
# a small budget: the test is about the loop, not the policy's success
PRETRAIN = ["--method", "postbc", "--steps", "200", "--ensemble-steps", "50", "--ensemble-size", "5",
            "--obs-keys", "observation.state", "--quiet"]


@pytest.mark.flaky(reruns=2, reruns_delay=5)  # real processes over DDS on 2 cores (see test_wire_twin.py)
def test_pretrain_on_a_wire_twin_dataset_then_finetune_through_the_real_driver(tmp_path):
    from postbc_ros.core.replay_store import ReplayStore
    from postbc_ros.learning.checkpoint import POLICY_KIND, read_checkpoint_config

    env = dict(os.environ, PYTHONPATH=str(ROOT), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), OMP_NUM_THREADS="1")
    cli = [sys.executable, "-m", "postbc_ros.cli.main"]
    wire = ["robot:=widowx", "sim:=false", "wire_twin:=true", "task:=reach",
            f"episode_time_limit:={EPISODE_TIME_LIMIT_S}"]
    collect = tmp_path / "collect"
    rc, text, seconds = run_until_exit(cli + ["launch", "collect", *wire, "device:=scripted", f"episodes:={DEMOS}",
                                              f"output_dir:={collect}", f"domain_id:={unique_domain()}"],
                                       env, COLLECT_TIMEOUT_S, EXIT_TIMEOUT_S)
    assert rc == 0, f"collect: exit {rc} after {seconds:.0f} s:\n" + text[-20000:]

    ckpt = tmp_path / "ckpt"
    res = subprocess.run(cli + ["pretrain", "--dataset", str(collect / "demos_robot1"), "--out", str(ckpt), *PRETRAIN],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    contract = read_checkpoint_config(ckpt, POLICY_KIND)["contract"]
    assert contract["robot_type"] == "widowx"
    assert contract["features"]["observation.state"]["source"].startswith("proprio+markers:")

    out = tmp_path / "finetune"
    rc, text, seconds = run_until_exit(cli + ["launch", "finetune", *wire, f"checkpoint:={ckpt}", "mode:=best_of_n",
                                              f"episodes:={EPISODES}", f"output_dir:={out}",
                                              f"domain_id:={unique_domain()}"],
                                       env, FINETUNE_TIMEOUT_S, EXIT_TIMEOUT_S)
    assert rc == 0, f"finetune: exit {rc} after {seconds:.0f} s:\n" + text[-20000:]
    assert "[launch] done: /robot1/episode_manager finished its work" in text, text[-5000:]
    assert "backend widowx" in text and "connected (widowx)" in text, text[-20000:]
    assert "ContractMismatch" not in text
    log = [json.loads(line) for line in (out / "episodes_robot1.jsonl").read_text().splitlines()]
    episodes = [e for e in log if e["event"] == "episode"]
    resets = [e for e in log if e["event"] == "reset"]
    assert len(episodes) == EPISODES, log
    # the real reset service before every episode, answered by the scripted operator
    assert len(resets) >= EPISODES and all(r["success"] for r in resets), resets
    assert text.count("operator answered 'reset'") >= EPISODES
    assert "loaded weights version" in text, text[-20000:]  # the policy reloaded the learner's weights
    learner = json.loads((out / "learner" / "learner.json").read_text())
    assert learner["version"] >= 1 and learner["transitions"] > 0, learner
    store = ReplayStore(out / "replay" / "robot1", mode="r")
    eps = store.episodes()
    assert sum(e.complete for e in eps) >= EPISODES - 1 and sum(e.num_steps for e in eps) > 0
    meta, arrays = store.read_step(eps[0].episode, 0)
    state_dim = len(contract["features"]["observation.state"]["names"])
    assert meta["info"]["robot"] == "robot1" and arrays["obs/state"].shape[-1] == state_dim
    print(f"\nwire twin finetune: {len(episodes)} episodes, {learner['transitions']} transitions, weights "
          f"v{learner['version']} in {seconds:.0f} s")
