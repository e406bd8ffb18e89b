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
