"""Demonstrations in the LeRobotDataset v3.0 layout: writer, reader, training windows, recording.

* `DatasetWriter(root, features, fps, robot_type)`: add_frame / save_episode(task, success);
  crash-safe per episode, reopening a folder resumes it (one writer per folder, flock).
* `DemoDataset(root)`: ours or any LeRobot v3 dataset (image/state features; video features are
  skipped — no video decoder on CPU-only torch here, so we record PNG frames, dtype "image").
* `chunk_windows(ds, obs_history, horizon)`: training windows with LeRobot's padding rules.
* `collect_episodes` / `EpisodeRecorder` (postbc_ros.data.collect): the recording path.

ROS-free: pyarrow + numpy (+ opencv for PNG frames). See docs/interfaces.md (postbc_ros.data).
The official `lerobot` LeRobotDataset reads these folders (tests/data/test_lerobot_compat.py).
"""
from postbc_ros.data.lerobot_format import CODEBASE_VERSION, DatasetError
from postbc_ros.data.reader import DemoDataset
from postbc_ros.data.windows import chunk_windows
from postbc_ros.data.writer import DatasetWriter

__all__ = [
    "CODEBASE_VERSION",
    "DatasetError",
    "DatasetWriter",
    "DemoDataset",
    "chunk_windows",
    "collect_episodes",
    "EpisodeRecorder",
    "features_from_env",
]


def __getattr__(name):  # collect pulls in gymnasium; import it only when asked for
    if name in ("collect_episodes", "EpisodeRecorder", "features_from_env", "EpisodeResult"):
        from postbc_ros.data import collect

        return getattr(collect, name)
    raise AttributeError(name)
