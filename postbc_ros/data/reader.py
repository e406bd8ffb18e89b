"""DemoDataset: read a LeRobotDataset v3.0 folder (ours or one recorded by LeRobot) into numpy.

Pure pyarrow + numpy (+ opencv for PNG frames). Every problem is reported as a DatasetError that
names the file or field and says what to do about it.
"""
from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
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
    EPISODES_DIR,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    DatasetError,
    decode_image,
    read_parquet,
    read_tasks,
)
from postbc_ros.data.stats import stats_from_json, unflatten_stats

log = logging.getLogger(__name__)

_REQUIRED_INFO = ("codebase_version", "fps", "features", "data_path")
_EPISODE_COLUMNS = ("episode_index", "length", "dataset_from_index", "dataset_to_index",
                    "data/chunk_index", "data/file_index")


def contract_from_info(info: dict[str, Any], where: str | os.PathLike) -> ObservationContract:
    """The observation contract of a dataset's info.json: the recorded one, or (a dataset recorded
    without one: older postbc_ros, LeRobot) one derived from robot_type, features and fps, whose
    `derived_from` says so. DatasetError when the recorded one is malformed."""
    raw = info.get(INFO_KEY)
    if raw is not None:
        try:
            return ObservationContract.from_json(raw, f"{where}: field '{INFO_KEY}'")
        except ContractError as e:
            raise DatasetError(f"{e}; restore meta/info.json or re-record the dataset") from e
    features = {k: v for k, v in (info.get("features") or {}).items()}
    if "action" not in features:
        raise DatasetError(f"{where}: no 'action' feature, so no observation contract can be derived; "
                           "a dataset for training needs one")
    return contract_from_features(
        info.get("robot_type"), features, info.get("fps"),
        derived_from=f"{where} without '{INFO_KEY}' (recorded before the observation contract or by another "
                     "tool): joint names and action space inferred from robot_type and feature names, sources "
                     "from feature names; re-record with `postbc collect` to store the real one")


def read_contract(root: str | os.PathLike) -> ObservationContract:
    """The observation contract of the dataset at `root`, from meta/info.json alone (see
    contract_from_info); logs a warning when it had to be derived."""
    path = Path(root) / INFO_PATH
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing, so {root} is not a LeRobot dataset; pass the dataset root") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not valid JSON ({e}); restore it or re-create the dataset") from e
    contract = contract_from_info(info, path)
    if contract.derived_from:
        log.warning("observation contract derived: %s", contract.derived_from)
    return contract


