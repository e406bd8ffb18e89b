"""Run INSIDE the separate lerobot-dataset venv (see test_lerobot_compat.py): load a dataset folder with
the official `LeRobotDataset` (lerobot-dataset 0.4.4, LeRobotDataset v3.0) and dump every frame to
an .npz so the test (in the project venv) can compare values.

Usage: python lerobot_official_dump.py DATASET_ROOT OUT.npz [HORIZON OBS_HISTORY]
With HORIZON/OBS_HISTORY it also dumps LeRobot's own windows (delta_timestamps) of 'action'
(frames t..t+H-1, with action_is_pad) and 'observation.state' (frames t-h+1..t) as 'win.*'.

The PyPI torchvision wheel is built against CUDA torch, so its C extension cannot load next to
the CPU torch build; torchvision then fails at import only because it registers fake kernels for
two of its C ops (nms, qnms) unconditionally. Declaring those two op schemas first lets the
pure-Python parts (transforms) import; nothing here calls the ops.
"""
import sys

import numpy as np
import torch

if not hasattr(torch.ops, "torchvision") or not hasattr(torch.ops.torchvision, "nms"):
    _lib = torch.library.Library("torchvision", "DEF")
    _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")

from ledataset.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402


def main(root: str, out: str, horizon: int | None = None, obs_history: int | None = None) -> None:
    ds = LeRobotDataset("local/postbc_compat", root=root)
    arrays: dict[str, list] = {}
    for i in range(len(ds)):
        item = ds[i]
        for k, v in item.items():
            if k == "task":
                arrays.setdefault("task", []).append(v)
                continue
            a = v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            if ds.meta.features.get(k, {}).get("dtype") == "image":
                # LeRobot returns images as float32 CHW in [0, 1]; back to uint8 HWC exactly
                a = np.round(a * 255.0).astype(np.uint8).transpose(1, 2, 0)
            arrays.setdefault(k, []).append(a)
    dump = {k: np.stack(v) if k != "task" else np.array(v) for k, v in arrays.items()}
    dump["meta.num_episodes"] = np.array(ds.num_episodes)
    dump["meta.num_frames"] = np.array(ds.num_frames)
    dump["meta.fps"] = np.array(ds.fps)
    dump["meta.robot_type"] = np.array(str(ds.meta.robot_type))
    for k, st in ds.meta.stats.items():
        for s, v in st.items():
            dump[f"stats/{k}/{s}"] = np.asarray(v)
    if horizon:
        fps = ds.fps
        wds = LeRobotDataset("local/postbc_compat", root=root, delta_timestamps={
            "action": [t / fps for t in range(horizon)],
            "observation.state": [t / fps for t in range(1 - obs_history, 1)],
        })
        items = [wds[i] for i in range(len(wds))]
        for k in ("action", "action_is_pad", "observation.state"):
            dump[f"win.{k}"] = np.stack([it[k].numpy() for it in items])
    np.savez(out, **dump)
    print(f"official LeRobotDataset read {ds.num_episodes} episodes, {ds.num_frames} frames")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:5]))
