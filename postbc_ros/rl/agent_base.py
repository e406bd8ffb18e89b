"""Shared machinery of the chunk-level agents over a frozen diffusion policy.

One RL step = one action chunk: the agent picks the diffusion policy's initial noise w (or a
chunk among N samples), the policy decodes it deterministically (DDIM) into `horizon` actions,
the first `n_action_steps` are executed, and the transition stores the discounted reward sum
over the executed steps with bootstrap discount γ^k. Counters are kept in *env steps* so the
warm-start length does not silently shrink by the chunk size (a known DSRL pitfall).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from postbc_ros.core.policy_loop import NonFiniteChunkError
from postbc_ros.core.transition import Transition

from .policy_adapter import FrozenDiffusionPolicy, ObsHistory
from .replay_buffer import ReplayBuffer, sample_mixed
from .state_io import (
    AgentCheckpointError,
    load_module,
    load_optimizer,
    module_tensors,
    numpy_rng_state,
    optimizer_state,
    read_state,
    set_numpy_rng_state,
    torch_rng_tensor,
    write_state,
)


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


ACT_MODES = ("explore", "eval", "sample", "base", "zero")


class ChunkAgentBase:
    """Common act/observe/update/save/load scaffolding; subclasses build nets and losses."""

    KIND = "rl_agent"

    def __init__(self, policy: Any, cfg: Any, device: str | torch.device | None = None, seed: int = 0):
        self.cfg = cfg
        self.device = pick_device(device)
        self.fp = FrozenDiffusionPolicy(policy, self.device)
        self.seed = int(seed)
        self.torch_gen = torch.Generator(device="cpu")
        self.torch_gen.manual_seed(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.replay = ReplayBuffer(cfg.replay_capacity, "online")
        self.demo_replay = ReplayBuffer(cfg.replay_capacity, "demos")
        self.env_steps = 0
        self.rl_steps = 0
        self.grad_steps = 0
        self.feat_dim: int | None = None
        self.modules: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}

    # ------------------------------------------------------------ to implement
    def _build(self, feat_dim: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _choose_noise(self, obs_t: dict[str, torch.Tensor], feat: torch.Tensor, mode: str) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def _update_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover

    def _batch_source(self) -> tuple[ReplayBuffer, ReplayBuffer | None, float]:
        return self.replay, None, 0.0

    def _acts_with_networks(self, mode: str) -> bool:
        """Whether acting in `mode` (explore | eval | sample) uses the agent's networks."""
        return True

    # ------------------------------------------------------------ helpers
    @property
    def discount(self) -> float:
        """Per-env-step discount used to build chunk transitions."""
        if hasattr(self.cfg, "discount"):
            return float(self.cfg.discount)
        return float(self.cfg.iql.discount)

    @property
    def reward_convention(self) -> str:
        """How chunk transitions for this agent compute their reward (core.chunk_transitions.REWARDS)."""
        return str(getattr(self.cfg, "reward", "zero_one"))

    def new_history(self) -> ObsHistory:
        return self.fp.new_history()

    def _ensure_built(self, feat: torch.Tensor) -> None:
        if self.feat_dim is None:
            self.feat_dim = int(feat.shape[-1])
            self._build(self.feat_dim)

    def base_noise(self, n: int, clip: bool) -> torch.Tensor:
        """w ~ N(0, I) from the agent's generator, optionally clipped to the noise bound."""
        w = torch.randn((n, self.fp.noise_dim), generator=self.torch_gen)
        if clip:
            b = float(self.cfg.noise_bound)
            w = w.clamp(-b, b)
        return w.to(self.device)

    def batch_obs(self, batch: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
        return self.fp.to_torch({k: batch[f"{prefix}/{k}"] for k in self.fp.obs_keys}, batched=True)

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, device=self.device, dtype=torch.float32)

    # ------------------------------------------------------------ public API
    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], mode: str = "explore") -> tuple[np.ndarray, np.ndarray]:
        """obs: stacked history (ObsHistory output). mode: explore | eval | sample | base | zero.

        Returns (action chunk [horizon, A] unnormalised, noise w [horizon, A] that produced it).
        `explore` is what acting while learning does (a noise-space actor: w ~ N(0, I) during its
        warm start, then samples of the actor); `eval` acts greedily (the actor's mean; Best-of-N's
        argmax); `sample` is the learned policy sampled, without the warm start (DSRL's reference
        evaluates this way; Best-of-N: as `eval`). `base` samples w ~ N(0, I) exactly as the
        pretrained policy would (for baselines); `zero` decodes w = 0, the pretrained policy's
        deterministic chunk, which is what a noise-space actor with zero mean executes in `eval`.

        Never returns a non-finite chunk or noise: NonFiniteChunkError (core.policy_loop) names
        whether the observation or the agent (its networks' output) was at fault; the policy loop
        holds the arm instead. (No fallback to the pretrained policy's chunk: with a non-finite
        observation that is non-finite too, and a diverged actor is the learner's to fix.)
        """
        if mode not in ACT_MODES:
            raise ValueError(f"act mode must be one of {'|'.join(ACT_MODES)}, got {mode!r}")
        obs_t = self.fp.to_torch(obs, batched=False)
        feat = self.fp.features(obs_t)
        if mode == "base":
            w = self.base_noise(1, clip=False)
        elif mode == "zero":
            w = torch.zeros((1, self.fp.noise_dim), device=self.device)
        else:
            if self._acts_with_networks(mode):  # built on first need: a pretrained-mode agent never builds them
                self._ensure_built(feat)
            w = self._choose_noise(obs_t, feat, mode)
        chunk = self.fp.decode(obs_t, w)
        chunk_np, w_np = chunk[0].cpu().numpy(), w.reshape(self.fp.noise_shape).cpu().numpy()
        if not (np.isfinite(chunk_np).all() and np.isfinite(w_np).all()):
            raise NonFiniteChunkError(f"{type(self).__name__}.act({mode}): {self._non_finite_cause(obs, w_np)}")
        return chunk_np, w_np

    def _non_finite_cause(self, obs: dict[str, np.ndarray], w: np.ndarray) -> str:
        bad_obs = sorted(k for k in self.fp.obs_keys if np.asarray(obs[k]).dtype.kind == "f"
                         and not np.isfinite(obs[k]).all())
        if bad_obs:
            return f"observation {bad_obs} holds NaN or infinite values, so does the chunk"
        if not np.isfinite(w).all():
            return "the agent's noise is not finite (its networks' weights or inputs diverged)"
        return "the decoded chunk is not finite (the diffusion policy's output overflowed)"

    def observe(self, tr: Transition) -> None:
        """Store one executed chunk transition (its noise = the w the chunk was decoded from)."""
        action = tr.action[: self.fp.n_action_steps]
        if action.ndim != 2 or action.shape[0] == 0 or action.shape[1] != self.fp.action_dim:
            # e.g. a chunk every step of which was already past when it was published: it was never
            # executed, and an empty row would fix the buffer's action shape to (0, A) for good
            raise ValueError(f"transition has executed actions of shape {tuple(action.shape)}; expected "
                             f"1..{self.fp.n_action_steps} steps of {self.fp.action_dim}-D actions (not stored)")
        if action.shape[0] < self.fp.n_action_steps:  # episode ended inside the chunk: pad by repetition
            pad = np.repeat(action[-1:], self.fp.n_action_steps - action.shape[0], axis=0)
            action = np.concatenate([action, pad], axis=0)
        self.replay.add(dataclasses.replace(tr, action=action), noise_shape=self.fp.noise_shape)
        self.env_steps += tr.steps
        self.rl_steps += 1

    def add_demos(self, transitions: list[Transition]) -> int:
        """Add demonstration chunk transitions to the demonstration buffer (without noise)."""
        for tr in transitions:
            self.demo_replay.add(dataclasses.replace(tr, noise=None), noise_shape=self.fp.noise_shape)
        return len(transitions)

    def ready(self) -> bool:
        online, demos, _ = self._batch_source()
        n = len(online) + (len(demos) if demos is not None else 0)
        return n >= int(self.cfg.learning_starts) and self.feat_dim is not None

    def ensure_built_from(self, obs: dict[str, np.ndarray]) -> None:
        self._ensure_built(self.fp.features(self.fp.to_torch(obs, batched=False)))

    def update(self, n_steps: int | None = None) -> dict[str, float]:
        """Run `n_steps` (default cfg.utd) gradient steps; {} while the buffers are too small."""
        if self.feat_dim is None and len(self.demo_replay) + len(self.replay):
            src = self.replay if len(self.replay) else self.demo_replay
            row = src.gather(np.array([0]))
            self.ensure_built_from({k: row[f"obs/{k}"][0] for k in self.fp.obs_keys})
        if not self.ready():
            return {}
        acc: dict[str, float] = {}
        n = int(self.cfg.utd if n_steps is None else n_steps)
        for _ in range(n):
            online, demos, ratio = self._batch_source()
            batch = sample_mixed(online, demos, int(self.cfg.batch_size), ratio, self.np_rng)
            for k, v in self._update_step(batch).items():
                acc[k] = acc.get(k, 0.0) + float(v) / n
            self.grad_steps += 1
        return acc

    # ------------------------------------------------------------ exact resume
    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, meta: dict) -> None:
        pass

    def save(self, directory: str | Path) -> Path:
        """Write weights, optimizer states, RNG states, replay contents and counters."""
        tensors: dict[str, torch.Tensor] = {"rng/torch": torch_rng_tensor(self.torch_gen)}
        meta: dict[str, Any] = {
            "agent": type(self).__name__,
            "config": dataclasses.asdict(self.cfg),
            "seed": self.seed,
            "feat_dim": self.feat_dim,
            "counters": {"env_steps": self.env_steps, "rl_steps": self.rl_steps, "grad_steps": self.grad_steps},
            "rng_numpy": numpy_rng_state(self.np_rng),
            "policy": {"horizon": self.fp.horizon, "action_dim": self.fp.action_dim,
                       "n_action_steps": self.fp.n_action_steps, "obs_keys": self.fp.obs_keys},
            "optimizers": {},
            "replay": {},
            "extra": self._extra_state(),
        }
        for name, mod in self.modules.items():
            tensors.update(module_tensors(f"net.{name}", mod))
        for name, opt in self.optims.items():
            t, m = optimizer_state(f"opt.{name}", opt)
            tensors.update(t)
            meta["optimizers"][name] = m
        for name, buf in (("online", self.replay), ("demos", self.demo_replay)):
            if buf.data:
                t, m = buf.state_tensors(f"replay.{name}")
                tensors.update(t)
                meta["replay"][name] = m
        return write_state(directory, tensors, meta, self.KIND)

    def load(self, directory: str | Path) -> "ChunkAgentBase":
        tensors, meta = read_state(directory, self.KIND)
        where = str(directory)
        if meta.get("agent") != type(self).__name__:
            raise AgentCheckpointError(f"{where}: field 'agent' is {meta.get('agent')!r}, expected {type(self).__name__}")
        saved_cfg = meta["config"]
        if saved_cfg != dataclasses.asdict(self.cfg):
            diff = {k: (saved_cfg.get(k), v) for k, v in dataclasses.asdict(self.cfg).items() if saved_cfg.get(k) != v}
            raise AgentCheckpointError(
                f"{where}: field 'config' differs from this agent's config {diff} (saved, current); "
                "construct the agent with the saved config to resume"
            )
        pol = meta["policy"]
        if (pol["horizon"], pol["action_dim"], pol["n_action_steps"]) != (
            self.fp.horizon, self.fp.action_dim, self.fp.n_action_steps):
            raise AgentCheckpointError(f"{where}: field 'policy' {pol} does not match the diffusion policy given")
        if meta["feat_dim"] is not None and self.feat_dim is None:
            self.feat_dim = int(meta["feat_dim"])
            self._build(self.feat_dim)
        for name, mod in self.modules.items():
            load_module(f"net.{name}", mod, tensors, where)
        for name, opt in self.optims.items():
            if name not in meta["optimizers"]:
                raise AgentCheckpointError(f"{where}: optimizer '{name}' missing from field 'optimizers'")
            load_optimizer(f"opt.{name}", opt, tensors, meta["optimizers"][name])
        self.torch_gen.set_state(tensors["rng/torch"].to(torch.uint8))
        set_numpy_rng_state(self.np_rng, meta["rng_numpy"])
        c = meta["counters"]
        self.env_steps, self.rl_steps, self.grad_steps = int(c["env_steps"]), int(c["rl_steps"]), int(c["grad_steps"])
        for name, buf in (("online", self.replay), ("demos", self.demo_replay)):
            if name in meta["replay"]:
                buf.load_state(f"replay.{name}", tensors, meta["replay"][name])
        self._load_extra_state(meta["extra"])
        return self
