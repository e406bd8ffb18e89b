"""The observation contract: what a dataset was recorded with and what a checkpoint was trained on.

A policy only works on a cell that gives it the observations it was trained on and takes the
actions it produces. `ObservationContract` writes that down — robot type, arm joint names, action
space (kind joint | end_effector, mode absolute | delta, units and scale), control rate, chunking
(action horizon, executed steps, observation history) and every observation feature with its
shape, dtype, source and entry names — so that a dataset (meta/info.json, key
`observation_contract`) and a checkpoint (config.json, key `contract`) carry it, and `postbc eval`,
the policy node and `postbc launch finetune` can refuse a checkpoint made for another cell.

Comparison rules (`ObservationContract.check`, docs/interfaces.md "Observation contract"):
  must match exactly (a `Mismatch` with fatal=True; `require` raises `ContractMismatch`):
    robot_type; joint_names; action kind, mode, dim, names, units (scale within ACTION_SCALE_RTOL);
    every feature the trained contract lists: present in the running cell, same shape, dtype, source
    and entry names; chunking when both sides state one (a running cell normally does not).
  may differ with a warning (fatal=False): the control rate within CONTROL_RATE_MAX_RTOL (beyond it:
    fatal, the policy's steps would cover a different time span); extra features of the running
    cell are ignored.
  not checked, with a warning: any field one side does not know (None) — a contract derived from
    an old dataset or checkpoint (`derived_from` says what it was derived from).

Sources are short strings: "camera:<name>", "joint_states", "markers:ids=[..]",
"twin_state:privileged" (object/goal positions read out of the simulator), "proprio:joints,gripper,ee_xyz"
(arm joints, gripper and the tool position from forward kinematics), "proprio+markers:<m1>,<m2>"
(that, plus the poses of the named fiducial markers: `core.observation_assembler.marker_state_names`). An env may declare its own
per-key sources in an attribute `observation_sources` ({obs key: source}); otherwise
`default_source` infers them from the feature name and entry names.

ROS-free and torch-free: plain dataclasses and JSON.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

CONTRACT_VERSION = 1
INFO_KEY = "observation_contract"  # key of the contract in a dataset's meta/info.json (LeRobot ignores it)
CHECKPOINT_KEY = "contract"  # key of the contract in a checkpoint's config.json

# control rates within this relative difference are the same rate (float round-off of 1/dt)
CONTROL_RATE_SAME_RTOL = 1e-3
# control rates differing by up to this fraction are accepted with a warning; more is refused
# (a delta action is a step per control period: at 20 % more rate the arm moves 20 % faster)
CONTROL_RATE_MAX_RTOL = 0.10
# action scales (metres or radians per unit action and step) equal within float round-off
ACTION_SCALE_RTOL = 1e-6

IMAGE_PREFIX = "observation.images."
OBS_PREFIX = "observation."
# the twin's ee_delta action entries, and joint_delta's (dq1..dqN, gripper)
EE_DELTA_NAMES = ["dx", "dy", "dz", "gripper"]
JOINT_DELTA_PREFIX = "dq"
# entry-name prefixes of proprioception in a state vector (twin: q_<joint>, gripper, ee_x/y/z)
PROPRIO_NAME_PREFIXES = ("q_", "gripper", "ee_")
SOURCE_PRIVILEGED = "twin_state:privileged"
SOURCE_PROPRIO = "proprio:joints,gripper,ee_xyz"
SOURCE_MARKERS_PREFIX = "proprio+markers:"  # + the marker names, in state order
MARKER_NAME_PREFIX = "marker_"  # state entries marker_<name>_<x|y|z|visible|rel_x..>

# twin env `control` values by the contract's (action kind, mode)
TWIN_CONTROLS = {("end_effector", "delta"): "ee_delta", ("joint", "delta"): "joint_delta"}

ACTION_KINDS = ("joint", "end_effector")
ACTION_MODES = ("absolute", "delta")


class ContractError(ValueError):
    """A contract (JSON in a dataset or checkpoint) is malformed; the message names the field."""


@dataclass(frozen=True)
class ActionSpace:
    """What one action vector means. kind: joint | end_effector; mode: absolute | delta; units of
    the non-gripper entries (e.g. "m/step"); scale: units per 1.0 of action (None: unknown). The
    twin's gripper entry is always last, -1 open .. 1 closed."""

    kind: str | None
    mode: str | None
    dim: int
    names: tuple[str, ...] | None = None
    units: str | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in ACTION_KINDS:
            raise ContractError(f"action.kind is {self.kind!r}; use one of {ACTION_KINDS}")
        if self.mode is not None and self.mode not in ACTION_MODES:
            raise ContractError(f"action.mode is {self.mode!r}; use one of {ACTION_MODES}")

    def describe(self) -> str:
        kind = self.kind or "unknown-kind"
        mode = self.mode or "unknown-mode"
        scale = "" if self.scale is None else f"{self.scale:g} "
        units = f" ({scale}{self.units})" if self.units else ""
        return f"{self.dim}-D {kind} {mode}{units}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mode": self.mode, "dim": self.dim,
                "names": None if self.names is None else list(self.names), "units": self.units, "scale": self.scale}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ActionSpace":
        names = d.get("names")
        scale = d.get("scale")
        return cls(kind=d.get("kind"), mode=d.get("mode"), dim=int(d["dim"]),
                   names=None if names is None else tuple(str(n) for n in names), units=d.get("units"),
                   scale=None if scale is None else float(scale))


