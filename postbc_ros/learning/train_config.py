"""The hyperparameters of one pretraining run: THE set of pretraining defaults.

`postbc pretrain`, `postbc demo`, `postbc coverage` and the benchmarks start from `TrainConfig()`
(a command that needs other values says so by name, e.g. the learning bench's `BENCH_ALPHA`), and
their command-line options are derived from these fields (`postbc_ros.cli.config_args`). Kept free
of torch so that the `postbc` parser builds without importing it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from postbc_ros.core.params import param

METHODS = ("bc", "sigma_bc", "postbc")
BOOTSTRAP_MODES = ("trajectory", "state_action")  # what a bootstrap resample draws (bootstrap.py)
COVARIANCE_KINDS = ("full", "diag")  # how Σ(s) is kept (posterior.py)
ALPHA_RULES = ("fixed", "auto")  # how PostBC's α is chosen (see AUTO_NOISE_FRACTION)

#: PostBC's posterior noise weight α by default: the paper's value, and what `postbc pretrain` and
#: `postbc bench pretrain` run. On 10 WidowX pick-and-place demos it costs 20-35 points of BC's
#: pretrained success (bench/results/pretrain_widowx_pick_place.md); `postbc pretrain` says so when
#: the noise it adds is large (pipeline.NOISE_FRACTION_HINT).
PRETRAIN_ALPHA = 1.0

#: ensemble size K when `ensemble_size` is None: the paper's 100 for state observations; 10 with
#: images, where every member also runs the camera encoder
STATE_ENSEMBLE_SIZE = 100
IMAGE_ENSEMBLE_SIZE = 10

#: policy gradient steps when neither `steps` nor `epochs` is given. Issue 15 (WidowX twin, state
#: observations, 3×256 MLP, batch 256): the old default, 3000 epochs, was ~6k steps on 10 demos
#: (~1k on 5) and left BC's w = 0 chunk missing its training targets by 27 % of their variance;
#: 36k-39k steps changed that figure (the issue reports 0.41) and lifted reach BC from 0.68 to 0.86
#: on the demonstrations cut at success. The issue asks for at least 30k for state tasks. A budget in
#: steps does not shrink with the dataset, as one in epochs does.
POLICY_STEPS = 30_000

#: ensemble gradient steps when neither `ensemble_steps` nor `ensemble_epochs` is given: what the
#: old default (300 epochs, the paper's real-WidowX setting) came to on 10 demonstrations (~370
#: windows = 2 minibatches of 256 per epoch). Members trained 10x longer overfit their own
#: resamples and disagree more (tr Σ 1.45 -> 1.97 on 10 pick-and-place demos, K = 20).
ENSEMBLE_STEPS = 600

#: `--alpha auto`'s target: the largest posterior noise fraction α² · mean tr Σ(s) / tr Var(a)
#: (what `postbc pretrain` prints as posterior_noise_fraction) the rule lets through. Chosen before
#: any measurement of the rule, from the earlier pick-and-place sweep (10 WidowX demos,
#: bench/results/pretrain_widowx_pick_place.md): a fraction of about 0.04 (α = 0.5) cost 8 points of
#: BC's pretrained success, about 0.01 (α = 0.25) 1-7 points; 0.02 lies between them, aiming at
#: "within 5 points of BC" while keeping as much posterior noise as that allows.
AUTO_NOISE_FRACTION = 0.02


@dataclass(frozen=True)
class Budget:
    """A training budget as it runs on one dataset: `steps` gradient steps (exactly), which come to
    `epochs` passes over the windows (`steps_per_epoch` minibatches each; the last may be cut short)."""

    steps: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    given: str  # what set it: "steps", "epochs" or "default" (POLICY_STEPS / ENSEMBLE_STEPS)

    def to_json(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch,
                "batch_size": self.batch_size, "given": self.given}


def resolve_budget(steps: int | None, epochs: int | None, default_steps: int, num_samples: int,
                   batch_size: int) -> Budget:
    """Steps or epochs (at most one; neither: `default_steps`) -> the Budget on `num_samples` windows.

    Epochs from steps: ceil(steps / steps_per_epoch), the last epoch cut at `steps`. Steps from
    epochs: epochs · steps_per_epoch. steps_per_epoch = ceil(num_samples / batch_size)."""
    if steps is not None and epochs is not None:
        raise ValueError(f"steps ({steps}) and epochs ({epochs}) both set the budget; give one")
    spe = max(1, math.ceil(num_samples / batch_size))
    if epochs is not None:
        return Budget(epochs * spe, epochs, spe, batch_size, "epochs")
    given = "steps" if steps is not None else "default"
    n = steps if steps is not None else default_steps
    return Budget(n, math.ceil(n / spe), spe, batch_size, given)


@dataclass
class TrainConfig:
    """Hyperparameters of one pretraining run (stored verbatim in config.json under "train", with what
    they came to on the dataset under "train.as_run": steps, epochs, batch size, LR schedules, α used).

    Budgets: `steps` or `epochs` for the policy, `ensemble_steps` or `ensemble_epochs` for the ensemble
    — at most one of each pair (both: `validate` refuses); neither: POLICY_STEPS / ENSEMBLE_STEPS."""

    method: str = param("postbc", "pretraining target: bc, sigma_bc or postbc (same network and budget)",
                         choices=METHODS)
    alpha: float = param(PRETRAIN_ALPHA, "PostBC posterior noise weight α (targets a + α·w, w ~ N(0, Σ(s))); "
                                         "'auto': the noise-fraction rule (--alpha-rule auto) capped at "
                                         f"{PRETRAIN_ALPHA}")
    alpha_rule: str = param(
        "fixed", f"fixed: α as given; auto: α = min(--alpha, sqrt({AUTO_NOISE_FRACTION} · tr Var(a) / mean tr Σ(s))), "
                 f"i.e. the posterior noise capped at {AUTO_NOISE_FRACTION:.0%} of the demonstrated action variance "
                 "(demonstrations only, no rollouts)", choices=ALPHA_RULES)
    posterior_mix: float = param(
        1.0, "PostBC mixture β: each target is posterior-noised with probability β, else the clean action "
             "((1-β)·BC + β·posterior, the paper's tabular form; 1: PostBC, 0: BC's targets)")
    sigma: float = param(0.1, "σ-BC noise std (normalised action units)")
    ensemble_size: int | None = param(
        None, f"PostBC bootstrap ensemble size K (None: {STATE_ENSEMBLE_SIZE} with state observations, "
              f"{IMAGE_ENSEMBLE_SIZE} with images)")
    bootstrap: str = param("trajectory", "what each ensemble member resamples: whole demonstrations or single "
                                         "(state, action) windows", choices=BOOTSTRAP_MODES)
    covariance: str = param("full", "posterior covariance Σ(s): full matrix or its diagonal", choices=COVARIANCE_KINDS)
    # the budgets: gradient steps by default (POLICY_STEPS, ENSEMBLE_STEPS above say why); epochs are
    # the explicit alternative, converted to steps on the dataset. At most one of each pair.
    steps: int | None = param(
        None, f"policy gradient steps (None: {POLICY_STEPS}, unless --epochs is given; from the issue-15 "
              "WidowX measurement: 36k-39k steps lifted reach BC 0.68 -> 0.86 where ~6k left it underfit; "
              "epochs come to ceil(steps / minibatches per epoch), the cosine LR decays over exactly these steps)")
    epochs: int | None = param(
        None, "policy epochs instead of --steps (steps = epochs · ceil(windows / batch size)); give one of the two")
    ensemble_steps: int | None = param(
        None, f"ensemble gradient steps (None: {ENSEMBLE_STEPS}, unless --ensemble-epochs is given; what the paper's "
              "real-WidowX 300 epochs came to on 10 demos; longer makes members overfit their resample)")
    ensemble_epochs: int | None = param(
        None, "ensemble epochs instead of --ensemble-steps; give one of the two")
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
    state_exclude: list[str] | None = param(
        None, "observation.state entries the policy and the ensemble ignore: glob patterns over the dataset's entry "
              "names, comma list; the observation itself is unchanged. None: 'q_*' (the joint angles, which the "
              "tool pose determines) when the actions are tool-space deltas dx,dy,dz,gripper, else none; '': none")
    posterior_exclude: list[str] | None = param(
        None, "PostBC: action entries whose targets stay the demonstrated ones (no posterior noise): glob patterns "
              "over the dataset's action names, comma list, e.g. 'gripper'; α (also --alpha auto's) is still "
              "computed from the whole Σ. None / '': every entry is noised (the paper)")
    num_inference_steps: int = param(8, "DDIM steps")
    jitter: float = param(1e-6, "added to Σ(s)'s eigenvalues before sampling w (keeps it PSD)")
    seed: int = param(0, "seed of the ensemble resamples, initialisation and target noise")
    device: str = param("auto", "auto | cpu | cuda[:i]")

    #: option pairs of which a command line gives at most one: the one given replaces the other's
    #: default (a command's own base config may set the other, e.g. `postbc demo`'s steps)
    ALTERNATIVES: ClassVar[tuple[tuple[str, str], ...]] = (("steps", "epochs"), ("ensemble_steps", "ensemble_epochs"))
    #: words an option accepts besides a value of its type (cli.config_args passes them through)
    KEYWORDS: ClassVar[dict[str, tuple[str, ...]]] = {"alpha": ("auto",)}

    def __post_init__(self) -> None:
        for name in ("state_exclude", "posterior_exclude"):  # 'q_*,ee_z' as the command line writes it
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, [p.strip() for p in value.split(",") if p.strip()])
        # alpha="auto" (the command line's --alpha auto) = the auto rule capped at the paper's α
        if isinstance(self.alpha, str):
            if self.alpha.strip().lower() == "auto":
                self.alpha, self.alpha_rule = PRETRAIN_ALPHA, "auto"
            else:
                try:
                    self.alpha = float(self.alpha)
                except ValueError:
                    raise ValueError(f"--alpha {self.alpha!r} is neither a number nor 'auto'") from None

    def policy_budget(self, num_samples: int) -> Budget:
        """The policy's gradient steps and the epochs they come to on `num_samples` windows."""
        return resolve_budget(self.steps, self.epochs, POLICY_STEPS, num_samples, self.batch_size)

    def ensemble_budget(self, num_samples: int) -> Budget:
        """The ensemble's gradient steps and the epochs they come to on `num_samples` windows."""
        return resolve_budget(self.ensemble_steps, self.ensemble_epochs, ENSEMBLE_STEPS, num_samples, self.batch_size)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"--method {self.method!r} is not one of {METHODS}")
        if self.bootstrap not in BOOTSTRAP_MODES:
            raise ValueError(f"--bootstrap {self.bootstrap!r} is not one of {BOOTSTRAP_MODES}")
        if self.covariance not in COVARIANCE_KINDS:
            raise ValueError(f"--covariance {self.covariance!r} is not one of {COVARIANCE_KINDS}")
        if self.alpha_rule not in ALPHA_RULES:
            raise ValueError(f"--alpha-rule {self.alpha_rule!r} is not one of {ALPHA_RULES}")
        if self.alpha < 0 or self.sigma < 0:
            raise ValueError("--alpha and --sigma must be >= 0")
        if not 0.0 <= self.posterior_mix <= 1.0:
            raise ValueError(f"--posterior-mix {self.posterior_mix} must be in [0, 1] (the fraction of noised targets)")
        for steps, epochs in self.ALTERNATIVES:
            s, e = getattr(self, steps), getattr(self, epochs)
            opt_s, opt_e = "--" + steps.replace("_", "-"), "--" + epochs.replace("_", "-")
            if s is not None and e is not None:
                raise ValueError(f"{opt_s} {s} and {opt_e} {e} both set the same budget; give one "
                                 f"({opt_s}: gradient steps; {opt_e}: passes over the windows, converted to steps)")
            for name, v in ((opt_s, s), (opt_e, e)):
                if v is not None and v < 1:
                    raise ValueError(f"{name} must be >= 1")
        if self.batch_size < 1:
            raise ValueError("--batch-size must be >= 1")
        if self.horizon < 1 or self.obs_history < 1:
            raise ValueError("--horizon and --obs-history must be >= 1")
        if not 1 <= self.n_action_steps <= self.horizon:
            raise ValueError(f"--n-action-steps {self.n_action_steps} must be between 1 and --horizon {self.horizon} "
                             f"(the executed part of each predicted chunk)")
        if self.ensemble_size is not None and self.ensemble_size < 2:
            raise ValueError("--ensemble-size must be >= 2")
