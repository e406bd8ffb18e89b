"""The learning bench's demonstrations: successes only by default; with --keep-failures the
demonstrator as it is, its failed episodes recorded (labelled failures) and counted in --demos."""
from __future__ import annotations


def test_keep_failures_records_the_demonstrators_failures(tmp_path):
    from postbc_ros.benchmarks.demos import record_demos
    from postbc_ros.benchmarks.learning import BenchConfig
    from postbc_ros.data.reader import DemoDataset

    labels = {}
    for keep in (False, True):
        cfg = BenchConfig(env="postbc/WidowXReachObstacle-v0", demos=8, keep_failures=keep)
        ds = DemoDataset(record_demos(cfg, 0, tmp_path / f"keep_{keep}"))
        labels[keep] = [ds.episode_success(i) for i in range(ds.num_episodes)]
    assert len(labels[False]) == len(labels[True]) == 8
    assert all(labels[False])  # the default: successful demonstrations only
    # the demonstrator's common mode runs into the post in ~40 % of the layouts: some of 8 fail
    assert False in labels[True] and True in labels[True]
