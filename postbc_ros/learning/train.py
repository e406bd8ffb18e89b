"""Pretraining: BC, σ-BC and PostBC share one network, one optimiser and one budget.

Only the regression target differs (all in normalised action units, flattened chunk):
  bc       : a
  sigma_bc : a + σ·z,          z ~ N(0, I)        (state-independent)
  postbc   : a + α·w,          w ~ N(0, Σ(s))     (Σ from the bootstrap ensemble), each target
             noised with probability β (`posterior_mix`, 1 by default) and clean otherwise
Noise is drawn fresh every time a sample is visited (i.e. every epoch). α is the configured one,
or with `alpha_rule="auto"` the noise-fraction rule's (posterior.auto_alpha).

Budgets are gradient steps (TrainConfig.policy_budget / ensemble_budget): exactly that many
minibatches run, the last epoch cut short; the policy's learning rate follows a cosine from `lr`
to 0 over exactly those steps (no warmup), the ensemble's stays constant. `PretrainResult.as_run`
records what ran (also in the checkpoint's config.json under train.as_run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from postbc_ros.learning.bootstrap import bootstrap_weights
from postbc_ros.learning.diffusion import EMA, DiffusionPolicy, PolicyConfig
from postbc_ros.learning.ensemble import PosteriorEnsemble, fit_encoder_normalizers, train_ensemble
from postbc_ros.learning.normalization import MinMaxNormalizer
from postbc_ros.learning.obs_select import (
    action_entry_names, excluded_state_names, posterior_excluded_entries, state_selection,
)
from postbc_ros.learning.posterior import (
    PosteriorNoise, auto_alpha, ensemble_covariance, exclude_entries, factor_trace, posterior_targets, psd_factor,
    trace_cov,
)
from postbc_ros.learning.train_config import (
    AUTO_NOISE_FRACTION, IMAGE_ENSEMBLE_SIZE, STATE_ENSEMBLE_SIZE, Budget, TrainConfig,
)
from postbc_ros.learning.training_data import TrainingData

# ensemble member widths with images when `ensemble_hidden` is None (heads on the shared encoder)
IMAGE_ENSEMBLE_HIDDEN = [512, 512, 512]
# the ensemble's generator and its bootstrap draws are seeded apart from the policy's (seed + offset)
ENSEMBLE_SEED_OFFSET = 1
BOOTSTRAP_SEED_OFFSET = 2


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' (or None) -> cuda when available, else cpu."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but torch.cuda.is_available() is False; use --device cpu")
    return dev


@dataclass
class PretrainResult:
    policy: DiffusionPolicy
    ema: EMA
    ensemble: PosteriorEnsemble | None
    cov_trace: np.ndarray | None  # tr Σ(s) per training window (postbc only)
    losses: list[float]
    ensemble_losses: list[float]
    train_cfg: TrainConfig
    data: TrainingData
    info: dict[str, Any] = field(default_factory=dict)
    # what ran: budgets (steps, epochs, batch size), LR schedules, the α used (see `as_run_record`)
    as_run: dict[str, Any] = field(default_factory=dict)


def obs_tensors(data: TrainingData, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v).to(device) for k, v in data.obs.items()}


def default_ensemble_size(policy_cfg: PolicyConfig) -> int:
    return IMAGE_ENSEMBLE_SIZE if policy_cfg.has_images else STATE_ENSEMBLE_SIZE


def build_policy_config(data: TrainingData, tcfg: TrainConfig) -> PolicyConfig:
    return PolicyConfig(
        obs_shapes=data.obs_shapes(),
        action_dim=data.action_dim,
        obs_history=data.obs_history,
        horizon=data.horizon,
        n_action_steps=tcfg.n_action_steps,
        hidden=list(tcfg.hidden),
        image_feature_dim=tcfg.image_feature_dim,
        num_inference_steps=tcfg.num_inference_steps,
        obs_select=state_selection(data, tcfg.state_exclude),
    )


def posterior_from_ensemble(
    ens: PosteriorEnsemble, data: TrainingData, tcfg: TrainConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ(s) at every training window and its PSD sampling factor from a trained ensemble."""
    ens.to(device).eval()
    preds = ens.predict(obs_tensors(data, device))
    cov = ensemble_covariance(preds, tcfg.covariance)
    return cov, psd_factor(cov, tcfg.jitter)


