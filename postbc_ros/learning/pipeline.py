"""The pretraining pipeline as one call: dataset directory -> trained policy -> checkpoint directory.

`postbc pretrain` and `postbc demo` both run `pretrain_dataset`; each reports a `PretrainError`
in its own words. Nothing is written unless training succeeded. A dataset holding a NaN / infinite
value or an action outside the arm's action space is refused before training
(postbc_ros.data.reader.check_values names the episode and frame).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from postbc_ros.learning.train_config import AUTO_NOISE_FRACTION, TrainConfig

# posterior_noise_fraction above which the run's note points at the measured trade-off
NOISE_FRACTION_HINT = 0.05


class PretrainError(ValueError):
    """The dataset, the configuration or the reused ensemble cannot be used (the message says which
    and why)."""


def pretrain_dataset(dataset: str | os.PathLike, out: str | os.PathLike, config: TrainConfig, *,
                     obs_keys: Sequence[str] | None = None, reuse_ensemble: str | os.PathLike | None = None,
                     progress: bool = True, log: Callable[[str], None] = lambda s: None):
    """Train `config` on the LeRobot-layout dataset in `dataset` and write the checkpoint to `out`
    (`load_policy(out)` reads it back). Returns the `PretrainResult`.

    `obs_keys`: the observation features to use (default: every non-video feature).
    `reuse_ensemble`: a PostBC ensemble directory trained on the same data (e.g. OTHER_RUN/ensemble),
    used instead of training one, for α sweeps. `log` receives one line describing the dataset and,
    after training, one per budget (steps, epochs, batch size, LR schedule) and the α used.
    """
    from postbc_ros.data import DatasetError, DemoDataset
    from postbc_ros.data.reader import check_values, read_contract
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.learning.policy_io import load_ensemble, save_pretrain_result
    from postbc_ros.learning.train import pretrain
    from postbc_ros.learning.training_data import load_training_data

    try:
        if Path(dataset).is_dir():  # (a missing one: load_training_data says so in its words)
            check_values(DemoDataset(dataset))  # names the episode and frame of a bad value
        data = load_training_data(dataset, config.obs_history, config.horizon, obs_keys)
        contract = read_contract(dataset)  # the dataset's observation contract, copied into the checkpoint
    except (DatasetError, KeyError, FileNotFoundError, ValueError) as e:
        raise PretrainError(f"cannot use dataset {dataset}: {e}") from e
    try:
        config.validate()
    except ValueError as e:
        raise PretrainError(str(e)) from e
    log(f"dataset {dataset}: {data.num_episodes} episodes, {data.num_samples} windows, "
        f"obs {data.obs_shapes()}, action_dim {data.action_dim}")
    ensemble = None
    if reuse_ensemble:
        try:
            ensemble, _ = load_ensemble(reuse_ensemble)
        except CheckpointError as e:
            raise PretrainError(str(e)) from e
    try:
        result = pretrain(data, config, progress=progress, ensemble=ensemble)
    except ValueError as e:
        raise PretrainError(str(e)) from e
    save_pretrain_result(Path(out), result, dataset_contract=contract)
    for line in budget_lines(result):
        log(line)
    return result


def budget_lines(result) -> list[str]:
    """What the run's budgets came to, in words (also in the checkpoint's config.json, train.as_run)."""
    run = result.as_run
    lines = []
    for name, rec in (("policy", run.get("policy")), ("ensemble", run.get("ensemble"))):
        if rec is None:
            continue
        sch = rec["lr_schedule"]
        lr = (f"cosine LR {sch['lr']:g} -> 0 over {sch['total_steps']} steps, warmup {sch['warmup_steps']}"
              if sch["name"] == "cosine" else f"{sch['name']} LR {sch['lr']:g}")
        lines.append(f"{name}: {rec['steps']} gradient steps at batch {rec['batch_size']} = {rec['epochs']} epochs "
                     f"of {rec['steps_per_epoch']} minibatches (budget given as {rec['given']}; {lr})")
    if "alpha" in run:
        lines.append(f"posterior noise: alpha {run['alpha']:.4g} ({run['alpha_rule']}), "
                     f"posterior_mix {run['posterior_mix']:g}")
    if run.get("state_excluded"):
        lines.append(f"observation.state: ignoring {', '.join(run['state_excluded'])} "
                     "(--state-exclude; '' uses every entry)")
    return lines


def run_summary(out: str | os.PathLike, result) -> dict[str, Any]:
    """What a run reports in one JSON line: where it wrote, the method and the run's numbers
    (steps, epochs, batch size, final loss; for PostBC the α used, tr Σ, ensemble size and steps,
    posterior_noise_fraction)."""
    return {"out": str(out), "method": result.train_cfg.method, **result.info}


def noise_note(result) -> str | None:
    """A note when PostBC's posterior noise is large against the demonstrations' own variance
    (alpha^2 * mean tr Σ / tr Var(a) above NOISE_FRACTION_HINT), pointing at the measured cost."""
    frac = result.info.get("posterior_noise_fraction")
    if frac is None or frac <= NOISE_FRACTION_HINT:
        return None
    return (f"note: the posterior noise adds {frac:.0%} of the demonstrations' action variance "
            f"(alpha^2 * mean tr Sigma / tr Var(a)). With the default trajectory bootstrap and few, diverse demos "
            f"that can cost pretrained success (WidowX pick-and-place: 14-19% with 10 demos cost 20-35 points of BC's "
            f"success, 7% with 30 demos still 27; bench/results/pretrain_widowx_pick_place.md). Compare with `postbc eval` "
            f"against a BC checkpoint; a smaller --alpha (--alpha auto caps this fraction at "
            f"{AUTO_NOISE_FRACTION:.0%}), --posterior-mix below 1 or --bootstrap state_action keeps the policy closer to BC.")
