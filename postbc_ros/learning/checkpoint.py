"""Checkpoint directories: `model.safetensors` + `config.json`. Never pickle.

Shared by every package that saves weights (policy, posterior ensemble, RL agents):
`save_checkpoint(dir, tensors, config, kind)` / `load_checkpoint(dir, kind)`. Every failure
raises `CheckpointError` whose message names the file or field and says how to fix it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # torch is imported where tensors are handled: read_checkpoint_config needs none
    import torch

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
POLICY_KIND = "diffusion_policy"  # `kind` of a policy checkpoint (learning.policy_io)


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, corrupt, or does not match what the caller expects."""


def save_checkpoint(
    directory: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    config_json: Mapping[str, Any],
    kind: str,
) -> Path:
    """Write `tensors` (safetensors) and `config_json` (+ format_version, kind) atomically-ish.

    Files are written to temporary names and renamed, so a crash never leaves a half-written
    `model.safetensors` under the real name.
    """
    import torch
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    clean = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"save_checkpoint: tensor '{name}' is {type(t).__name__}, not a torch.Tensor")
        clean[name] = t.detach().to("cpu").contiguous()
    cfg = dict(config_json)
    cfg["format_version"] = FORMAT_VERSION
    cfg["kind"] = kind
    try:
        text = json.dumps(cfg, indent=2, sort_keys=True)
    except TypeError as e:
        raise CheckpointError(f"save_checkpoint: config for {d / CONFIG_FILE} is not JSON-serialisable: {e}") from e
    tmp_w = d / (WEIGHTS_FILE + ".tmp")
    save_file(clean, str(tmp_w), metadata={"kind": kind, "format_version": str(FORMAT_VERSION)})
    os.replace(tmp_w, d / WEIGHTS_FILE)
    tmp_c = d / (CONFIG_FILE + ".tmp")
    tmp_c.write_text(text)
    os.replace(tmp_c, d / CONFIG_FILE)
    return d


def read_checkpoint_config(directory: str | os.PathLike, kind: str | None = None) -> dict:
    """Read and validate a checkpoint's config.json alone (no weights, no torch): for checks made
    before loading, such as the observation contract."""
    d = Path(directory)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint directory {d} does not exist; pass the --out directory of `postbc pretrain`")
    cpath = d / CONFIG_FILE
    if not cpath.is_file():
        raise CheckpointError(f"{cpath} is missing; the checkpoint is incomplete — re-save or re-train it")
    try:
        cfg = json.loads(cpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cpath} is not valid JSON ({e}); restore it from the original checkpoint") from e
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cpath} must hold a JSON object, found {type(cfg).__name__}")
    version = cfg.get("format_version")
    if version is None:
        raise CheckpointError(f"{cpath}: field 'format_version' is missing; this is not a postbc_ros checkpoint")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{cpath}: field 'format_version' is {version!r}, this postbc_ros reads version {FORMAT_VERSION}; "
            "re-train the checkpoint with this version or use the matching postbc_ros release"
        )
    if kind is not None and cfg.get("kind") != kind:
        raise CheckpointError(
            f"{cpath}: field 'kind' is {cfg.get('kind')!r} but a {kind!r} checkpoint was expected; "
            "point at the right directory"
        )
    return cfg


def load_checkpoint(directory: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and validate a checkpoint directory -> (tensors on CPU, config dict)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(directory)
    cfg = read_checkpoint_config(d, kind)
    wpath = d / WEIGHTS_FILE
    if not wpath.is_file():
        raise CheckpointError(f"{wpath} is missing; the checkpoint is incomplete — re-save or re-train it")
    try:
        tensors = load_file(str(wpath), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{wpath} is corrupt or truncated ({e}); re-copy the file or re-train the checkpoint"
        ) from e
    return tensors, cfg
