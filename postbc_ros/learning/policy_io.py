"""Policy and ensemble checkpoints on top of the generic safetensors + JSON format.

Policy directory:
  model.safetensors   'model.<param>' (raw weights) and 'ema.<param>' (EMA weights, used by default)
  config.json         format_version, kind='diffusion_policy', method, policy (network config),
                      train (all hyperparameters, and under train.as_run what they came to on
                      this dataset: steps, epochs, batch size, LR schedules, the α used), normalization (stats, also in the tensors),
                      dataset (feature spec, names, fps, sizes), obs_keys, obs_shapes, action_dim,
                      contract (core.observation_contract: the dataset's, restricted to the features
                      the policy reads, with its chunking; absent in older checkpoints)
  ensemble/           (PostBC) the posterior ensemble, kind='posterior_ensemble'
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

import torch

from postbc_ros.core.observation_contract import (
    CHECKPOINT_KEY,
    Chunking,
    ContractError,
    ObservationContract,
    contract_from_checkpoint_config,
)
from postbc_ros.learning.checkpoint import (
    CONFIG_FILE,
    POLICY_KIND,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from postbc_ros.learning.diffusion import DiffusionPolicy, PolicyConfig
from postbc_ros.learning.ensemble import PosteriorEnsemble

ENSEMBLE_KIND = "posterior_ensemble"
ENSEMBLE_SUBDIR = "ensemble"


def _prefixed(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def save_policy(
    directory: str | os.PathLike,
    policy: DiffusionPolicy,
    ema_model: DiffusionPolicy | None = None,
    method: str = "bc",
    train_cfg: Mapping[str, Any] | None = None,
    dataset_info: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    contract: ObservationContract | None = None,
) -> Path:
    tensors = _prefixed(policy, "model")
    tensors.update(_prefixed(ema_model if ema_model is not None else policy, "ema"))
    cfg = policy.cfg
    config = {
        "method": method,
        "policy": cfg.to_json(),
        "train": dict(train_cfg or {}),
        "normalization": {
            "type": "minmax[-1,1]",
            "action": policy.action_normalizer.to_json(),
            "obs": {k: n.to_json() for k, n in policy.obs_encoder.normalizers.items()},
            "images": "uint8 / 127.5 - 1",
        },
        "dataset": dict(dataset_info or {}),
        "obs_keys": cfg.obs_keys,
        "obs_shapes": cfg.obs_shapes,
        "action_dim": cfg.action_dim,
    }
    if extra:
        config["extra"] = dict(extra)
    if contract is not None:
        config[CHECKPOINT_KEY] = contract.to_json()
    return save_checkpoint(directory, tensors, config, POLICY_KIND)


def checkpoint_contract(config: Mapping[str, Any], where: str | os.PathLike = CONFIG_FILE) -> ObservationContract:
    """The observation contract of a policy checkpoint's config: the stored one, or (older
    checkpoints) one derived from its obs shapes and dataset fields, `derived_from` saying so."""
    try:
        return contract_from_checkpoint_config(config, str(where))
    except ContractError as e:
        raise CheckpointError(f"{e}; re-save the checkpoint with `postbc pretrain`") from e


def policy_contract(policy_cfg, dataset_contract: ObservationContract, feature_names: Mapping[str, str]
                    ) -> ObservationContract:
    """The dataset's contract narrowed to what a policy trained on it reads (`feature_names`:
    policy obs key -> dataset feature) and acts with (its chunking)."""
    missing = [k for k in policy_cfg.obs_keys if k not in feature_names]
    if missing:
        raise CheckpointError(f"policy observation keys {missing} have no dataset feature name "
                              f"(feature_names: {dict(feature_names)}); the training data lost them")
    chunking = Chunking(int(policy_cfg.horizon), int(policy_cfg.n_action_steps), int(policy_cfg.obs_history))
    try:
        return dataset_contract.restricted_to([feature_names[k] for k in policy_cfg.obs_keys], chunking)
    except ContractError as e:
        raise CheckpointError(f"the dataset's observation contract does not cover the policy's inputs: {e}") from e


def _load_into(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str, where: Path) -> None:
    """Strict load with errors that name the offending tensors."""
    expected = module.state_dict()
    got = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{where / WEIGHTS_FILE}: tensors under '{prefix}.' do not match {where / CONFIG_FILE} "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}); "
            "the weights and config come from different runs — re-save the checkpoint"
        )
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{where / WEIGHTS_FILE}: tensor '{prefix}.{k}' has shape {tuple(got[k].shape)} but "
                f"{where / CONFIG_FILE} implies {tuple(v.shape)}; weights and config do not belong together"
            )
        if not torch.isfinite(got[k].float()).all():
            raise CheckpointError(f"{where / WEIGHTS_FILE}: tensor '{prefix}.{k}' contains NaN/Inf; re-train")
    module.load_state_dict(got, strict=True)


def load_policy(
    checkpoint_dir: str | os.PathLike, device: str | torch.device | None = None, use_ema: bool = True
) -> DiffusionPolicy:
    """Rebuild a `DiffusionPolicy` from a checkpoint directory (validated; eval mode)."""
    from postbc_ros.learning.train import resolve_device
    from postbc_ros.learning.train_config import METHODS

    d = Path(checkpoint_dir)
    tensors, config = load_checkpoint(d, POLICY_KIND)
    if "policy" not in config or not isinstance(config["policy"], dict):
        raise CheckpointError(f"{d / CONFIG_FILE}: field 'policy' (network config) is missing; re-save the checkpoint")
    if config.get("method") not in METHODS:
        raise CheckpointError(f"{d / CONFIG_FILE}: field 'method' is {config.get('method')!r}, expected one of {METHODS}")
    try:
        pcfg = PolicyConfig.from_json(config["policy"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{d / CONFIG_FILE}: field 'policy' is invalid: {e}; fix or re-save the config") from e
    for field_name, value in (("action_dim", pcfg.action_dim), ("obs_shapes", pcfg.obs_shapes)):
        if field_name in config and config[field_name] != value:
            raise CheckpointError(
                f"{d / CONFIG_FILE}: field '{field_name}' ({config[field_name]!r}) disagrees with "
                f"'policy.{field_name}' ({value!r}); the config was edited by hand — restore it"
            )
    policy = DiffusionPolicy(pcfg)
    _load_into(policy, tensors, "ema" if use_ema else "model", d)
    policy.method = config["method"]
    policy.checkpoint_config = config
    policy.contract = checkpoint_contract(config, d / CONFIG_FILE)
    policy.checkpoint_dir = str(d)
    return policy.to(resolve_device(device)).eval()


def save_ensemble(directory: str | os.PathLike, ensemble: PosteriorEnsemble, extra: Mapping[str, Any]) -> Path:
    config = {
        "obs_shapes": {k: list(v) for k, v in ensemble.encoder.obs_shapes.items()},
        "obs_history": ensemble.encoder.obs_history,
        "action_flat_dim": ensemble.action_flat_dim,
        "k": ensemble.k,
        "hidden": ensemble.hidden,
        "image_feature_dim": next(iter(ensemble.encoder.image_encoders.values())).out_dim
        if ensemble.encoder.image_keys else 64,
        "obs_select": ensemble.encoder.select,
        **dict(extra),
    }
    return save_checkpoint(directory, ensemble.state_dict(), config, ENSEMBLE_KIND)


def load_ensemble(directory: str | os.PathLike, device: str | torch.device | None = None) -> tuple[PosteriorEnsemble, dict]:
    from postbc_ros.learning.train import resolve_device

    d = Path(directory)
    tensors, cfg = load_checkpoint(d, ENSEMBLE_KIND)
    try:
        ens = PosteriorEnsemble(cfg["obs_shapes"], int(cfg["obs_history"]), int(cfg["action_flat_dim"]),
                                int(cfg["k"]), cfg["hidden"], int(cfg["image_feature_dim"]),
                                cfg.get("obs_select") or None)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{d / CONFIG_FILE}: ensemble config is invalid ({e!r}); re-train with postbc pretrain") from e
    got = {f"x.{k}": v for k, v in tensors.items()}
    _load_into(ens, got, "x", d)
    return ens.to(resolve_device(device)).eval(), cfg


def save_pretrain_result(directory: str | os.PathLike, result,
                         dataset_contract: ObservationContract | None = None) -> Path:
    """Write a `PretrainResult` (policy + EMA + optional ensemble) to `directory`; with the
    dataset's observation contract, the checkpoint records what it was trained on (without one,
    e.g. training on arrays, loading derives a contract and says so)."""
    data = result.data
    dataset_info = {
        "source": data.source,
        "features": data.features,
        "feature_names": data.feature_names,
        "fps": data.fps,
        "num_episodes": data.num_episodes,
        "num_samples": data.num_samples,
    }
    extra = {"info": result.info, "final_loss": result.losses[-1] if result.losses else None}
    train = asdict(result.train_cfg) | {"as_run": dict(result.as_run)}
    contract = None
    if dataset_contract is not None:
        contract = policy_contract(result.policy.cfg, dataset_contract, data.feature_names)
    d = save_policy(directory, result.policy, result.ema.model, result.train_cfg.method, train, dataset_info, extra,
                    contract)
    if result.ensemble is not None:
        save_ensemble(Path(directory) / ENSEMBLE_SUBDIR, result.ensemble,
                      {"bootstrap": result.train_cfg.bootstrap, "covariance": result.train_cfg.covariance})
    return d
