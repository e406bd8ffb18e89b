"""Diffusion policy over action chunks (DDPM training, deterministic DDIM inference).

- Denoiser: MLP over [noisy flattened chunk, observation features, timestep embedding];
  observation features come from `ObsEncoder` (min-max state + conv encoder per camera).
- Schedules: diffusers `DDPMScheduler` (training, 100 steps, squared-cosine betas,
  epsilon prediction) and `DDIMScheduler` (inference, 8 steps, eta = 0, "trailing" spacing so
  the first step starts from pure noise). Given the initial noise, `sample` is a deterministic
  function of (obs, noise) — what DSRL steers.
- Normalisation: observations and actions min-max to [-1, 1] (see normalization.py); DDIM
  clips its x0 estimate to [-clip_sample_range, clip_sample_range] in normalised units.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping

import torch
from torch import nn

from postbc_ros.learning.networks import MLPDenoiser, ObsEncoder, check_select, is_image_shape
from postbc_ros.learning.normalization import MinMaxNormalizer


def canonical_obs_key(name: str) -> str:
    """Dataset/window feature names -> policy keys (the env's observation dict keys).

    'obs.observation.state' / 'observation.state' -> 'state';
    'observation.images.scene' -> 'scene'; 'state' -> 'state'.
    """
    if name.startswith("obs."):
        name = name[4:]
    if name.startswith("observation.images."):
        return name[len("observation.images.") :]
    if name.startswith("observation."):
        return name[len("observation.") :]
    return name


@dataclass
class PolicyConfig:
    """Everything needed to rebuild the network (stored in config.json under "policy")."""

    obs_shapes: dict[str, list[int]]
    action_dim: int
    obs_history: int = 1
    horizon: int = 4
    n_action_steps: int = 4
    hidden: list[int] = field(default_factory=lambda: [256, 256, 256])
    image_feature_dim: int = 64
    num_train_timesteps: int = 100
    num_inference_steps: int = 8
    beta_schedule: str = "squaredcos_cap_v2"
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    # {low-dimensional key: indices of the entries the policy uses} (empty: all); the observation
    # still carries the whole vector (its contract is unchanged), e.g. "state" without the joints
    obs_select: dict[str, list[int]] = field(default_factory=dict)

    @property
    def obs_keys(self) -> list[str]:
        return list(self.obs_shapes.keys())

    @property
    def action_flat_dim(self) -> int:
        return self.horizon * self.action_dim

    @property
    def has_images(self) -> bool:
        return any(is_image_shape(s) for s in self.obs_shapes.values())

    def validate(self) -> None:
        if not self.obs_shapes:
            raise ValueError("PolicyConfig.obs_shapes is empty: the dataset has no observation features")
        for name, v in (("obs_history", self.obs_history), ("horizon", self.horizon),
                        ("n_action_steps", self.n_action_steps), ("action_dim", self.action_dim),
                        ("num_inference_steps", self.num_inference_steps)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"PolicyConfig.{name} must be a positive integer, got {v!r}")
        if self.n_action_steps > self.horizon:
            raise ValueError(
                f"PolicyConfig.n_action_steps ({self.n_action_steps}) > horizon ({self.horizon}); "
                "execute at most the predicted chunk (--n-action-steps <= --horizon)"
            )
        if self.num_inference_steps > self.num_train_timesteps:
            raise ValueError("PolicyConfig.num_inference_steps must be <= num_train_timesteps")
        check_select(self.obs_select, {k: s for k, s in self.obs_shapes.items() if not is_image_shape(s)})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping) -> "PolicyConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown policy config fields {sorted(unknown)}")
        cfg = cls(**{k: v for k, v in d.items()})
        cfg.obs_shapes = {k: [int(s) for s in v] for k, v in cfg.obs_shapes.items()}
        cfg.obs_select = {k: [int(i) for i in v] for k, v in (cfg.obs_select or {}).items()}
        cfg.validate()
        return cfg


class DiffusionPolicy(nn.Module):
    """Chunked diffusion policy. `sample` returns unnormalised actions [B, horizon, action_dim]."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        from diffusers import DDIMScheduler, DDPMScheduler

        cfg.validate()
        self.cfg = cfg
        self.obs_encoder = ObsEncoder(cfg.obs_shapes, cfg.obs_history, cfg.image_feature_dim, cfg.obs_select)
        self.action_normalizer = MinMaxNormalizer(cfg.action_dim)
        self.denoiser = MLPDenoiser(cfg.action_flat_dim, self.obs_encoder.out_dim, cfg.hidden)
        sched_kw = dict(
            num_train_timesteps=cfg.num_train_timesteps,
            beta_schedule=cfg.beta_schedule,
            clip_sample=cfg.clip_sample,
            clip_sample_range=cfg.clip_sample_range,
            prediction_type="epsilon",
        )
        self.train_scheduler = DDPMScheduler(**sched_kw)
        self.infer_scheduler = DDIMScheduler(**sched_kw, timestep_spacing="trailing")
        self.infer_scheduler.set_timesteps(cfg.num_inference_steps)

    # ---------------------------------------------------------------- observations
    def prepare_obs(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Accept env keys ('state') or dataset keys ('observation.state'); check shapes; move."""
        device = self.action_normalizer.lo.device
        by_key = {canonical_obs_key(k): v for k, v in obs.items()}
        out = {}
        for key, shape in self.cfg.obs_shapes.items():
            if key not in by_key:
                raise KeyError(
                    f"observation key {key!r} missing (got {sorted(obs)}); the policy was trained on "
                    f"{self.cfg.obs_keys}"
                )
            x = torch.as_tensor(by_key[key])
            expect = (self.cfg.obs_history, *shape)
            if tuple(x.shape[1:]) != expect:
                raise ValueError(
                    f"observation {key!r} has shape {tuple(x.shape)}, expected [B, {', '.join(map(str, expect))}] "
                    "(batch, obs_history, feature...)"
                )
            out[key] = x.to(device)
        return out

    def encode_obs(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Normalised observation features [B, F] (what critics condition on)."""
        return self.obs_encoder(self.prepare_obs(obs))

    # ---------------------------------------------------------------- training
    def loss(
        self, obs: Mapping[str, torch.Tensor], target_norm: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Standard DDPM epsilon loss; `target_norm` is the (noised) normalised flat chunk [B, H*A]."""
        cond = self.obs_encoder(obs)
        b = target_norm.shape[0]
        dev = target_norm.device
        eps = torch.randn(target_norm.shape, generator=generator, device="cpu").to(dev)
        t = torch.randint(0, self.cfg.num_train_timesteps, (b,), generator=generator).to(dev)
        x_t = self.train_scheduler.add_noise(target_norm, eps, t)
        return torch.mean((self.denoiser(x_t, t, cond) - eps) ** 2)

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def sample_normalized(
        self, cond: torch.Tensor, noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """DDIM (eta = 0) from initial noise [B, H, A] given features -> normalised [B, H, A]."""
        b = cond.shape[0]
        shape = (b, self.cfg.horizon, self.cfg.action_dim)
        if noise is None:
            noise = torch.randn(shape, generator=generator, device="cpu")
        noise = torch.as_tensor(noise, dtype=torch.float32)
        if tuple(noise.shape) != shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {shape} (B, horizon, action_dim)")
        x = noise.to(cond.device).reshape(b, -1)
        sched = self.infer_scheduler
        for t in sched.timesteps:
            tt = torch.full((b,), int(t), device=cond.device, dtype=torch.long)
            eps = self.denoiser(x, tt, cond)
            x = sched.step(eps, int(t), x, eta=0.0).prev_sample
        return x.reshape(shape)

    @torch.no_grad()
    def sample(
        self, obs: Mapping[str, torch.Tensor], noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Unnormalised action chunks [B, horizon, action_dim]; deterministic given `noise`."""
        cond = self.encode_obs(obs)
        return self.action_normalizer.unnormalize(self.sample_normalized(cond, noise, generator))


class EMA:
    """Exponential moving average of a module's parameters (buffers copied), with warm-up.

    decay_t = min(decay, (1 + t) / (10 + t)): early weights are not dominated by the random init.
    """

    def __init__(self, model: nn.Module, decay: float = 0.995) -> None:
        import copy

        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.steps = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for pe, p in zip(self.model.parameters(), model.parameters()):
            pe.mul_(d).add_(p.detach(), alpha=1 - d)
        for be, b in zip(self.model.buffers(), model.buffers()):
            be.copy_(b)
        self.steps += 1
