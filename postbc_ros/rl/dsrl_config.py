"""DSRL's settings (torch-free, so the CLI and the benchmarks can read the defaults).

The defaults are those of DSRL's reference code, ajwagen/dsrl: cfg/robomimic/dsrl_{can,lift,square}.yaml
as train_dsrl.py passes them to its Stable-Baselines3 fork (SAC for DSRL, `DSRL` for DSRL-NA).
bench/results/learning_widowx_reach_dsrl_reference.md lists each setting against the reference and the
differences that remain.
"""
from __future__ import annotations

import dataclasses

from postbc_ros.core.chunk_transitions import REWARDS

#: hidden-layer activations by name (rl.networks.ACTIVATIONS maps them to modules)
ACTIVATION_NAMES = ("tanh", "relu")

#: the reference's warm start: init_rollout_steps 1501 vectorised steps × 4 envs × 4-step chunks
REFERENCE_WARMUP_ENV_STEPS = 1501 * 4 * 4


@dataclasses.dataclass
class DSRLConfig:
    """The reference's settings (robomimic can / square; lift differs only in its UTD, 30 per
    vectorised step = 7.5 per transition). One RL step here is one executed chunk, as there."""

    lr: float = 3e-4
    batch_size: int = 256
    tau: float = 0.005
    n_critics: int = 2  # min over them in the backup and the actor's objective
    # SAC's temperature α is learned (ent_coef "auto"); SB3 starts it at 1.0. The target entropy
    # and log π are those of the squashed noise w / bound ∈ [-1, 1]^D, as in SB3
    target_entropy: float = 0.0
    init_alpha: float = 1.0
    noise_bound: float = 1.5  # action_magnitude
    # per env step: the chunk's bootstrap discount is γ^k. The reference's RL step is a 4-step chunk
    # with γ = 0.99 per chunk, i.e. 0.99^(1/4) ≈ 0.9975 per env step (not the default here: the
    # policy nodes' transitions use a per-step γ of 0.99, which the learner must match)
    discount: float = 0.99
    # gradient steps per chunk transition. The reference takes `utd` 20 steps per vectorised step
    # of its 4 envs, i.e. 4 transitions: 5 per transition (lift: 30 → 7.5)
    utd: int = 5
    hidden: int = 2048  # layer_size
    layers: int = 3  # num_layers
    activation: str = "tanh"  # hidden layers Linear → LayerNorm → Tanh
    layer_norm: bool = True
    warmup_env_steps: int = REFERENCE_WARMUP_ENV_STEPS
    train_during_warmup: bool = False  # the reference fills its buffer first, then learns
    learning_starts: int = 32
    replay_capacity: int = 100_000
    demo_ratio: float = 0.0  # demonstrations carry no noise: DSRL's noise critic cannot use them
    # True: SAC's soft target, the TD target adds the next step's -α·log π (the reference). False:
    # the critics regress onto returns only, as in SERL/HIL-SERL (the actor still gets the entropy
    # bonus). False was this repo's default, measured at none of the reference's other settings
    # (α₀ 0.1, 0/1 reward, 2-episode warm start, 3×256, UTD 4) and there within the seed noise of
    # True (bench/results/learning_ur5e_push_dsrl.md), so the reference's True is the default
    backup_entropy: bool = True
    # the chunk reward the transitions carry (core.chunk_transitions.chunk_reward): minus_one is the
    # reference's -1 per env step, 0 on success, summed within the chunk; zero_one: 1 on the success
    # step, Σ γ^i r_i
    reward: str = "minus_one"

    def validate(self) -> None:
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(f"activation must be one of {list(ACTIVATION_NAMES)}, got {self.activation!r}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {list(REWARDS)}, got {self.reward!r}")
        if self.noise_bound <= 0 or self.init_alpha <= 0:
            raise ValueError(f"noise_bound and init_alpha must be > 0, got {self.noise_bound}, {self.init_alpha}")
