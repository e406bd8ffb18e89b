"""LeRobotDataset v3.0 on-disk layout: paths, feature specs -> Arrow types, PNG frames, atomic files.

Matches what `lerobot` (CODEBASE_VERSION "v3.0", `src/lerobot/datasets/utils.py`) writes, so that its
`LeRobotDataset(repo_id, root=DIR)` reads our datasets and we read theirs:

* `meta/info.json`                      schema, fps, totals, path templates
* `meta/stats.json`                     per-feature min/max/mean/std/count/q01..q99 (images per channel)
* `meta/tasks.parquet`                  task string (pandas index column) -> task_index
* `meta/episodes/chunk-XXX/file-XXX.parquet`  one row per episode (index ranges, files, stats/...)
* `data/chunk-XXX/file-XXX.parquet`     one row per frame

Images use the LeRobot "image" dtype: an Arrow struct {bytes: PNG, path} (the Hugging Face `datasets`
`Image()` feature). No video: LeRobot's video path needs torchvision/torchcodec, which are not
importable on the CPU-only torch build here; PNG frames are lossless, which also makes the round
trip pixel-exact. Pure pyarrow/numpy/opencv: no ROS, no pandas, no `datasets` needed.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
DEFAULT_CHUNK_SIZE = 1000  # max files per chunk folder
DEFAULT_DATA_FILE_SIZE_IN_MB = 100  # a data file rolls over to the next one past this size
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{int(q * 100):02d}" for q in QUANTILES)

# Added to every dataset by LeRobot itself (the writer fills them in).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}

NUMERIC_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
IMAGE_DTYPES = ("image", "video")


class DatasetError(ValueError):
    """A dataset on disk (or a frame given to the writer, or the training windows read from it) is
    unusable; the message names the file/field and the fix. The one dataset error of the package:
    `postbc_ros.learning.training_data` raises it too."""


def is_image(ft: dict) -> bool:
    return ft["dtype"] in IMAGE_DTYPES


def normalize_features(features: dict[str, dict]) -> dict[str, dict]:
    """Validate a LeRobot feature dict and return a JSON-ready copy (shape as list)."""
    out: dict[str, dict] = {}
    for name, ft in features.items():
        if "/" in name:
            raise DatasetError(f"feature name '{name}' contains '/', which LeRobot forbids; rename it")
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise DatasetError(f"feature '{name}' needs a dict with 'dtype' and 'shape', got {ft!r}")
        dtype, shape = ft["dtype"], [int(s) for s in ft["shape"]]
        if dtype == "image":
            if len(shape) != 3 or shape[2] != 3:
                raise DatasetError(f"image feature '{name}' must have shape [H, W, 3], got {shape}")
        elif dtype == "video":
            raise DatasetError(
                f"feature '{name}': dtype 'video' is not written by postbc_ros (no torchvision video "
                "encoder on this machine); use dtype 'image' (PNG frames in parquet)"
            )
        elif dtype in NUMERIC_DTYPES:
            if len(shape) != 1:
                raise DatasetError(f"feature '{name}': only 1-D numeric features are supported, got shape {shape}")
        else:
            raise DatasetError(f"feature '{name}': unsupported dtype '{dtype}' (use one of {NUMERIC_DTYPES} or 'image')")
        names = ft.get("names")
        if dtype == "image" and names is None:
            names = ["height", "width", "channel"]
        out[name] = {"dtype": dtype, "shape": shape, "names": names}
    return out


def arrow_type(ft: dict) -> pa.DataType:
    """The Arrow type `datasets` uses for a LeRobot feature (see get_hf_features_from_features)."""
    if ft["dtype"] == "image":
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    value = pa.from_numpy_dtype(np.dtype(ft["dtype"]))
    if list(ft["shape"]) == [1]:
        return value
    return pa.list_(value, int(ft["shape"][0]))


def hf_feature_json(ft: dict) -> dict:
    """The `datasets` Features JSON for one feature (stored in the parquet 'huggingface' metadata)."""
    if ft["dtype"] == "image":
        return {"_type": "Image"}
    value = {"dtype": ft["dtype"], "_type": "Value"}
    if list(ft["shape"]) == [1]:
        return value
    return {"feature": value, "length": int(ft["shape"][0]), "_type": "List"}


def data_schema(features: dict[str, dict]) -> pa.Schema:
    """Arrow schema of data/*.parquet, with the Hugging Face metadata so `datasets` decodes images."""
    fields = [pa.field(name, arrow_type(ft)) for name, ft in features.items() if ft["dtype"] != "video"]
    hf = {"info": {"features": {n: hf_feature_json(ft) for n, ft in features.items() if ft["dtype"] != "video"}}}
    return pa.schema(fields, metadata={b"huggingface": json.dumps(hf).encode()})


def numpy_dtype(ft: dict) -> np.dtype:
    return np.dtype(ft["dtype"])


# --------------------------------------------------------------------------- images (PNG)


def encode_png(img: np.ndarray, compression: int = 1) -> bytes:
    """RGB uint8 HxWx3 -> PNG bytes (lossless). Level 1: ~5x faster than the default, ~same size."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:  # pragma: no cover - opencv only fails on invalid shapes, checked by the caller
        raise DatasetError(f"PNG encoding failed for an image of shape {img.shape}")
    return buf.tobytes()


def decode_image(data: bytes, where: str) -> np.ndarray:
    """PNG/JPEG bytes -> RGB uint8 HxWx3 (grayscale/RGBA are converted to RGB)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise DatasetError(f"{where}: image bytes cannot be decoded (corrupt frame); re-record this episode")
    return arr[..., ::-1]


# --------------------------------------------------------------------------- atomic files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[str]:
    """Yield a temp file path in `path`'s folder to write; then fsync it and os.replace it onto
    `path` (readers see the old file or the new one, never half of one) and fsync the folder. On
    any error, including KeyboardInterrupt, the temp file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=4, ensure_ascii=False) + "\n").encode())


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    with _atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="snappy")


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """pq.read_table with an error that names the file and the fix.

    Read through one open handle: given a path, pyarrow takes the size from a stat and then reopens
    the file, so a writer's atomic replace in between (a live recorder) looked like a truncated file.
    """
    try:
        with open(path, "rb") as f:
            return pq.read_table(f, columns=columns)
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: file is missing but the dataset metadata references it; restore it or remove the "
            "episodes that point to it from meta/episodes"
        ) from None
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(
            f"{path}: not a readable parquet file ({e}). It is truncated or corrupt; restore it from a "
            "backup or delete it together with the episodes that reference it in meta/episodes"
        ) from e


# --------------------------------------------------------------------------- tasks.parquet


def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet as pandas would write DataFrame({'task_index': ...}, index=tasks)."""
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
             "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema(
        [("task_index", pa.int64()), ("__index_level_0__", pa.large_string())],
        metadata={b"pandas": json.dumps(pandas_meta).encode()},
    )
    return pa.table({"task_index": list(range(len(tasks))), "__index_level_0__": list(tasks)}, schema=schema)


def read_tasks(path: Path) -> list[str]:
    """Task strings ordered by task_index, from a tasks.parquet written by pandas or by us.

    The task string is the pandas index (column '__index_level_0__' or a named index such as
    'task'), or a plain 'task' column.
    """
    table = read_parquet(path)
    cols = table.column_names
    if "task_index" not in cols:
        raise DatasetError(f"{path}: no 'task_index' column (columns: {cols}); rewrite meta/tasks.parquet")
    text_col = None
    md = table.schema.metadata or {}
    if b"pandas" in md:
        idx = json.loads(md[b"pandas"]).get("index_columns", [])
        text_col = next((c for c in idx if isinstance(c, str) and c in cols), None)
    if text_col is None:
        text_col = "task" if "task" in cols else next((c for c in cols if c != "task_index"), None)
    if text_col is None:
        raise DatasetError(f"{path}: no task text column (columns: {cols}); rewrite meta/tasks.parquet")
    index = table.column("task_index").to_pylist()
    text = table.column(text_col).to_pylist()
    out = [""] * len(index)
    for i, t in zip(index, text):
        if not 0 <= i < len(index):
            raise DatasetError(f"{path}: task_index {i} is out of range 0..{len(index) - 1}")
        out[i] = t
    return out


def chunk_file_after(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """The next (chunk, file) pair, as lerobot's update_chunk_file_indices."""
    if file_index == chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1
