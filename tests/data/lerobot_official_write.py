"""Run INSIDE the separate lerobot-dataset venv (see test_lerobot_compat.py): record a small dataset
with the official LeRobotDataset writer (image + state + bool features, two tasks) and save the
values it was given to an .npz, so the test can check that DemoDataset reads them back exactly.

Usage: python lerobot_official_write.py DATASET_ROOT OUT.npz
"""
import sys

import numpy as np
import torch

if not hasattr(torch.ops, "torchvision") or not hasattr(torch.ops.torchvision, "nms"):
    _lib = torch.library.Library("torchvision", "DEF")  # see lerobot_official_dump.py
    _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")

from ledataset.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": (5,), "names": ["a", "b", "c", "d", "e"]},
    "observation.images.scene": {"dtype": "image", "shape": (10, 14, 3), "names": ["height", "width", "channel"]},
    "action": {"dtype": "float32", "shape": (4,), "names": ["dx", "dy", "dz", "gripper"]},
    "next.success": {"dtype": "bool", "shape": (1,), "names": None},
}


def main(root: str, out: str) -> None:
    ds = LeRobotDataset.create("local/official", fps=10, features=FEATURES, root=root, robot_type="ur5e",
                               use_videos=False)
    rng = np.random.default_rng(0)
    written: dict[str, list] = {k: [] for k in FEATURES}
    tasks = []
    for ep in range(3):
        n = 3 + ep
        task = "pick the cube" if ep != 1 else "open the drawer"
        for t in range(n):
            frame = {
                "observation.state": rng.standard_normal(5).astype(np.float32),
                "observation.images.scene": rng.integers(0, 256, (10, 14, 3), dtype=np.uint8),
                "action": rng.uniform(-1, 1, 4).astype(np.float32),
                "next.success": np.array([t == n - 1]),
            }
            ds.add_frame({**frame, "task": task})
            for k in FEATURES:
                written[k].append(np.asarray(frame[k]).reshape(FEATURES[k]["shape"]) if k != "next.success"
                                  else bool(frame[k][0]))
            tasks.append(task)
        ds.save_episode()
    ds.finalize()
    np.savez(out, **{k: np.stack(v) for k, v in written.items()}, task=np.array(tasks))
    print("official writer saved", ds.num_episodes, "episodes")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
