"""DatasetWriter: records episodes into a LeRobotDataset v3.0 folder, crash-safe per episode.

Crash safety: frames of the episode in flight live in memory only. `save_episode` writes, in
order, the data file, tasks, the episode index, stats and info — each as temp file + fsync +
os.replace — so a process killed at any instant leaves the previously saved episodes intact and
loses at most the episode in flight. The episode index (meta/episodes) is the commit point:
frames written to a data file but not yet indexed are "orphans"; reopening the folder with a
DatasetWriter removes them and brings info/stats back in line (resume collection).
"""
from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from postbc_ros.core.observation_contract import (
    INFO_KEY,
    ContractError,
    ObservationContract,
    contract_from_features,
)
from postbc_ros.data.lerobot_format import (
    CODEBASE_VERSION,
    DATA_PATH,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_DATA_FILE_SIZE_IN_MB,
    DEFAULT_FEATURES,
    DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    EPISODES_PATH,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    DatasetError,
    atomic_write_json,
    atomic_write_parquet,
    chunk_file_after,
    data_schema,
    encode_png,
    is_image,
    normalize_features,
    read_parquet,
    tasks_table,
)
from postbc_ros.data.stats import aggregate_stats, episode_stats, flatten_stats, stats_to_json

log = logging.getLogger(__name__)

LOCK_NAME = ".postbc_writer.lock"  # at the dataset root; ignored by LeRobot readers


def _episode_meta_table(rows: list[dict[str, Any]]) -> pa.Table:
    """One row per episode; columns are the union over rows (missing -> null)."""
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    return pa.table({k: [r.get(k) for r in rows] for k in keys})


