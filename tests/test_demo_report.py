"""The demo's report: blocks, the rise of the last blocks over the pretrained baseline, the plot."""
import pytest

from postbc_ros.cli.demo_report import plot, rise, success_blocks


def test_blocks_and_rise_over_the_pretrained_baseline(tmp_path):
    eps = [{"success": s} for s in [0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1]]
    blocks = success_blocks(eps, 2)
    assert [b["success_rate"] for b in blocks] == [0.0, 0.5, 1.0, 1.0, 0.5, 1.0]
    assert blocks[-1]["episodes"] == 1 and blocks[-1]["first_episode"] == 11
    r = rise(blocks, pretrained_success=0.25)
    # the short last block is left out: blocks 3-5 (episodes 5-10)
    assert r["last_blocks"] == 3 and r["last_blocks_mean"] == pytest.approx(2.5 / 3)
    assert r["improvement_over_pretrained"] == pytest.approx(2.5 / 3 - 0.25)
    assert rise(blocks, None)["improvement_over_pretrained"] is None
    assert rise([], 0.5) == {"last_blocks": 0, "last_blocks_mean": None, "improvement_over_pretrained": None}
    plot(blocks, 0.25, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_episode_log_reading_and_latched_arms(tmp_path):
    """The demo reads the episode manager's JSONL as it grows (a half-written last line waits for
    the next read) and sees which arms refuse episodes because they latched."""
    import json

    from postbc_ros.cli.demo_report import latched_arms, read_episode_log

    log = tmp_path / "episodes_robot1.jsonl"
    assert read_episode_log(log) == []
    recs = [{"event": "reset", "call": 1}, {"event": "episode", "episode": 0, "success": True},
            {"event": "arm_refused", "episode": 1, "t": 3.0, "message": "arm latched: frozen; run postbc arm reset"}]
    log.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"event": "epi')
    assert read_episode_log(log) == recs
    assert latched_arms({"robot1": recs}) == {"robot1": "arm latched: frozen; run postbc arm reset"}
    accepted = recs + [{"event": "arm_accepted", "episode": 1, "t": 9.0}]
    unanswered = recs[:2] + [{"event": "arm_refused", "episode": 1, "t": 3.0, "message": "arm/enable timed out"}]
    assert latched_arms({"robot1": accepted, "robot2": unanswered, "robot3": recs[:2]}) == {}