class DemoDataset:
    """Read-only view of a LeRobot v3 dataset.

    `.episode(i)` returns {feature: array} with vectors [T, n], scalars [T] and images
    [T, H, W, 3] uint8 (video features of datasets recorded elsewhere are skipped: no decoder here).
    """

    def __init__(self, root: str | os.PathLike, *, cache_files: int = 4, _allow_orphans: bool = False) -> None:
        self.root = Path(root)
        info_path = self.root / INFO_PATH
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset folder does not exist; record one with `postbc collect --out {self.root}`")
        if not info_path.exists():
            hint = ""
            if (self.root / "meta" / "info.json").parent.exists() is False and any(self.root.glob("*/meta/info.json")):
                hint = f" (found one in {next(self.root.glob('*/meta/info.json')).parent.parent}: point to that folder)"
            raise DatasetError(
                f"{info_path}: missing, so {self.root} is not a LeRobot dataset{hint}; pass the dataset root "
                "(the folder containing meta/) or record one with `postbc collect`"
            )
        try:
            info = json.loads(info_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(f"{info_path}: not valid JSON ({e}); restore it or re-create the dataset") from e
        missing = [k for k in _REQUIRED_INFO if k not in info]
        if missing:
            raise DatasetError(f"{info_path}: missing field(s) {missing}; this is not a LeRobot v3 info.json")
        version = str(info["codebase_version"])
        if not version.startswith("v3."):
            raise DatasetError(
                f"{info_path}: codebase_version is {version!r}, this reader needs 'v3.x'. Convert the dataset with "
                "LeRobot's `python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=...` "
                "(from v2.1) or re-record it with `postbc collect`"
            )
        self.info: dict[str, Any] = info
        self.features: dict[str, dict] = {}
        for name, ft in info["features"].items():
            if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
                raise DatasetError(f"{info_path}: feature '{name}' needs 'dtype' and 'shape', got {ft!r}")
            self.features[name] = {**ft, "shape": tuple(int(s) for s in ft["shape"])}
        self.fps = info["fps"]
        self.robot_type = info.get("robot_type")
        self.video_keys = [k for k, ft in self.features.items() if ft["dtype"] == "video"]
        if self.video_keys:
            log.warning("%s: video features %s are skipped (no video decoder here)", self.root, self.video_keys)
        self.tasks: list[str] = read_tasks(self.root / TASKS_PATH) if (self.root / TASKS_PATH).exists() else []
        self.episode_rows = self._load_episode_rows()
        if self.episode_rows and not self.tasks:
            raise DatasetError(f"{self.root / TASKS_PATH}: missing but episodes exist; restore meta/tasks.parquet")
        self.num_episodes = len(self.episode_rows)
        self.num_frames = int(self.episode_rows[-1]["dataset_to_index"]) if self.episode_rows else 0
        if not _allow_orphans and (info.get("total_episodes") not in (None, self.num_episodes)):
            log.warning(
                "%s: info.json says %s episodes, meta/episodes has %d (interrupted save?); using meta/episodes. "
                "Reopen it with DatasetWriter to repair info.json.", info_path, info.get("total_episodes"),
                self.num_episodes,
            )
        self.stats = self._load_stats()
        self._contract: ObservationContract | None = None
        self._cache: OrderedDict[Path, tuple[pa.Table, dict[int, tuple[int, int]]]] = OrderedDict()
        self._cache_files = cache_files

    # ------------------------------------------------------------------ metadata

    @property
    def contract(self) -> ObservationContract:
        """The dataset's observation contract (core.observation_contract): the one recorded in
        meta/info.json, or one derived from robot_type/features/fps (`contract.derived_from` says
        so, and a warning is logged once)."""
        if self._contract is None:
            self._contract = contract_from_info(self.info, self.root / INFO_PATH)
            if self._contract.derived_from:
                log.warning("%s: observation contract derived: %s", self.root, self._contract.derived_from)
        return self._contract

    def _load_episode_rows(self) -> list[dict[str, Any]]:
        files = sorted((self.root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))
        rows: list[dict[str, Any]] = []
        for f in files:
            table = read_parquet(f)
            missing = [c for c in _EPISODE_COLUMNS if c not in table.column_names]
            if missing:
                raise DatasetError(f"{f}: episode index lacks column(s) {missing}; this is not LeRobot v3 metadata")
            rows.extend(table.to_pylist())
        rows.sort(key=lambda r: int(r["episode_index"]))
        expect_from = 0
        for i, r in enumerate(rows):
            if int(r["episode_index"]) != i:
                raise DatasetError(
                    f"{self.root / EPISODES_DIR}: episode indices are not 0..N-1 (found {int(r['episode_index'])} at "
                    f"position {i}); the episode index is inconsistent — restore meta/episodes"
                )
            if int(r["dataset_from_index"]) != expect_from or int(r["dataset_to_index"]) - expect_from != int(r["length"]):
                raise DatasetError(
                    f"{self.root / EPISODES_DIR}: episode {i} covers frames {r['dataset_from_index']}.."
                    f"{r['dataset_to_index']} with length {r['length']}, expected to start at {expect_from}; "
                    "the episode index is inconsistent — restore meta/episodes"
                )
            expect_from = int(r["dataset_to_index"])
        return rows

    def _load_stats(self) -> dict[str, dict[str, np.ndarray]] | None:
        path = self.root / STATS_PATH
        if not path.exists():
            return None
        try:
            return stats_from_json(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(f"{path}: not valid JSON ({e}); delete it and reopen with DatasetWriter to rebuild") from e

    def episode_meta(self, i: int) -> dict[str, Any]:
        """The meta/episodes row of episode i (length, tasks, data file, success, ...) without stats."""
        self._check_index(i)
        return {k: v for k, v in self.episode_rows[i].items() if not k.startswith("stats/")}

    def episode_stats(self, i: int) -> dict[str, dict[str, np.ndarray]]:
        self._check_index(i)
        return unflatten_stats(self.episode_rows[i])

    def episode_success(self, i: int) -> bool | None:
        """The recorded success label (None when the dataset does not carry one)."""
        v = self.episode_meta(i).get("success")
        return None if v is None else bool(v)

    def episode_task(self, i: int) -> str:
        tasks = self.episode_meta(i).get("tasks") or []
        return tasks[0] if tasks else ""

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range: {self.root} has {self.num_episodes} episodes")

    def __len__(self) -> int:
        return self.num_episodes

    def __repr__(self) -> str:
        return (f"DemoDataset({str(self.root)!r}, episodes={self.num_episodes}, frames={self.num_frames}, "
                f"fps={self.fps}, features={list(self.features)})")

    # ------------------------------------------------------------------ frames

    def _data_file(self, path: Path) -> tuple[pa.Table, dict[int, tuple[int, int]]]:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        table = read_parquet(path)
        cols = table.column_names
        for name, ft in self.features.items():
            if ft["dtype"] != "video" and name not in cols:
                raise DatasetError(
                    f"{path}: column '{name}' declared in meta/info.json is missing (columns: {cols}); "
                    "the data file does not belong to this info.json — fix info.json features or re-record"
                )
        ep = table.column("episode_index").to_numpy()
        spans: dict[int, tuple[int, int]] = {}
        if len(ep):
            change = np.flatnonzero(np.diff(ep)) + 1
            starts = np.concatenate([[0], change])
            ends = np.concatenate([change, [len(ep)]])
            for s, e in zip(starts, ends):
                if int(ep[s]) in spans:
                    raise DatasetError(f"{path}: frames of episode {int(ep[s])} are not contiguous; re-write this file")
                spans[int(ep[s])] = (int(s), int(e))
        self._cache[path] = (table, spans)
        while len(self._cache) > self._cache_files:
            self._cache.popitem(last=False)
        return table, spans

    def data_path(self, i: int) -> Path:
        r = self.episode_rows[i]
        return self.root / self.info["data_path"].format(
            chunk_index=int(r["data/chunk_index"]), file_index=int(r["data/file_index"])
        )

    def episode(self, i: int, keys: list[str] | None = None) -> dict[str, np.ndarray]:
        """All frames of episode i: {feature: [T, ...]} (only `keys` when given)."""
        self._check_index(i)
        path = self.data_path(i)
        table, spans = self._data_file(path)
        length = int(self.episode_rows[i]["length"])
        if i not in spans:
            raise DatasetError(f"{path}: holds no frames of episode {i} (meta/episodes points here); re-record it")
        s, e = spans[i]
        if e - s != length:
            raise DatasetError(
                f"{path}: episode {i} has {e - s} frames but meta/episodes says {length}; the file is "
                "inconsistent with the index — reopen with DatasetWriter (drops interrupted frames) or re-record"
            )
        part = table.slice(s, length)
        out: dict[str, np.ndarray] = {}
        for name, ft in self.features.items():
            if ft["dtype"] == "video" or (keys is not None and name not in keys):
                continue
            out[name] = self._column(part.column(name), name, ft, path)
        return out

    def _column(self, col: pa.ChunkedArray, name: str, ft: dict, path: Path) -> np.ndarray:
        shape = tuple(ft["shape"])
        n = len(col)
        if ft["dtype"] == "image":
            frames = []
            for k, v in enumerate(col.to_pylist()):
                where = f"{path}: column '{name}' row {k}"
                if v is None:
                    raise DatasetError(f"{where}: image is null; re-record this episode")
                data = v.get("bytes")
                if data is None and v.get("path"):
                    p = Path(v["path"]) if os.path.isabs(v["path"]) else self.root / v["path"]
                    if not p.exists():
                        raise DatasetError(f"{where}: image stored by path {p}, which does not exist; embed the images")
                    data = p.read_bytes()
                img = decode_image(data, where)
                if img.shape != shape:
                    raise DatasetError(
                        f"{where}: image shape {img.shape} does not match meta/info.json shape {shape}; "
                        f"fix features['{name}']['shape'] in info.json or re-record"
                    )
                frames.append(img)
            return np.stack(frames) if frames else np.zeros((0, *shape), np.uint8)
        arr_type = col.type
        dtype = np.dtype(ft["dtype"])
        if pa.types.is_list(arr_type) or pa.types.is_fixed_size_list(arr_type) or pa.types.is_large_list(arr_type):
            flat = col.combine_chunks()
            lens = pc.list_value_length(flat).to_numpy(zero_copy_only=False)
            if len(shape) != 1 or (n and (lens != shape[0]).any()):
                bad = int(lens[lens != shape[0]][0]) if len(shape) == 1 and n else (int(lens[0]) if n else 0)
                raise DatasetError(
                    f"{path}: column '{name}' has vectors of length {bad}, meta/info.json declares shape {shape}; "
                    f"fix features['{name}']['shape'] or re-record"
                )
            values = flat.flatten().to_numpy(zero_copy_only=False)
            return values.astype(dtype, copy=False).reshape(n, *shape)
        if shape != (1,):
            raise DatasetError(
                f"{path}: column '{name}' holds scalars, meta/info.json declares shape {shape}; "
                f"fix features['{name}']['shape'] or re-record"
            )
        return col.to_numpy().astype(dtype, copy=False)

    def frames(self, keys: list[str] | None = None) -> dict[str, np.ndarray]:
        """All episodes concatenated (frame order = global index)."""
        eps = [self.episode(i, keys) for i in range(self.num_episodes)]
        if not eps:
            return {}
        return {k: np.concatenate([e[k] for e in eps]) for k in eps[0]}

    def check_features(self, expected: dict[str, tuple[int, ...]]) -> None:
        """Raise if a feature the caller needs is absent or has another shape."""
        for name, shape in expected.items():
            if name not in self.features:
                raise DatasetError(f"{self.root}: feature '{name}' is missing (has {sorted(self.features)})")
            have = tuple(self.features[name]["shape"])
            if have != tuple(shape):
                raise DatasetError(
                    f"{self.root / INFO_PATH}: feature '{name}' has shape {have}, expected {tuple(shape)}; "
                    "use a dataset recorded with the same robot/obs-mode or retrain for this shape"
                )


# ---------------------------------------------------------------------- value checks
#: the action space of every dataset recorded for one of the registered arms (the twin envs'
#: ee_delta / joint_delta actions, gripper included) is [-1, 1] per entry: the action adapter clips
#: there before IK, and the arm's safety filter then holds the joint limits on the setpoints. An
#: action beyond it was never executed as recorded, and a policy trained on it learns to ask for it.
ACTION_BOUND = 1.0
ACTION_BOUND_TOL = 1e-5  # float32 rounding of a recorded action at the bound
FIX = ("re-record that episode (postbc collect / the collect graph) or write the dataset again without it; "
       "pretraining and the learner refuse datasets with such frames")


def action_bound(ds: DemoDataset) -> float | None:
    """The bound |a_i| <= bound of `ds`'s actions: ACTION_BOUND for a dataset of a registered arm
    (robot_type), None (finite values only) for one recorded elsewhere, whose action space is its own."""
    from postbc_ros.robots.registry import robot_names

    return ACTION_BOUND if ds.robot_type in robot_names() else None


def check_values(ds: DemoDataset, bound: float | None | str = "auto") -> None:
    """Refuse a dataset whose numeric features hold NaN / infinite values, or whose actions leave
    [-bound, bound] ("auto": `action_bound(ds)`; None: no bound). DatasetError naming the episode,
    its frame (and the dataset-wide frame index), the feature and its entry, and the fix."""
    bound = action_bound(ds) if bound == "auto" else bound
    keys = [k for k, ft in ds.features.items() if ft["dtype"].startswith(("float", "int", "uint"))]
    for i in range(ds.num_episodes):
        first = int(ds.episode_rows[i]["dataset_from_index"])
        for name, arr in ds.episode(i, keys).items():
            flat = np.asarray(arr).reshape(len(arr), -1)
            if flat.dtype.kind == "f" and not np.isfinite(flat).all():
                f, j = (int(x) for x in np.argwhere(~np.isfinite(flat))[0])
                raise DatasetError(f"{ds.root}: episode {i} frame {f} (dataset frame {first + f}): feature '{name}' "
                                   f"entry {j} is {flat[f, j]}, not a finite number; {FIX}")
            if name == "action" and bound is not None and (np.abs(flat) > bound + ACTION_BOUND_TOL).any():
                f, j = (int(x) for x in np.argwhere(np.abs(flat) > bound + ACTION_BOUND_TOL)[0])
                raise DatasetError(f"{ds.root}: episode {i} frame {f} (dataset frame {first + f}): action entry {j} is "
                                   f"{flat[f, j]:.6g}, outside the {ds.robot_type} action space [-{bound:g}, {bound:g}]; "
                                   f"{FIX}")