class DatasetWriter:
    """Append episodes to a LeRobot v3 dataset at `root` (created, or reopened to resume).

    `features` are the recorded features (LeRobot dicts {dtype, shape, names}); the LeRobot
    bookkeeping columns (timestamp, frame_index, episode_index, index, task_index) are added.
    When `root` already holds a dataset, `features`/`fps` may be omitted; if given they must
    match the existing dataset.

    `contract` (core.observation_contract) is stored in meta/info.json under "observation_contract"
    (LeRobot readers ignore the key); without one the writer derives it from `robot_type`,
    `features` and `fps` by the package's naming convention (`contract_from_features`), so every
    recorder stores one. Resuming a dataset with a contract checks the new one against it.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        features: dict[str, dict] | None = None,
        fps: float | None = None,
        robot_type: str | None = None,
        *,
        data_files_size_in_mb: float = DEFAULT_DATA_FILE_SIZE_IN_MB,
        chunks_size: int = DEFAULT_CHUNK_SIZE,
        png_compression: int = 1,
        contract: ObservationContract | None = None,
    ) -> None:
        self.root = Path(root)
        self.png_compression = png_compression
        self._frames: list[dict[str, Any]] = []
        self._image_raw: dict[str, list[np.ndarray]] = {}
        self._lock_fd: int | None = None
        self._lock()
        try:
            self._init(features, fps, robot_type, data_files_size_in_mb, chunks_size, contract)
        except BaseException:
            self.close()
            raise

    def _init(self, features, fps, robot_type, data_files_size_in_mb, chunks_size, contract) -> None:
        if contract is not None and robot_type is None:
            robot_type = contract.robot_type
        if (self.root / INFO_PATH).exists():
            self._open_existing(features, fps, robot_type)
            self._resume_contract(features, fps, robot_type, contract)
        else:
            if features is None or fps is None:
                raise DatasetError(
                    f"{self.root}: no dataset there yet; DatasetWriter needs `features` and `fps` to create one"
                )
            user = normalize_features(features)
            for k in DEFAULT_FEATURES:
                user.pop(k, None)
            self.features = {**user, **{k: dict(v) for k, v in DEFAULT_FEATURES.items()}}
            contract = self._new_contract(user, fps, robot_type, contract)
            self.info = {
                "codebase_version": CODEBASE_VERSION,
                "robot_type": robot_type,
                "total_episodes": 0,
                "total_frames": 0,
                "total_tasks": 0,
                "chunks_size": int(chunks_size),
                "data_files_size_in_mb": data_files_size_in_mb,
                "video_files_size_in_mb": DEFAULT_VIDEO_FILE_SIZE_IN_MB,
                "fps": int(fps) if float(fps).is_integer() else float(fps),
                "splits": {},
                "data_path": DATA_PATH,
                "video_path": None,
                "features": self.features,
            }
            if contract is not None:
                self.info[INFO_KEY] = contract.to_json()
            self.tasks: list[str] = []
            self._meta_rows: list[dict[str, Any]] = []  # rows of the current meta/episodes file
            self._meta_file = (0, 0)
            self._ep_stats: list[dict] = []
            self._data_file = (0, 0)
            self._data_table: pa.Table | None = None
            self._num_episodes = 0
            self._num_frames = 0
            atomic_write_json(self.root / INFO_PATH, self.info)
        self._schema = data_schema(self.features)
        self._user_features = {k: v for k, v in self.features.items() if k not in DEFAULT_FEATURES}

    @property
    def contract(self) -> ObservationContract | None:
        """The observation contract in meta/info.json (None: a dataset recorded without one)."""
        raw = self.info.get(INFO_KEY)
        return None if raw is None else ObservationContract.from_json(raw, f"{self.root / INFO_PATH}: '{INFO_KEY}'")

    def _new_contract(self, features: dict, fps, robot_type, contract: ObservationContract | None
                      ) -> ObservationContract | None:
        """The given contract, checked against the features, fps and robot; or one derived from them
        (None for a dataset without an 'action' feature: nothing a policy could be trained on)."""
        if contract is None and "action" not in features:
            return None
        derived = contract_from_features(robot_type, features, fps)
        if contract is None:
            return derived
        where = f"{self.root}: the observation contract given to DatasetWriter"
        if contract.robot_type != robot_type:
            raise DatasetError(f"{where} is for robot {contract.robot_type!r}, robot_type is {robot_type!r}; "
                               "pass the same robot to both")
        mine = derived.feature_map
        for f in contract.features:
            have = mine.get(f.name)
            if have is None or have.shape != f.shape or have.dtype != f.dtype:
                raise DatasetError(f"{where} lists {f.name} as {f.dtype} {list(f.shape)}, the features have "
                                   f"{None if have is None else (have.dtype, list(have.shape))}; build both from the same env")
        if contract.action.dim != derived.action.dim:
            raise DatasetError(f"{where} has a {contract.action.dim}-D action, the 'action' feature is "
                               f"{derived.action.dim}-D; build both from the same env")
        if contract.control_rate_hz is not None and abs(contract.control_rate_hz - float(fps)) > 1e-6 * float(fps):
            raise DatasetError(f"{where} says {contract.control_rate_hz} Hz, fps is {fps}; pass the same rate")
        return contract

    def _resume_contract(self, features, fps, robot_type, contract: ObservationContract | None) -> None:
        """Resuming: what is recorded now must fit the contract already in info.json."""
        try:
            existing = self.contract
        except ContractError as e:
            raise DatasetError(f"{e}; fix meta/info.json or record into a new --out folder") from e
        if existing is None:
            return  # an older dataset: its contract is derived when read (DemoDataset.contract)
        if contract is None:
            if features is None or robot_type is None or "action" not in features:
                return
            user = {k: v for k, v in normalize_features(features).items() if k not in DEFAULT_FEATURES}
            contract = contract_from_features(robot_type, user, fps if fps is not None else self.fps)
        fatal = [m for m in existing.check(contract, what="dataset") if m.fatal]
        if fatal:
            lines = "; ".join(str(m) for m in fatal)
            raise DatasetError(f"{self.root}: the dataset was recorded under another observation contract ({lines}); "
                               "record into a new --out folder")

    def _lock(self) -> None:
        """One writer per folder: an flock the kernel releases when the process dies (also on SIGKILL)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DatasetError(
                f"{self.root}: another recorder (pid {holder}) is writing this dataset; stop it first or record "
                "into another --out folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    # ------------------------------------------------------------------ reopen / repair

    def _open_existing(self, features, fps, robot_type) -> None:
        from postbc_ros.data.reader import DemoDataset

        ds = DemoDataset(self.root, _allow_orphans=True)
        self.info = dict(ds.info)
        self.features = {k: {**v, "shape": list(v["shape"])} for k, v in ds.features.items()}
        if any(ft["dtype"] == "video" for ft in self.features.values()):
            raise DatasetError(f"{self.root}: has video features; postbc_ros can only append to image/state datasets")
        if features is not None:
            want = normalize_features(features)
            for k, ft in want.items():
                have = self.features.get(k)
                if have is None or have["dtype"] != ft["dtype"] or list(have["shape"]) != ft["shape"]:
                    raise DatasetError(
                        f"{self.root}: existing dataset has feature {k!r} = {have}, the recorder wants {ft}; "
                        "record into a new --out folder or use the same robot/obs-mode as before"
                    )
        if fps is not None and abs(float(ds.fps) - float(fps)) > 1e-9:
            raise DatasetError(f"{self.root}: existing dataset is recorded at {ds.fps} fps, not {fps}; use a new folder")
        if robot_type is not None and self.info.get("robot_type") not in (None, robot_type):
            raise DatasetError(
                f"{self.root}: existing dataset is for robot {self.info.get('robot_type')!r}, not {robot_type!r}; "
                "record into a new --out folder"
            )
        self.tasks = list(ds.tasks)
        self._num_episodes = ds.num_episodes
        self._num_frames = ds.num_frames
        self._ep_stats = [ds.episode_stats(i) for i in range(ds.num_episodes)]
        if ds.num_episodes:
            last = ds.episode_meta(ds.num_episodes - 1)
            self._meta_file = (int(last["meta/episodes/chunk_index"]), int(last["meta/episodes/file_index"]))
            self._meta_rows = [r for r in ds.episode_rows if
                               (int(r["meta/episodes/chunk_index"]), int(r["meta/episodes/file_index"])) == self._meta_file]
            self._data_file = (int(last["data/chunk_index"]), int(last["data/file_index"]))
        else:
            self._meta_file, self._meta_rows, self._data_file = (0, 0), [], (0, 0)
        self._data_table = None
        self._repair(ds)

    def _data_path(self, cf: tuple[int, int]) -> Path:
        return self.root / self.info["data_path"].format(chunk_index=cf[0], file_index=cf[1])

    def _repair(self, ds) -> None:
        """Drop what a crash inside save_episode may have left: temp files, orphan frames, stale info."""
        for tmp in list(self.root.glob("data/*/.*.tmp")) + list(self.root.glob("meta/**/.*.tmp")):
            tmp.unlink(missing_ok=True)
        referenced = {(int(r["data/chunk_index"]), int(r["data/file_index"])) for r in ds.episode_rows}
        for f in sorted(self.root.glob("data/chunk-*/file-*.parquet")):
            cf = (int(f.parent.name.split("-")[1]), int(f.stem.split("-")[1]))
            if cf in referenced:
                continue
            if not referenced or cf > max(referenced):
                log.warning("%s: removing data file with no indexed episode (left by an interrupted save)", f)
                f.unlink()
        path = self._data_path(self._data_file)
        if path.exists():
            table = read_parquet(path)
            keep = pc.less(table.column("index"), pa.scalar(self._num_frames, pa.int64()))
            if not pc.all(keep).as_py():
                log.warning("%s: dropping frames of an episode whose save was interrupted", path)
                table = table.filter(keep)
                atomic_write_parquet(path, table)
            self._data_table = table
        stale = (
            self.info.get("total_episodes") != self._num_episodes
            or self.info.get("total_frames") != self._num_frames
            or self.info.get("total_tasks") != len(self.tasks)
        )
        if stale and self._num_episodes:
            log.warning("%s: meta/info.json lagged behind meta/episodes; rewriting it", self.root)
            self._write_summary()

    # ------------------------------------------------------------------ recording

    @property
    def num_episodes(self) -> int:
        return self._num_episodes

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def fps(self) -> float:
        return float(self.info["fps"])

    @property
    def episode_length(self) -> int:
        """Frames buffered for the episode in flight."""
        return len(self._frames)

    def add_frame(self, frame: dict[str, Any]) -> None:
        """Buffer one frame of the episode in flight (validated against the features).

        Every recorded feature must be present; 'timestamp' is optional (frame_index / fps), and a
        'task' key is ignored (the task is given to save_episode).
        """
        row: dict[str, Any] = {}
        for name, ft in self._user_features.items():
            if name not in frame:
                raise DatasetError(
                    f"frame is missing feature '{name}' (got {sorted(frame)}); every frame needs all of "
                    f"{sorted(self._user_features)}"
                )
            value = frame[name]
            if is_image(ft):
                img = np.asarray(value)
                if img.dtype != np.uint8 or list(img.shape) != list(ft["shape"]):
                    raise DatasetError(
                        f"frame field '{name}': expected uint8 image {tuple(ft['shape'])}, got {img.dtype} {img.shape}; "
                        "pass the camera image as HxWx3 uint8 RGB"
                    )
                row[name] = {"bytes": encode_png(img, self.png_compression),
                             "path": f"frame-{len(self._frames):06d}.png"}
                self._image_raw.setdefault(name, []).append(img.copy())
            else:
                arr = np.asarray(value)
                shape = tuple(ft["shape"])
                if arr.shape not in (shape, () if shape == (1,) else shape):
                    raise DatasetError(f"frame field '{name}': expected shape {shape}, got {arr.shape}")
                if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                    raise DatasetError(f"frame field '{name}' contains NaN/Inf: {arr}; fix the source before recording")
                arr = arr.astype(ft["dtype"], copy=False)
                row[name] = arr.item() if shape == (1,) else arr.copy()
        fi = len(self._frames)
        ts = frame.get("timestamp")
        row["timestamp"] = float(np.float32(fi / self.fps if ts is None else np.asarray(ts).item()))
        row["frame_index"] = fi
        self._frames.append(row)

    def clear_episode(self) -> None:
        """Discard the episode in flight (operator abort / re-do)."""
        self._frames = []
        self._image_raw = {}

    def _columns(self, task_index: int) -> dict[str, Any]:
        n = len(self._frames)
        cols: dict[str, Any] = {}
        for name, ft in self._user_features.items():
            vals = [f[name] for f in self._frames]
            if is_image(ft):
                cols[name] = vals
            else:
                cols[name] = np.stack([np.asarray(v) for v in vals]).astype(ft["dtype"])
        cols["timestamp"] = np.array([f["timestamp"] for f in self._frames], dtype=np.float32)
        cols["frame_index"] = np.arange(n, dtype=np.int64)
        cols["episode_index"] = np.full(n, self._num_episodes, dtype=np.int64)
        cols["index"] = np.arange(self._num_frames, self._num_frames + n, dtype=np.int64)
        cols["task_index"] = np.full(n, task_index, dtype=np.int64)
        return cols

    def _arrow(self, cols: dict[str, Any]) -> pa.Table:
        arrays = []
        for field in self._schema:
            v = cols[field.name]
            if isinstance(v, np.ndarray) and v.ndim == 2:
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), field.type.value_type),
                                                                v.shape[1]))
            else:
                arrays.append(pa.array(v, type=field.type))
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def save_episode(self, task: str, success: bool | None = None) -> int:
        """Write the buffered episode (atomically) and return its episode_index.

        When a write fails (disk full ...) nothing of the episode is committed, the saved episodes
        and this writer's state are as before, the frames stay buffered, and DatasetError says
        why: free space and call save_episode again (or clear_episode)."""
        if not self._frames:
            raise DatasetError("save_episode: the episode has no frames; call add_frame first (or clear_episode)")
        if not isinstance(task, str) or not task:
            raise DatasetError(f"save_episode: task must be a non-empty string, got {task!r}")
        new_task = task not in self.tasks
        task_index = self.tasks.index(task) if not new_task else len(self.tasks)
        cols = self._columns(task_index)
        stats_cols = {k: (np.stack(self._image_raw[k]) if k in self._image_raw else v) for k, v in cols.items()}
        ep_stats = episode_stats(stats_cols, self.features)
        table = self._arrow(cols)
        n = len(self._frames)

        # nothing below changes this writer's state before the commit point (3), so a failed
        # write can be retried
        # 1. data file (rewritten whole: old episodes + this one, atomically); roll over when full
        cf, data_table = self._data_file, self._data_table
        if data_table is not None and self._num_episodes:
            size_mb = data_table.nbytes / 2**20
            per_frame = size_mb / max(1, data_table.num_rows)
            if size_mb + per_frame * n >= float(self.info["data_files_size_in_mb"]):
                cf = chunk_file_after(cf[0], cf[1], int(self.info["chunks_size"]))
                data_table = None
        merged = table if data_table is None else pa.concat_tables([data_table, table])
        tasks = self.tasks + [task] if new_task else self.tasks
        try:
            self._commit_episode(cf, merged, tasks if new_task else None, n, task, success, ep_stats)
        except OSError as e:
            raise DatasetError(
                f"{self.root}: could not save episode {self._num_episodes} ({e.strerror or e}); nothing of it was "
                f"committed, the {self._num_episodes} saved episodes are intact and its {n} frames are still "
                f"buffered. Free space under {self.root} (df -h {self.root}) and call save_episode again, or "
                "clear_episode to drop it") from e
        # in-memory state follows the committed files
        self.tasks = tasks
        self._data_file, self._data_table = cf, merged
        self._ep_stats.append(ep_stats)
        index = self._num_episodes
        self._num_episodes += 1
        self._num_frames += n
        self.clear_episode()
        # 4. stats + info (derived; rebuilt on reopen if a crash or a full disk stops them here)
        try:
            self._write_summary()
        except OSError as e:
            log.warning("%s: episode %d is saved, but meta/stats.json and meta/info.json could not be updated "
                        "(%s); the next save_episode or reopening the folder brings them up to date",
                        self.root, index, e.strerror or e)
        return index

    def _commit_episode(self, cf, merged: pa.Table, tasks: list[str] | None, n: int, task: str,
                        success: bool | None, ep_stats) -> None:
        """Steps 1-3 of save_episode: the data file, the tasks (when new), then the episode index,
        which commits the episode. Raises OSError, with the files as they were, or with orphan
        frames in a data file that reopening removes (module docstring)."""
        atomic_write_parquet(self._data_path(cf), merged)
        # 2. tasks
        if tasks is not None:
            atomic_write_parquet(self.root / TASKS_PATH, tasks_table(tasks))
        # 3. episode index (commit point)
        row = {
            "episode_index": self._num_episodes,
            "tasks": [task],
            "length": n,
            "data/chunk_index": cf[0],
            "data/file_index": cf[1],
            "dataset_from_index": self._num_frames,
            "dataset_to_index": self._num_frames + n,
            "success": None if success is None else bool(success),
            **flatten_stats(ep_stats),
            "meta/episodes/chunk_index": self._meta_file[0],
            "meta/episodes/file_index": self._meta_file[1],
        }
        rows = self._meta_rows + [row]
        mpath = self.root / EPISODES_PATH.format(chunk_index=self._meta_file[0], file_index=self._meta_file[1])
        atomic_write_parquet(mpath, _episode_meta_table(rows))
        self._meta_rows = rows

    def _write_summary(self) -> None:
        if self._ep_stats:
            atomic_write_json(self.root / STATS_PATH, stats_to_json(aggregate_stats(self._ep_stats)))
        self.info.update(
            total_episodes=self._num_episodes,
            total_frames=self._num_frames,
            total_tasks=len(self.tasks),
            splits={"train": f"0:{self._num_episodes}"},
            features=self.features,
        )
        atomic_write_json(self.root / INFO_PATH, self.info)

    def close(self) -> None:
        """Finish recording; an unsaved episode in flight is discarded (logged)."""
        if self._frames:
            log.warning("DatasetWriter.close: discarding %d unsaved frames of the episode in flight", len(self._frames))
        self.clear_episode()
        self._data_table = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __del__(self) -> None:
        if getattr(self, "_lock_fd", None) is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