def fit_posterior(
    data: TrainingData, policy_cfg: PolicyConfig, tcfg: TrainConfig, action_norm: MinMaxNormalizer,
    device: torch.device, progress: bool = True,
) -> tuple[PosteriorEnsemble, torch.Tensor, torch.Tensor, list[float]]:
    """Train the bootstrap ensemble -> (ensemble, Σ per window, sampling factor, loss history)."""
    k = tcfg.ensemble_size or default_ensemble_size(policy_cfg)
    hidden = tcfg.ensemble_hidden or (list(IMAGE_ENSEMBLE_HIDDEN) if policy_cfg.has_images else list(tcfg.hidden))
    gen = torch.Generator().manual_seed(tcfg.seed + ENSEMBLE_SEED_OFFSET)
    torch.manual_seed(tcfg.seed + ENSEMBLE_SEED_OFFSET)
    ens = PosteriorEnsemble(
        policy_cfg.obs_shapes, policy_cfg.obs_history, policy_cfg.action_flat_dim, k, hidden,
        policy_cfg.image_feature_dim, policy_cfg.obs_select,
    )
    fit_encoder_normalizers(ens.encoder, data.obs)
    ens.to(device)
    obs = obs_tensors(data, device)
    targets = action_norm.normalize(torch.as_tensor(data.actions)).reshape(data.num_samples, -1).to(device)
    rng = np.random.default_rng(tcfg.seed + BOOTSTRAP_SEED_OFFSET)
    weights = torch.as_tensor(bootstrap_weights(data.episode_index, k, tcfg.bootstrap, rng)).to(device)
    budget = tcfg.ensemble_budget(data.num_samples)
    losses = train_ensemble(
        ens, obs, targets, weights, batch_size=tcfg.batch_size, lr=tcfg.ensemble_lr, generator=gen,
        progress=progress, steps=budget.steps,
    )
    cov, factor = posterior_from_ensemble(ens, data, tcfg, device)
    return ens, cov, factor, losses


def action_variance(data: TrainingData, action_norm: MinMaxNormalizer) -> float:
    """tr Var(a): the variance of the demonstrated (normalised, flattened) chunks over the dataset."""
    a = action_norm.normalize(torch.as_tensor(data.actions)).reshape(data.num_samples, -1)
    return float(a.var(0, unbiased=False).sum()) if data.num_samples > 1 else 0.0


def posterior_alpha(tcfg: TrainConfig, trace_sigma: torch.Tensor, data: TrainingData,
                    action_norm: MinMaxNormalizer) -> float:
    """The α a PostBC run noises its targets with: `tcfg.alpha`, or with `alpha_rule` 'auto' the
    noise-fraction rule's α capped at it (auto_alpha, AUTO_NOISE_FRACTION)."""
    if tcfg.alpha_rule != "auto":
        return tcfg.alpha
    return auto_alpha(float(trace_sigma.mean()), action_variance(data, action_norm), tcfg.alpha, AUTO_NOISE_FRACTION)


def posterior_noise_fraction(trace_sigma: torch.Tensor, data: TrainingData, action_norm: MinMaxNormalizer,
                             alpha: float) -> float:
    """α² · mean tr Σ(s) / tr Var(a): the variance PostBC adds to the targets, as a fraction of the
    variance of the demonstrated (normalised, flattened) chunks over the whole dataset (per noised
    target: with `posterior_mix` β < 1 the average over all targets is β times this).

    A scale-free reading of how hard the posterior noise blurs the demonstrations. On 10 WidowX
    pick-and-place demos (bench/results/pretrain_widowx_pick_place.md) 0.14-0.19 (trajectory
    bootstrap, α = 1) cost 20-35 points of BC's pretrained success, about 0.04 (α = 0.5) 8 points,
    about 0.01 (α = 0.25) 1-7 points.
    """
    total = action_variance(data, action_norm)
    return float(alpha**2 * trace_sigma.mean()) / total if total > 0 else 0.0


def cosine_lr_factor(step: int, total_steps: int) -> float:
    """The policy's LR multiplier at `step`: a cosine from 1 to 0 over exactly `total_steps`, no warmup."""
    return 0.5 * (1 + math.cos(math.pi * min(1.0, step / total_steps)))


def as_run_record(tcfg: TrainConfig, policy_budget: Budget, ensemble_budget: Budget | None,
                  alpha: float | None) -> dict[str, Any]:
    """What a run actually did, for the checkpoint (config.json train.as_run) and `postbc pretrain`'s
    summary: both budgets as run on this dataset, the LR schedules and the α used (PostBC)."""
    rec: dict[str, Any] = {
        "policy": policy_budget.to_json() | {"lr_schedule": {
            "name": "cosine", "lr": tcfg.lr, "final_lr": 0.0, "total_steps": policy_budget.steps,
            "warmup_steps": 0, "optimizer": "AdamW", "weight_decay": tcfg.weight_decay}},
    }
    if ensemble_budget is not None:
        rec["ensemble"] = ensemble_budget.to_json() | {"lr_schedule": {
            "name": "constant", "lr": tcfg.ensemble_lr, "total_steps": ensemble_budget.steps,
            "warmup_steps": 0, "optimizer": "AdamW", "weight_decay": 0.0}}
    if alpha is not None:
        rec["alpha"] = alpha
        rec["alpha_rule"] = tcfg.alpha_rule
        rec["posterior_mix"] = tcfg.posterior_mix
    return rec


