"""chunk_windows: shapes, observation-history padding (first frame repeats), action padding."""
import numpy as np
from dataset_synth import features, make_episode

from postbc_ros.data import DatasetWriter, DemoDataset, chunk_windows


def _dataset(root, lengths):
    w = DatasetWriter(root, features(), fps=10)
    eps = []
    for i, n in enumerate(lengths):
        frames = make_episode(10 + i, n)
        for f in frames:
            w.add_frame(f)
        w.save_episode("t", success=True)
        eps.append(frames)
    return DemoDataset(root), eps


def test_shapes_and_padding(tmp_path):
    ds, eps = _dataset(tmp_path, [5, 2])
    h, H = 3, 4
    win = chunk_windows(ds, obs_history=h, horizon=H)
    assert win["obs.observation.state"].shape == (7, h, 6)
    assert win["obs.observation.images.scene"].shape == (7, h, 12, 16, 3)
    assert win["obs.observation.images.scene"].dtype == np.uint8
    assert win["action"].shape == (7, H, 4) and win["action"].dtype == np.float32
    assert win["action_is_pad"].shape == (7, H) and win["action_is_pad"].dtype == bool
    assert win["episode_index"].tolist() == [0, 0, 0, 0, 0, 1, 1]

    s0 = np.stack([f["observation.state"] for f in eps[0]])
    a0 = np.stack([f["action"] for f in eps[0]])
    # frame 0: history is the first frame three times
    assert np.array_equal(win["obs.observation.state"][0], s0[[0, 0, 0]])
    # frame 1: [0, 0, 1]; frame 4: [2, 3, 4]
    assert np.array_equal(win["obs.observation.state"][1], s0[[0, 0, 1]])
    assert np.array_equal(win["obs.observation.state"][4], s0[[2, 3, 4]])
    # frame 3 of a 5-frame episode: actions 3, 4 then the last action repeated, marked as padding
    assert np.array_equal(win["action"][3], a0[[3, 4, 4, 4]])
    assert win["action_is_pad"][3].tolist() == [False, False, True, True]
    assert win["action_is_pad"][0].tolist() == [False] * 4
    # second episode does not borrow frames from the first
    s1 = np.stack([f["observation.state"] for f in eps[1]])
    a1 = np.stack([f["action"] for f in eps[1]])
    assert np.array_equal(win["obs.observation.state"][5], s1[[0, 0, 0]])
    assert np.array_equal(win["action"][6], a1[[1, 1, 1, 1]])
    assert win["action_is_pad"][6].tolist() == [False, True, True, True]
    img1 = np.stack([f["observation.images.scene"] for f in eps[1]])
    assert np.array_equal(win["obs.observation.images.scene"][6], img1[[0, 0, 1]])


def test_select_keys_and_history_one(tmp_path):
    ds, eps = _dataset(tmp_path, [3])
    win = chunk_windows(ds, obs_history=1, horizon=1, obs_keys=["observation.state"])
    assert set(win) == {"obs.observation.state", "action", "action_is_pad", "episode_index", "frame_index"}
    assert np.array_equal(win["obs.observation.state"][:, 0], np.stack([f["observation.state"] for f in eps[0]]))
    assert not win["action_is_pad"].any()
