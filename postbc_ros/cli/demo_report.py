"""What `postbc demo` reports: the pretrained policy's success before finetuning (the baseline), the
success per block of finetuning episodes, how far the last blocks rose above the baseline, and the
plot of both (PNG)."""
from __future__ import annotations

from typing import Any

#: evaluation episodes of the pretrained policy before finetuning (the baseline of the plot)
PRETRAINED_EVAL_EPISODES = 50
#: episode seeds of that evaluation: disjoint from the demonstrations' (seed + 10 000 ...) and the twin's
PRETRAINED_EVAL_SEED = 50_000
#: the finetuning blocks whose mean is compared with the baseline ("the rise")
LAST_BLOCKS = 3


def evaluate_pretrained(checkpoint, robot: str, task: str, episodes: int, seed: int = PRETRAINED_EVAL_SEED) -> dict:
    """Success of the pretrained checkpoint on the twin task, sampling w ~ N(0, I) as the policy node
    does before any learner weights arrive (`postbc eval`'s rollout)."""
    from postbc_ros.learning.evaluate import env_kwargs_for, evaluate_policy
    from postbc_ros.learning.policy_io import load_policy
    from postbc_ros.sim import make_env

    policy = load_policy(checkpoint, device="cpu")
    env = make_env(robot, task, control="ee_delta", **env_kwargs_for(policy))
    try:
        res = evaluate_policy(policy, env, episodes, seed=seed, device="cpu", progress=True)
    finally:
        env.close()
    return {"success_rate": res["success_rate"], "episodes": res["episodes"], "seed": seed}


def read_episode_log(path) -> list[dict]:
    """The episode manager's records (core.episode_protocol) from its JSONL log so far; a last line
    still being written is left for the next read."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def latched_arms(records: dict[str, list[dict]]) -> dict[str, str]:
    """{namespace: refusal} for every robot whose arm refuses episodes because it latched (its last
    arm_refused record begins with LATCHED_REFUSAL and no arm_accepted followed)."""
    from postbc_ros.core.arm_controller import LATCHED_REFUSAL

    out = {}
    for ns, log in records.items():
        arm = [r for r in log if r.get("event") in ("arm_refused", "arm_accepted")]
        if arm and arm[-1]["event"] == "arm_refused" and str(arm[-1].get("message", "")).startswith(LATCHED_REFUSAL):
            out[ns] = arm[-1]["message"]
    return out


def success_blocks(episodes: list[dict], block: int) -> list[dict[str, Any]]:
    """Consecutive blocks of `block` episodes (the last one may be shorter) with their success rate."""
    out = []
    for i in range(0, len(episodes), block):
        blk = episodes[i: i + block]
        out.append({"first_episode": i + 1, "last_episode": i + len(blk), "episodes": len(blk),
                    "success_rate": sum(bool(e["success"]) for e in blk) / len(blk)})
    return out


def rise(blocks: list[dict], pretrained_success: float | None, last: int = LAST_BLOCKS) -> dict[str, Any]:
    """Mean success of the last `last` full blocks and its difference to the pretrained baseline."""
    full = [b for b in blocks if b["episodes"] == blocks[0]["episodes"]] if blocks else []
    tail = full[-last:]
    mean = sum(b["success_rate"] for b in tail) / len(tail) if tail else None
    diff = None if mean is None or pretrained_success is None else mean - pretrained_success
    return {"last_blocks": len(tail), "last_blocks_mean": mean, "improvement_over_pretrained": diff}


def plot(blocks: list[dict], pretrained: float | None, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    x = [b["last_episode"] for b in blocks]
    ax.plot(x, [b["success_rate"] for b in blocks], marker="o", label="finetuning (per block)")
    if pretrained is not None:
        ax.axhline(pretrained, color="0.4", linestyle="--", label=f"pretrained ({pretrained:.2f})")
    ax.set_xlabel("finetuning episodes")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