@dataclass(frozen=True)
class FeatureSpec:
    """One observation feature: LeRobot name (observation.state, observation.images.scene, ...),
    shape, dtype ("float32", "image", ...), source (None: unknown) and entry names (None: unnamed)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    source: str | None = None
    names: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "source": self.source,
                "names": None if self.names is None else list(self.names)}

    @classmethod
    def from_json(cls, name: str, d: Mapping[str, Any]) -> "FeatureSpec":
        names = d.get("names")
        return cls(name=name, shape=tuple(int(s) for s in d["shape"]), dtype=str(d["dtype"]),
                   source=d.get("source"), names=None if names is None else tuple(str(n) for n in names))


@dataclass(frozen=True)
class Chunking:
    """How a policy acts: `horizon` actions per chunk, `n_action_steps` of them executed, from the
    last `obs_history` observations."""

    horizon: int
    n_action_steps: int
    obs_history: int

    def to_json(self) -> dict[str, int]:
        return {"horizon": self.horizon, "n_action_steps": self.n_action_steps, "obs_history": self.obs_history}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Chunking":
        return cls(int(d["horizon"]), int(d["n_action_steps"]), int(d["obs_history"]))


@dataclass(frozen=True)
class Mismatch:
    """One difference between a trained contract and the running one; `fatal` ones refuse."""

    field: str
    trained: Any
    running: Any
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ContractMismatch(ValueError):
    """A checkpoint (or dataset) does not fit the running cell; the message names every field that
    differs, both values and the fix."""

    def __init__(self, mismatches: Sequence[Mismatch], what: str = "checkpoint", where: str = "") -> None:
        self.mismatches = list(mismatches)
        at = f" {where}" if where else ""
        lines = "\n".join(f"  - {m}" for m in self.mismatches)
        super().__init__(f"the {what}{at} does not match this cell's observation contract:\n{lines}")


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        v = list(v)
    return repr(v)


@dataclass(frozen=True)
class ObservationContract:
    """See the module docstring. `features` holds observation features only (the action is
    `action`); `chunking` is None for a dataset and for a running cell."""

    robot_type: str | None
    joint_names: tuple[str, ...] | None
    action: ActionSpace
    control_rate_hz: float | None
    features: tuple[FeatureSpec, ...]
    chunking: Chunking | None = None
    derived_from: str | None = None  # set when the contract was derived from an old dataset/checkpoint
    version: int = CONTRACT_VERSION

    # ------------------------------------------------------------------ access

    @property
    def feature_map(self) -> dict[str, FeatureSpec]:
        return {f.name: f for f in self.features}

    def feature(self, name: str) -> FeatureSpec:
        return self.feature_map[name]

    def restricted_to(self, names: Iterable[str], chunking: Chunking | None = None) -> "ObservationContract":
        """The contract of a policy trained on this dataset: only the features it reads, its chunking."""
        fm = self.feature_map
        names = list(names)
        missing = [n for n in names if n not in fm]
        if missing:
            raise ContractError(f"features {missing} are not in the contract (it has {sorted(fm)})")
        return ObservationContract(self.robot_type, self.joint_names, self.action, self.control_rate_hz,
                                   tuple(fm[n] for n in names), chunking, self.derived_from, self.version)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "robot_type": self.robot_type,
            "joint_names": None if self.joint_names is None else list(self.joint_names),
            "action": self.action.to_json(),
            "control_rate_hz": self.control_rate_hz,
            "chunking": None if self.chunking is None else self.chunking.to_json(),
            "features": {f.name: f.to_json() for f in self.features},
            "derived_from": self.derived_from,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "contract") -> "ObservationContract":
        """Parse a contract; ContractError names `where` and the bad field."""
        if not isinstance(d, Mapping):
            raise ContractError(f"{where}: must be a JSON object, got {type(d).__name__}")
        version = d.get("version", CONTRACT_VERSION)
        if version != CONTRACT_VERSION:
            raise ContractError(f"{where}: field 'version' is {version!r}, this postbc_ros reads {CONTRACT_VERSION}; "
                                "use the postbc_ros release that wrote it")
        try:
            joints = d.get("joint_names")
            chunking = d.get("chunking")
            rate = d.get("control_rate_hz")
            feats = d["features"]
            if not isinstance(feats, Mapping):
                raise TypeError(f"'features' must be an object, got {type(feats).__name__}")
            return cls(
                robot_type=d.get("robot_type"),
                joint_names=None if joints is None else tuple(str(j) for j in joints),
                action=ActionSpace.from_json(d["action"]),
                control_rate_hz=None if rate is None else float(rate),
                features=tuple(FeatureSpec.from_json(n, f) for n, f in feats.items()),
                chunking=None if chunking is None else Chunking.from_json(chunking),
                derived_from=d.get("derived_from"),
                version=int(version),
            )
        except ContractError as e:
            raise ContractError(f"{where}: {e}") from e
        except (KeyError, TypeError, ValueError) as e:
            raise ContractError(f"{where}: malformed observation contract ({e!r}); re-record the dataset or "
                                "re-save the checkpoint with this postbc_ros") from e

    # ------------------------------------------------------------------ comparison

    def check(self, running: "ObservationContract", what: str = "checkpoint") -> list[Mismatch]:
        """Every difference between this (trained) contract and the `running` cell's, fatal ones
        first; `what` names this side in the messages ("checkpoint", "dataset")."""
        out: list[Mismatch] = []
        unknown: list[str] = []

        def known(name: str, a: Any, b: Any) -> bool:
            if a is None or b is None:
                unknown.append(f"{name} (the {what} says {_fmt(a)}, this cell {_fmt(b)})")
                return False
            return True

        if known("robot_type", self.robot_type, running.robot_type) and self.robot_type != running.robot_type:
            out.append(Mismatch("robot_type", self.robot_type, running.robot_type,
                                f"the {what} was trained on robot {self.robot_type}, this cell runs {running.robot_type}: "
                                f"use a {running.robot_type} {what}, or retrain with "
                                f"`postbc pretrain --dataset <{running.robot_type} dataset>`"))
        if known("joint_names", self.joint_names, running.joint_names) and self.joint_names != running.joint_names:
            out.append(Mismatch("joint_names", self.joint_names, running.joint_names,
                                f"the {what} expects arm joints {_fmt(self.joint_names)}, this cell has "
                                f"{_fmt(running.joint_names)}: use a {what} recorded on this arm (same joint names and "
                                "order), or fix the arm driver's joint names"))
        out += self._check_action(running.action, what, known)
        out += self._check_features(running, what, known)
        if self.chunking is not None and running.chunking is not None and self.chunking != running.chunking:
            out.append(Mismatch("chunking", self.chunking.to_json(), running.chunking.to_json(),
                                f"the {what} acts in chunks {self.chunking.to_json()}, this cell is set up for "
                                f"{running.chunking.to_json()}: configure the cell from the checkpoint, or retrain "
                                "with that horizon / n_action_steps / obs_history"))
        if known("control_rate_hz", self.control_rate_hz, running.control_rate_hz):
            a, b = float(self.control_rate_hz), float(running.control_rate_hz)
            rel = abs(a - b) / max(a, b)
            if rel > CONTROL_RATE_SAME_RTOL:
                fatal = rel > CONTROL_RATE_MAX_RTOL
                out.append(Mismatch("control_rate_hz", a, b,
                                    f"the {what} was recorded at {a:g} Hz, this cell runs at {b:g} Hz ({rel:.0%} apart; "
                                    f"{'more than' if fatal else 'within'} the {CONTROL_RATE_MAX_RTOL:.0%} tolerance): "
                                    f"run the cell at {a:g} Hz (dt {1.0 / a:.4g} s), or record and train at {b:g} Hz",
                                    fatal=fatal))
        for name in unknown:
            out.append(Mismatch(name.split(" ")[0], None, None, f"not checked: {name}"
                                + (f"; the {what}'s contract was derived from {self.derived_from}"
                                   if self.derived_from else ""), fatal=False))
        return sorted(out, key=lambda m: not m.fatal)

    def _check_action(self, run: ActionSpace, what: str, known) -> list[Mismatch]:
        mine = self.action
        told = f"the {what} outputs {mine.describe()} actions, this cell takes {run.describe()}"
        fix = (f"{told}: run the cell with the {what}'s action space (control:={_control_name(mine)}), or use a "
               f"{what} trained with this cell's")
        fix_scale = f"{told}: use a {what} trained on this arm's action scaling"
        out = []
        for name in ("kind", "mode", "names", "units"):
            a, b = getattr(mine, name), getattr(run, name)
            if known(f"action.{name}", a, b) and a != b:
                out.append(Mismatch(f"action.{name}", a, b, f"{_fmt(a)} vs {_fmt(b)}; {fix}"))
        if mine.dim != run.dim:
            out.append(Mismatch("action.dim", mine.dim, run.dim, f"{mine.dim} vs {run.dim}; {fix}"))
        if known("action.scale", mine.scale, run.scale) and not math.isclose(
                mine.scale, run.scale, rel_tol=ACTION_SCALE_RTOL):
            out.append(Mismatch("action.scale", mine.scale, run.scale,
                                f"{mine.scale:g} vs {run.scale:g} {mine.units or ''} per unit action; {fix_scale}"))
        return out

    def _check_features(self, running: "ObservationContract", what: str, known) -> list[Mismatch]:
        out = []
        have = running.feature_map
        for f in self.features:
            r = have.get(f.name)
            key = f"features['{f.name}']"
            if r is None:
                out.append(Mismatch(key, f.to_json(), None,
                                    f"the {what} reads {f.name} ({f.dtype} {list(f.shape)} from {f.source or 'an unknown source'}), "
                                    f"which this cell does not provide (it has {sorted(have)}): add that input to the "
                                    f"cell, or use a {what} trained without it"))
                continue
            if tuple(f.shape) != tuple(r.shape) or f.dtype != r.dtype:
                out.append(Mismatch(f"{key}.shape", f"{f.dtype} {list(f.shape)}", f"{r.dtype} {list(r.shape)}",
                                    f"the {what} was trained on {f.dtype} {list(f.shape)}, this cell gives "
                                    f"{r.dtype} {list(r.shape)}: configure the cell's input to that shape (image size, "
                                    f"observation mode), or retrain on data recorded with this cell's"))
            if known(f"{key}.source", f.source, r.source) and f.source != r.source:
                out.append(Mismatch(f"{key}.source", f.source, r.source,
                                    f"the {what} was trained on {f.name} from {f.source}, this cell gives it from "
                                    f"{r.source}: use a {what} trained on the same source (e.g. record with the cell's "
                                    f"observation pipeline and retrain)"))
            if f.names is not None and r.names is not None and f.names != r.names and tuple(f.shape) == tuple(r.shape):
                diff = [(i, a, b) for i, (a, b) in enumerate(zip(f.names, r.names)) if a != b][:3]
                out.append(Mismatch(f"{key}.names", f.names, r.names,
                                    f"entries differ (index, {what}, cell): {diff}: the vector holds other quantities "
                                    f"in this cell; use a {what} recorded with the same observation layout"))
        return out

    def require(self, running: "ObservationContract", what: str = "checkpoint", where: str = "") -> list[Mismatch]:
        """Raise ContractMismatch when anything fatal differs; return the warnings otherwise."""
        found = self.check(running, what)
        fatal = [m for m in found if m.fatal]
        if fatal:
            raise ContractMismatch(fatal, what, where)
        return found


def _control_name(action: ActionSpace) -> str:
    return TWIN_CONTROLS.get((action.kind, action.mode), f"{action.kind}_{action.mode}")


# --------------------------------------------------------------------------- derivation


def default_source(name: str, names: Sequence[str] | None) -> str | None:
    """The source of a feature by the package's naming convention (module docstring); None when
    the name alone cannot tell."""
    if name.startswith(IMAGE_PREFIX):
        return f"camera:{name[len(IMAGE_PREFIX):]}"
    if name == OBS_PREFIX + "joints":
        return "joint_states"
    if name == OBS_PREFIX + "state" and names:
        names = [str(n) for n in names]
        if all(n.startswith(PROPRIO_NAME_PREFIXES) for n in names):
            return SOURCE_PROPRIO
        if all(n.startswith(PROPRIO_NAME_PREFIXES + (MARKER_NAME_PREFIX,)) for n in names):
            markers = list(dict.fromkeys(n[len(MARKER_NAME_PREFIX):].rsplit("_", 1)[0].removesuffix("_rel")
                                         for n in names if n.startswith(MARKER_NAME_PREFIX)))
            return SOURCE_MARKERS_PREFIX + ",".join(markers)
        return SOURCE_PRIVILEGED
    return None


def _robot_facts(robot_type: str | None) -> tuple[tuple[str, ...] | None, Any]:
    """(joint names, twin task params or None) of a registered robot; (None, None) otherwise."""
    if not robot_type:
        return None, None
    from postbc_ros.robots import get_robot

    try:
        entry = get_robot(robot_type)
    except ValueError:
        return None, None
    joints = tuple(entry.make_spec().joint_names)
    return joints, (entry.twin.task if entry.twin is not None else None)


def action_space_from_names(robot_type: str | None, names: Sequence[str] | None, dim: int) -> ActionSpace:
    """The action space the twin's action names stand for: [dx, dy, dz, gripper] = end-effector
    delta (m/step), [dq1..dqN, gripper] = joint delta (rad/step); other names: unknown kind."""
    _, task = _robot_facts(robot_type)
    names_t = None if names is None else tuple(str(n) for n in names)
    if names_t == tuple(EE_DELTA_NAMES):
        return ActionSpace("end_effector", "delta", dim, names_t, "m/step",
                           None if task is None else float(task.max_step))
    if names_t and names_t[-1] == "gripper" and all(n.startswith(JOINT_DELTA_PREFIX) for n in names_t[:-1]):
        return ActionSpace("joint", "delta", dim, names_t, "rad/step",
                           None if task is None else float(task.max_joint_step))
    return ActionSpace(None, None, dim, names_t)


def contract_from_features(robot_type: str | None, features: Mapping[str, Mapping[str, Any]],
                           fps: float | None, *, sources: Mapping[str, str] | None = None,
                           derived_from: str | None = None) -> ObservationContract:
    """A contract from a LeRobot feature dict (+ robot type, fps): joint names from the robot
    registry, the action space from the action's entry names, sources from `sources` ({feature
    name: source}) or `default_source`. Fields it cannot know stay None."""
    sources = dict(sources or {})
    joints, _ = _robot_facts(robot_type)
    feats = []
    for name, ft in features.items():
        if not name.startswith(OBS_PREFIX):
            continue
        names = ft.get("names")
        if ft.get("dtype") in ("image", "video"):
            names = None  # LeRobot's ["height", "width", "channel"] axis labels, not entries
        names = None if names is None else tuple(str(n) for n in names)
        feats.append(FeatureSpec(name, tuple(int(s) for s in ft["shape"]), str(ft["dtype"]),
                                 sources.get(name, default_source(name, names)), names))
    act = features.get("action")
    if act is None:
        raise ContractError(f"features have no 'action' entry (have {sorted(features)}); a dataset needs one")
    dim = int(act["shape"][0])
    return ObservationContract(
        robot_type=robot_type or None,
        joint_names=joints,
        action=action_space_from_names(robot_type, act.get("names"), dim),
        control_rate_hz=None if fps is None else float(fps),
        features=tuple(feats),
        derived_from=derived_from,
    )


def contract_from_checkpoint_config(config: Mapping[str, Any], where: str = "config.json"
                                    ) -> ObservationContract:
    """The contract a checkpoint's config.json records, or (old checkpoints) one derived from its
    dataset features, fps and obs shapes, with `derived_from` saying so (robot type unknown)."""
    if config.get(CHECKPOINT_KEY) is not None:
        return ObservationContract.from_json(config[CHECKPOINT_KEY], f"{where}: field '{CHECKPOINT_KEY}'")
    ds = config.get("dataset") or {}
    pol = config.get("policy") or {}
    shapes = config.get("obs_shapes") or pol.get("obs_shapes") or {}
    feature_names = ds.get("feature_names") or {}
    ds_features = ds.get("features") or {}
    feats = []
    for key, shape in shapes.items():
        fname = feature_names.get(key) or (IMAGE_PREFIX + key if len(shape) == 3 else OBS_PREFIX + key)
        spec = ds_features.get(fname) or {}
        dtype = spec.get("dtype") or ("image" if len(shape) == 3 else "float32")
        names = spec.get("names") if dtype not in ("image", "video") else None
        names = None if names is None else tuple(str(n) for n in names)
        feats.append(FeatureSpec(fname, tuple(int(s) for s in shape), dtype, default_source(fname, names), names))
    act = ds_features.get("action") or {}
    dim = int(config.get("action_dim") or pol.get("action_dim") or (act.get("shape") or [0])[0])
    chunking = None
    if pol.get("horizon") is not None:
        chunking = Chunking(int(pol["horizon"]), int(pol.get("n_action_steps") or pol["horizon"]),
                            int(pol.get("obs_history") or 1))
    fps = ds.get("fps")
    return ObservationContract(
        robot_type=None, joint_names=None,
        action=action_space_from_names(None, act.get("names"), dim) if act else ActionSpace(None, None, dim),
        control_rate_hz=None if fps is None else float(fps), features=tuple(feats), chunking=chunking,
        derived_from=f"{where} without a '{CHECKPOINT_KEY}' (a checkpoint older than the observation contract: "
                     "robot type, joint names and sources unknown; re-run `postbc pretrain` to record them)")
