"""One chunk-level RL transition: the type every producer and consumer shares (ROS-free).

A `Transition` is one executed action chunk: the stacked observation history it was decided on
(`obs`), the actions actually executed (`action` [k, A]), the steered initial noise w (`noise`;
None for a human chunk or a demonstration), the reward Σ γ^i r_i over the executed steps, the
bootstrap discount γ^k, the terminal flag `done`, the next decision's history (`next_obs`) and
`steps` = k; plus the policy's bookkeeping (robot, episode, version, stamps, ...) and the
replay buffer's forwarding fields (seq, store_step, replayed).

ONE array codec (`arrays()` / `scalars()`) serves every place a transition is stored or sent:
  - the wire record (postbc_ros.core.wire "transition"): header = every scalar field, arrays =
    obs/<key>, next_obs/<key>, action, noise (absent when None) -- `to_wire` / `from_wire`;
  - a ReplayStore step: the same arrays, next_obs and noise under extra/; reward, done
    (terminated), intervention and t_obs (stamp) as the step's own fields, the other
    bookkeeping in its info -- `to_store_step` / `from_store_step`;
  - the RL agents take the object itself (`agent.observe`, `agent.add_demos`, `ReplayBuffer.add`).
Decoding checks the fields (none missing, none unknown, each of its type), the shapes (action
[k, A] with k = steps; obs and next_obs with the same keys and shapes) and the values (every
number and every float array finite: a NaN must never reach the store, the learner or the arm)
and raises TransitionError naming what is wrong; its `reason` (missing_field, unknown_field,
wrong_type, wrong_shape, non_finite) is what the nodes count dropped messages under.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from postbc_ros.core import wire


#: why a transition is refused (TransitionError.reason; the nodes' drop counters)
MISSING, UNKNOWN, WRONG_TYPE, WRONG_SHAPE, NON_FINITE = (
    "missing_field", "unknown_field", "wrong_type", "wrong_shape", "non_finite")


class TransitionError(ValueError):
    """A transition that cannot be built or decoded; the message names the field, `reason` the kind."""

    def __init__(self, message: str, reason: str = WRONG_TYPE):
        super().__init__(message)
        self.reason = reason


def _real(name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TransitionError(f"field '{name}' = {v!r}: expected a number")
    if not np.isfinite(v):
        raise TransitionError(f"field '{name}' = {v!r}: expected a finite number", NON_FINITE)
    return float(v)


def _finite_array(name: str, a: np.ndarray) -> np.ndarray:
    """`a` unchanged when it is numeric and (if floating point) finite; TransitionError naming `name`."""
    if a.dtype.kind not in "fiub":
        raise TransitionError(f"array '{name}' has dtype {a.dtype}: expected numbers")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise TransitionError(f"array '{name}' holds {int((~np.isfinite(a)).sum())} non-finite value(s), the first "
                              f"{a[tuple(bad)]} at index {tuple(int(i) for i in bad)}", NON_FINITE)
    return a


def _integer(name: str, v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TransitionError(f"field '{name}' = {v!r}: expected an integer")
    return int(v)


def _flag(name: str, v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TransitionError(f"field '{name}' = {v!r}: expected true or false")
    return bool(v)


def _text(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise TransitionError(f"field '{name}' = {v!r}: expected a string")
    return v


def _robot_id(name: str, v: Any) -> str:
    v = _text(name, v)
    if not v.replace("_", "").replace("-", "").isalnum():
        raise TransitionError(f"robot id {v!r} must be alphanumeric, '_' or '-' (it names a directory)")
    return v


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, v: None if v is None else check(name, v)


#: every scalar field with its check (also its conversion to a plain Python value for JSON)
SCALARS: dict[str, Callable[[str, Any], Any]] = {
    "reward": _real, "discount": _real, "done": _flag, "steps": _integer,
    "robot": _robot_id, "episode": _integer, "policy_version": _integer, "t_obs": _optional(_real),
    "t_first": _optional(_real), "inference_s": _optional(_real), "dropped": _integer, "mode": _text,
    "intervention": _flag, "episode_end": _flag, "success": _optional(_flag),
    "seq": _optional(_integer), "store_step": _optional(_integer), "replayed": _flag,
}
#: the replay buffer's forwarding fields: on the wire to the learner, not in the store
FORWARDING = ("seq", "store_step", "replayed")
#: scalars a store step holds in its own fields (transition field -> step field), not in its info
STEP_FIELDS = {"reward": "reward", "done": "terminated", "intervention": "intervention"}
#: what a store step's info must hold (the rest of the bookkeeping may be absent in old stores)
STORE_INFO_REQUIRED = ("discount", "steps")
ARRAY_GROUPS = ("obs/", "next_obs/")
DEFAULT_ROBOT = "robot"


@dataclass(eq=False)
class Transition:
    obs: dict[str, np.ndarray]  # stacked observation history the chunk was decided on
    action: np.ndarray  # executed actions [k, A]
    reward: float  # Σ_i γ^i r_i over the executed steps
    discount: float  # bootstrap discount γ^k
    done: bool  # terminal (success)
    next_obs: dict[str, np.ndarray]  # the next decision's observation history
    steps: int  # k, env steps executed
    noise: np.ndarray | None = None  # steered initial noise w; None: a human chunk or a demonstration
    # the policy's bookkeeping
    robot: str = DEFAULT_ROBOT
    episode: int = 0
    policy_version: int = 0
    t_obs: float | None = None  # stamp of the observation the chunk was decided on
    t_first: float | None = None  # when its first executed step's setpoint is reached
    inference_s: float | None = None
    dropped: int = 0  # leading steps already past when the chunk was published
    mode: str = ""
    intervention: bool = False  # a human (takeover) chunk
    episode_end: bool = False  # the episode's last transition
    success: bool | None = None  # the episode's label, on its last transition
    # the replay buffer's forwarding fields
    seq: int | None = None
    store_step: int | None = None
    replayed: bool = False  # republished history (/replay/sync), not a new step

    def __post_init__(self):
        for name, check in SCALARS.items():
            setattr(self, name, check(name, getattr(self, name)))
        self.action = _finite_array("action", np.asarray(self.action, np.float32))
        if self.noise is not None:
            self.noise = _finite_array("noise", np.asarray(self.noise, np.float32))
        for group, arrays in (("obs", self.obs), ("next_obs", self.next_obs)):
            for k, v in arrays.items():
                _finite_array(f"{group}/{k}", np.asarray(v))

    # ------------------------------------------------------------ the one codec
    def scalars(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SCALARS}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs/{k}": np.asarray(v) for k, v in self.obs.items()}
        out.update({f"next_obs/{k}": np.asarray(v) for k, v in self.next_obs.items()})
        out["action"] = self.action
        if self.noise is not None:
            out["noise"] = self.noise
        return out

    @classmethod
    def decode(cls, scalars: dict[str, Any], arrays: dict[str, np.ndarray], where: str,
               required: tuple[str, ...] | None = None) -> "Transition":
        """Inverse of (scalars(), arrays()); `required`: the scalars that must be present (all
        by default). TransitionError naming the field when anything is missing, unknown or of the
        wrong type or shape."""
        unknown = sorted(set(scalars) - set(SCALARS))
        missing = sorted(set(SCALARS if required is None else required) - set(scalars))
        if unknown or missing:
            raise TransitionError(f"{where}: " + "; ".join(
                ([f"unknown field(s) {unknown}"] if unknown else []) + ([f"missing field(s) {missing}"] if missing else [])),
                MISSING if missing else UNKNOWN)
        groups = {g: {k[len(g):]: np.asarray(v) for k, v in arrays.items() if k.startswith(g)} for g in ARRAY_GROUPS}
        obs, next_obs = groups["obs/"], groups["next_obs/"]
        other = sorted(k for k in arrays if not k.startswith(ARRAY_GROUPS) and k not in ("action", "noise"))
        if other:
            raise TransitionError(f"{where}: unknown array(s) {other}", UNKNOWN)
        if "action" not in arrays or not obs:
            raise TransitionError(f"{where}: missing array(s) {'action' if 'action' not in arrays else 'obs/<key>'}",
                                  MISSING)
        if sorted(obs) != sorted(next_obs):
            raise TransitionError(f"{where}: obs keys {sorted(obs)} differ from next_obs keys {sorted(next_obs)}",
                                  WRONG_SHAPE)
        for k in obs:
            if obs[k].shape != next_obs[k].shape:
                raise TransitionError(f"{where}: obs/{k} shape {obs[k].shape} != next_obs/{k} shape {next_obs[k].shape}",
                                      WRONG_SHAPE)
        try:
            tr = cls(obs=obs, next_obs=next_obs, action=arrays["action"], noise=arrays.get("noise"), **scalars)
        except TransitionError as e:  # a field's type or value
            raise TransitionError(f"{where}: {e}", e.reason) from None
        except (TypeError, ValueError) as e:
            raise TransitionError(f"{where}: {e}") from None
        if tr.action.ndim != 2 or tr.action.shape[0] != tr.steps:
            raise TransitionError(f"{where}: action shape {tr.action.shape}, expected [steps={tr.steps}, action dim]",
                                  WRONG_SHAPE)
        return tr

    # ------------------------------------------------------------ wire
    def to_wire(self) -> bytes:
        """The wire "transition" record (policy -> replay buffer -> learner)."""
        return wire.pack_transition(self.scalars(), self.arrays())

    @classmethod
    def from_wire(cls, data) -> "Transition":
        """Decode a wire record; WireError (not a record) or TransitionError (not a transition)."""
        header, arrays = wire.unpack_transition(data)
        header.pop("kind")
        return cls.decode(header, arrays, "transition record")

    # ------------------------------------------------------------ replay store
    def to_store_step(self) -> dict[str, Any]:
        """ReplayStore.add_step kwargs."""
        arrays = self.arrays()
        extra = {k: v for k, v in arrays.items() if not k.startswith("obs/") and k != "action"}
        info = {k: v for k, v in self.scalars().items() if k not in STEP_FIELDS and k not in FORWARDING}
        return dict(obs=self.obs, action=self.action, reward=self.reward, terminated=self.done,
                    intervention=self.intervention, extra=extra, stamp=self.t_obs, info=info)

    @classmethod
    def from_store_step(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Transition":
        """ReplayStore.read_step output -> Transition (its forwarding fields unset)."""
        scalars = dict(meta.get("info", {}))
        scalars.update({f: meta[step_field] for f, step_field in STEP_FIELDS.items() if step_field in meta})
        flat = {k.removeprefix("extra/"): v for k, v in arrays.items()}
        return cls.decode(scalars, flat, "replay store step", required=STORE_INFO_REQUIRED + tuple(STEP_FIELDS))

    def replace(self, **changes: Any) -> "Transition":
        return dataclasses.replace(self, **changes)
