"""The hyperparameters of one pretraining run: THE set of pretraining defaults.

`postbc pretrain`, `postbc demo`, `postbc coverage` and the benchmarks start from `TrainConfig()`
(a command that needs other values says so by name, e.g. the learning bench's `BENCH_ALPHA`), and
their command-line options are derived from these fields (`postbc_ros.cli.config_args`). Kept free
of torch so that the `postbc` parser builds without importing it.
"""
from __future__ import annotations

from dataclasses import dataclass

from postbc_ros.core.params import param

METHODS = ("bc", "sigma_bc", "postbc")
BOOTSTRAP_MODES = ("trajectory", "state_action")  # what a bootstrap resample draws (bootstrap.py)
COVARIANCE_KINDS = ("full", "diag")  # how Σ(s) is kept (posterior.py)

#: PostBC's posterior noise weight α by default: the paper's value, and what `postbc pretrain` and
#: `postbc bench pretrain` run. On 10 WidowX pick-and-place demos it costs 20-35 points of BC's
#: pretrained success (bench/results/pretrain_widowx_pick_place.md); `postbc pretrain` says so when
#: the noise it adds is large (pipeline.NOISE_FRACTION_HINT).
PRETRAIN_ALPHA = 1.0

#: ensemble size K when `ensemble_size` is None: the paper's 100 for state observations; 10 with
#: images, where every member also runs the camera encoder
STATE_ENSEMBLE_SIZE = 100
IMAGE_ENSEMBLE_SIZE = 10


@dataclass
class TrainConfig:
    """Hyperparameters of one pretraining run (stored verbatim in config.json under "train")."""

    method: str = param("postbc", "pretraining target: bc, sigma_bc or postbc (same network and budget)",
                         choices=METHODS)
    alpha: float = param(PRETRAIN_ALPHA, "PostBC posterior noise weight α (targets a + α·w, w ~ N(0, Σ(s)))")
    sigma: float = param(0.1, "σ-BC noise std (normalised action units)")
    ensemble_size: int | None = param(
        None, f"PostBC bootstrap ensemble size K (None: {STATE_ENSEMBLE_SIZE} with state observations, "
              f"{IMAGE_ENSEMBLE_SIZE} with images)")
    bootstrap: str = param("trajectory", "what each ensemble member resamples: whole demonstrations or single "
                                         "(state, action) windows", choices=BOOTSTRAP_MODES)
    covariance: str = param("full", "posterior covariance Σ(s): full matrix or its diagonal", choices=COVARIANCE_KINDS)
    # policy epochs: the paper's state-based setting (3000). With 10 demonstrations an epoch is ~2
    # minibatches; 300 epochs left WidowX pick-and-place BC at 0/100 successes, 3000 reach 0.49
    # (10 demos, 3 seeds x 100 episodes).
    epochs: int = param(3000, "diffusion policy epochs (paper, state observations: 3000)")
    # ensemble epochs: the paper's real-WidowX setting (300). Members trained 10x longer overfit
    # their own resamples and disagree more (tr Σ 1.45 -> 1.97 on 10 pick-and-place demos, K = 20).
    ensemble_epochs: int | None = param(
        300, "ensemble epochs (paper, real WidowX: 300; longer makes members overfit their resample; "
             "None: as many as --epochs)")
    batch_size: int = param(256, "minibatch size (policy and ensemble)")
    lr: float = param(1e-3, "policy learning rate (AdamW, cosine decay)")
    ensemble_lr: float = param(1e-3, "ensemble learning rate")
    weight_decay: float = param(1e-6, "policy AdamW weight decay")
    ema_decay: float = param(0.995, "decay of the policy's EMA weights (what a checkpoint runs)")
    hidden: list[int] = param([256, 256, 256], "denoiser MLP widths, comma list")
    ensemble_hidden: list[int] | None = param(
        None, "ensemble member widths, comma list (default: --hidden for state, 512,512,512 heads for images)")
    image_feature_dim: int = param(64, "features per camera from the conv encoder")
    horizon: int = param(4, "action chunk length H (paper: 4 on Robomimic, 1 on the real WidowX)")
    n_action_steps: int = param(4, "executed steps per chunk k (one RL step when finetuning)")
    obs_history: int = param(1, "observation frames n")
    num_inference_steps: int = param(8, "DDIM steps")
    jitter: float = param(1e-6, "added to Σ(s)'s eigenvalues before sampling w (keeps it PSD)")
    seed: int = param(0, "seed of the ensemble resamples, initialisation and target noise")
    device: str = param("auto", "auto | cpu | cuda[:i]")

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"--method {self.method!r} is not one of {METHODS}")
        if self.bootstrap not in BOOTSTRAP_MODES:
            raise ValueError(f"--bootstrap {self.bootstrap!r} is not one of {BOOTSTRAP_MODES}")
        if self.covariance not in COVARIANCE_KINDS:
            raise ValueError(f"--covariance {self.covariance!r} is not one of {COVARIANCE_KINDS}")
        if self.alpha < 0 or self.sigma < 0:
            raise ValueError("--alpha and --sigma must be >= 0")
        if self.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        if self.horizon < 1 or self.obs_history < 1:
            raise ValueError("--horizon and --obs-history must be >= 1")
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ValueError(f"--n-action-steps {self.n_action_steps} must be between 1 and --horizon {self.horizon} "
                             f"(the executed part of each predicted chunk)")
        if self.ensemble_size is not None and self.ensemble_size < 2:
            raise ValueError("--ensemble-size must be >= 2")
