"""`postbc eval` rolls a checkpoint out in the real sim twin and reports JSON."""
from __future__ import annotations

import argparse
import json

import numpy as np


def test_eval_cmd_runs_episodes_in_the_twin(tmp_path, capsys):
    from postbc_ros.cli import eval_cmd
    from postbc_ros.learning import TrainConfig, pretrain
    from postbc_ros.learning.policy_io import save_pretrain_result
    from postbc_ros.learning.training_data import windows_from_episodes
    from postbc_ros.sim import make_env_from_id

    env = make_env_from_id("postbc/WidowXReach-v0", obs_mode="state")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    states = [np.stack([env.step(env.action_space.sample())[0]["state"] for _ in range(6)]) for _ in range(2)]
    env.close()
    eps = [{"obs": {"state": s.astype(np.float32)},
            "action": rng.uniform(-1, 1, size=(len(s), 4)).astype(np.float32)} for s in states]
    data = windows_from_episodes(eps, obs_history=1, horizon=2)
    res = pretrain(data, TrainConfig(method="bc", epochs=2, hidden=[16, 16], horizon=2, n_action_steps=2,
                                     seed=0, device="cpu"), progress=False)
    save_pretrain_result(tmp_path / "ck", res)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    eval_cmd.register(sub)
    args = p.parse_args(["eval", "--checkpoint", str(tmp_path / "ck"), "--env", "postbc/WidowXReach-v0",
                         "--episodes", "2", "--max-steps", "5", "--json", "--quiet", "--device", "cpu"])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out.strip().splitlines()[-1])
    # trained on arrays: no recorded observation contract, so a derived one is checked, with a warning
    assert "warning: observation contract robot_type: not checked" in cap.err and "derived from" in cap.err
    assert out["episodes"] == 2 and 0.0 <= out["success_rate"] <= 1.0
    assert 1 <= out["mean_length"] <= 5 and len(out["per_episode"]) == 2
    assert out["method"] == "bc"
    assert out["noise_scale"] == 1.0
    args = p.parse_args(["eval", "--checkpoint", str(tmp_path / "ck"), "--env", "postbc/WidowXReach-v0",
                         "--episodes", "1", "--max-steps", "3", "--json", "--quiet", "--device", "cpu",
                         "--noise-scale", "0"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["noise_scale"] == 0.0
    for bad in ("-1", "nan", "inf"):
        args = p.parse_args(["eval", "--checkpoint", str(tmp_path / "ck"), "--env", "postbc/WidowXReach-v0",
                             "--noise-scale", bad])
        assert args.func(args) == 2
        assert "--noise-scale must be a finite number >= 0" in capsys.readouterr().err