def pretrain(data: TrainingData, tcfg: TrainConfig, progress: bool = True,
             ensemble: PosteriorEnsemble | None = None) -> PretrainResult:
    """Run one pretraining method end to end on `data` (no file I/O).

    `ensemble`: a posterior ensemble already trained on the same data (e.g. loaded from an
    earlier PostBC checkpoint) — reused instead of retrained, so α sweeps share one posterior.
    """
    tcfg.validate()
    if tcfg.horizon != data.horizon or tcfg.obs_history != data.obs_history:
        raise ValueError(
            f"TrainConfig horizon/obs_history ({tcfg.horizon}/{tcfg.obs_history}) do not match the "
            f"windows ({data.horizon}/{data.obs_history}); build the windows with the same values"
        )
    device = resolve_device(tcfg.device)
    torch.manual_seed(tcfg.seed)
    gen = torch.Generator().manual_seed(tcfg.seed)
    pcfg = build_policy_config(data, tcfg)
    action_norm = MinMaxNormalizer.fit(data.actions)
    # action entries PostBC leaves clean: checked before the ensemble trains, so a typo fails at once
    clean = posterior_excluded_entries(data, tcfg.posterior_exclude or []) if tcfg.method == "postbc" else []

    cov_trace, ens_losses, noise = None, [], None
    if tcfg.method != "postbc":
        ensemble = None
    info: dict[str, Any] = {}
    if tcfg.method == "postbc" and ensemble is not None:
        why = ensemble.mismatch(pcfg.action_flat_dim, pcfg.obs_shapes, pcfg.obs_select)
        if why:
            raise ValueError(f"{why}; use an ensemble trained on this data with the same --state-exclude")
        cov, factor = posterior_from_ensemble(ensemble, data, tcfg, device)
        info["ensemble_reused"] = True
    elif tcfg.method == "postbc":
        ensemble, cov, factor, ens_losses = fit_posterior(data, pcfg, tcfg, action_norm, device, progress)
    alpha = None
    if tcfg.method == "postbc":
        tr = trace_cov(cov)
        cov_trace = tr.cpu().numpy()
        factor = exclude_entries(factor, clean, data.actions.shape[-1])
        noise = PosteriorNoise(factor.to(device))
        info["trace_sigma_mean"] = float(tr.mean())
        info["trace_sigma_max"] = float(tr.max())
        info["ensemble_size"] = ensemble.k
        info["posterior_excluded"] = [action_entry_names(data)[i] for i in clean]
        alpha = posterior_alpha(tcfg, tr, data, action_norm)  # from the whole Σ, excluded entries or not
        info["alpha"] = alpha
        # the variance actually added: without the excluded entries' share when there are some
        info["posterior_noise_fraction"] = posterior_noise_fraction(factor_trace(factor) if clean else tr, data,
                                                                    action_norm, alpha)

    torch.manual_seed(tcfg.seed)
    policy = DiffusionPolicy(pcfg)
    fit_encoder_normalizers(policy.obs_encoder, data.obs)
    policy.action_normalizer.lo.copy_(action_norm.lo)
    policy.action_normalizer.hi.copy_(action_norm.hi)
    policy.to(device)
    ema = EMA(policy, tcfg.ema_decay)

    obs = obs_tensors(data, device)
    n = data.num_samples
    targets = policy.action_normalizer.normalize(torch.as_tensor(data.actions).to(device)).reshape(n, -1)
    opt = torch.optim.AdamW(policy.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    budget = tcfg.policy_budget(n)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr_factor(s, budget.steps))
    losses: list[float] = []
    policy.train()
    done = 0
    bar = tqdm(range(budget.epochs), desc=f"{tcfg.method} policy", disable=not progress, leave=False)
    for _ in bar:
        perm = torch.randperm(n, generator=gen).to(device)
        total, seen = 0.0, 0
        for s in range(0, n, tcfg.batch_size):
            if done == budget.steps:  # the last epoch is cut at exactly `steps`
                break
            idx = perm[s : s + tcfg.batch_size]
            target = targets[idx]
            if tcfg.method == "sigma_bc":
                target = target + tcfg.sigma * torch.randn(target.shape, generator=gen).to(device)
            elif tcfg.method == "postbc":
                target = posterior_targets(target, idx, noise, alpha, tcfg.posterior_mix, generator=gen)
            loss = policy.loss({k: v[idx] for k, v in obs.items()}, target, generator=gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update(policy)
            done += 1
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        losses.append(total / seen)
        bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
    ens_budget = None
    if tcfg.method == "postbc" and not info.get("ensemble_reused"):
        ens_budget = tcfg.ensemble_budget(n)
    as_run = as_run_record(tcfg, Budget(done, len(losses), budget.steps_per_epoch, tcfg.batch_size, budget.given),
                           ens_budget, alpha)
    as_run["state_excluded"] = excluded_state_names(data, pcfg.obs_select)
    if tcfg.method == "postbc":
        as_run["posterior_excluded"] = info["posterior_excluded"]
    info["steps"], info["epochs"], info["batch_size"] = done, len(losses), tcfg.batch_size
    if ens_budget is not None:
        info["ensemble_steps"], info["ensemble_epochs"] = ens_budget.steps, ens_budget.epochs
    policy.eval()
    info["final_loss"] = losses[-1]
    return PretrainResult(policy, ema, ensemble, cov_trace, losses, ens_losses, tcfg, data, info, as_run)
