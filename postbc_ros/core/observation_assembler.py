"""Observation assembler: pairs proprioception (joint_states), camera frames and marker detections
by capture stamp into the observation a policy gets, or into no observation and a named reason.

A real cell's inputs arrive on their own clocks. The assembler keeps the newest few samples of
each, takes the newest frame of the reference input (the first camera, else the marker stream,
else joint_states) as the observation's stamp, and pairs every other input with its sample
nearest to that stamp, within `slop_s`. It refuses, naming the input, when an input is missing,
when its newest sample is older than `max_age_s` on the clock (a camera that stopped), when no
sample lies within the slop, or when a configured marker was never detected. Never a stale
observation: the caller holds the arm while it gets None (docs/perception.md).

Output (`AssembledObservation.observation`), LeRobot keys:
  observation.state          float32, `marker_state_names(...)`: joints, gripper, tool xyz, then per
                             marker x, y, z, visible, then per marker the tool-relative x, y, z
  observation.images.<name>  the paired frame of each configured camera
The twin's `obs_mode="markers"` builds its state with the same `marker_state` (one layout). With no
markers configured the state is proprioception only (`proprio_state_names`: layout "proprio"), the
state of the twin's image modes -- a cell without fiducial markers observes that plus its images.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np

JOINT_STATES = "joint_states"
MARKERS = "markers"
#: what a cell's observation.state holds: joints + gripper + tool + marker poses | joints + gripper + tool
STATE_LAYOUTS = ("markers", "proprio")
#: samples kept per input: enough to pair a 30 Hz camera with 100+ Hz joint_states within 50 ms
DEFAULT_BUFFER = 16


class MarkerReading(Protocol):
    """What the assembler reads of a marker observation (postbc_ros.perception.MarkerObservation)."""

    position: np.ndarray | None
    visible: bool
    age_s: float


def marker_state_names(joint_names: Sequence[str], marker_names: Sequence[str]) -> list[str]:
    """Names of observation.state entries for proprioception + markers (one layout, twin and cell)."""
    names = [f"q_{n}" for n in joint_names] + ["gripper", "ee_x", "ee_y", "ee_z"]
    names += [f"marker_{m}_{a}" for m in marker_names for a in ("x", "y", "z", "visible")]
    names += [f"marker_{m}_rel_{a}" for m in marker_names for a in "xyz"]
    return names


def proprio_state_names(joint_names: Sequence[str]) -> list[str]:
    """Names of a proprioception-only observation.state (layout "proprio"): q_<joint>..., gripper,
    ee_x, ee_y, ee_z -- the state of the twin's image observation modes (TwinTaskEnv.state_names)."""
    return marker_state_names(joint_names, [])


def marker_state(q, gripper: float, tool, markers: Sequence[MarkerReading]) -> np.ndarray:
    """observation.state in the `marker_state_names` layout. A marker never seen contributes zeros
    (visible 0); one that left the view its last position with visible 0."""
    tool = np.asarray(tool, float).reshape(3)
    pos, rel = [], []
    for m in markers:
        p = np.zeros(3) if m.position is None else np.asarray(m.position, float).reshape(3)
        pos += [*p, 1.0 if m.visible else 0.0]
        rel += list(p - tool) if m.position is not None else [0.0, 0.0, 0.0]
    return np.concatenate([np.asarray(q, float).ravel(), [float(gripper)], tool, pos, rel]).astype(np.float32)


@dataclass(frozen=True)
class AssemblerConfig:
    """cameras: image inputs, each stored as observation.images.<name>; markers: marker names in
    state order (empty: no marker features); slop_s: largest stamp difference paired [s];
    max_age_s: an input whose newest sample is older than this (clock - stamp) blocks [s]."""

    cameras: tuple[str, ...] = ("scene",)
    markers: tuple[str, ...] = ()
    slop_s: float = 0.05
    max_age_s: float = 0.2
    buffer: int = DEFAULT_BUFFER

    def __post_init__(self) -> None:
        if not (self.slop_s >= 0 and math.isfinite(self.slop_s)):
            raise ValueError(f"AssemblerConfig: slop_s must be a finite number of seconds >= 0, got {self.slop_s!r}")
        if not (self.max_age_s > 0 and math.isfinite(self.max_age_s)):
            raise ValueError(f"AssemblerConfig: max_age_s must be a finite number of seconds > 0, got {self.max_age_s!r}")
        if self.buffer < 1:
            raise ValueError(f"AssemblerConfig: buffer must be >= 1 samples, got {self.buffer!r}")


@dataclass(frozen=True)
class AssembledObservation:
    """The policy's observation, its stamp (capture time of the reference input) and the stamp of
    every input paired into it, plus each marker's age (for diagnostics and recording)."""

    stamp: float
    observation: dict[str, np.ndarray]
    input_stamps: dict[str, float]
    marker_ages: dict[str, float] = field(default_factory=dict)


def _describe(name: str) -> str:
    return name if name in (JOINT_STATES, MARKERS) else f"camera {name}"


class ObservationAssembler:
    """Feed it with add_joint_state / add_frame / add_markers; `assemble()` returns the newest
    observation or None with `reason` set. `tool_position(q)` maps joint positions to the tool
    point in the base frame (the arm's forward kinematics; RobotSpec.fk(q)[0])."""

    def __init__(self, config: AssemblerConfig, tool_position: Callable[[np.ndarray], np.ndarray],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._fk = tool_position
        self._clock = clock
        inputs = [JOINT_STATES, *config.cameras] + ([MARKERS] if config.markers else [])
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"AssemblerConfig: camera names must be unique and not {JOINT_STATES!r}/{MARKERS!r}: {inputs}")
        self._buf: dict[str, deque] = {k: deque(maxlen=config.buffer) for k in inputs}
        self.reason = "nothing assembled yet"

    # ----------------------------------------------------------------------------- inputs
    def _add(self, key: str, stamp: float, value) -> None:
        if not math.isfinite(stamp):
            raise ValueError(f"ObservationAssembler: {_describe(key)}: stamp must be finite, got {stamp!r}")
        buf = self._buf[key]
        if buf and stamp < buf[-1][0]:
            buf.clear()  # the source restarted (its clock went back): older samples are of another run
        buf.append((float(stamp), value))

    def add_joint_state(self, stamp: float, positions, gripper: float) -> None:
        """Arm joint positions [rad] and gripper (0 open .. 1 closed) measured at `stamp`."""
        self._add(JOINT_STATES, stamp, (np.asarray(positions, float).copy(), float(gripper)))

    def add_frame(self, camera: str, stamp: float, image: np.ndarray) -> None:
        """A frame of `camera` captured at `stamp` (cameras not configured are refused)."""
        if camera not in self.config.cameras:
            raise ValueError(f"ObservationAssembler: camera {camera!r} is not configured (cameras: {list(self.config.cameras)})")
        self._add(camera, stamp, image)

    def add_markers(self, stamp: float, markers: Mapping[str, MarkerReading]) -> None:
        """The marker observations computed from the frame captured at `stamp`."""
        if not self.config.markers:
            raise ValueError("ObservationAssembler: no markers configured (AssemblerConfig.markers)")
        missing = [m for m in self.config.markers if m not in markers]
        if missing:
            raise ValueError(f"ObservationAssembler: marker observations lack {missing} (configured: {list(self.config.markers)})")
        self._add(MARKERS, stamp, dict(markers))

    def reset(self) -> None:
        """Drop every buffered sample (e.g. after the arm was reset)."""
        for b in self._buf.values():
            b.clear()
        self.reason = "reset: waiting for new inputs"

    # ---------------------------------------------------------------------------- output
    def _refuse(self, reason: str) -> None:
        self.reason = reason
        return None

    def assemble(self) -> AssembledObservation | None:
        """The observation at the newest reference stamp, or None (see `reason`)."""
        cfg, now = self.config, self._clock()
        for key, buf in self._buf.items():
            if not buf:
                return self._refuse(f"{_describe(key)}: nothing received yet")
            age = now - buf[-1][0]
            if age > cfg.max_age_s:
                what = "frame" if key not in (JOINT_STATES, MARKERS) else "sample"
                return self._refuse(f"{_describe(key)}: last {what} {age:.2f} s old > max_age {cfg.max_age_s:g} s")
        ref = cfg.cameras[0] if cfg.cameras else (MARKERS if cfg.markers else JOINT_STATES)
        stamp = self._buf[ref][-1][0]
        picked: dict[str, tuple[float, object]] = {}
        for key, buf in self._buf.items():
            s, v = min(buf, key=lambda sv: abs(sv[0] - stamp))
            if abs(s - stamp) > cfg.slop_s:
                return self._refuse(f"{_describe(key)}: nearest sample {abs(s - stamp):.3f} s from the {_describe(ref)} "
                                    f"stamp {stamp:.3f} > slop {cfg.slop_s:g} s")
            picked[key] = (s, v)
        q, gripper = picked[JOINT_STATES][1]
        tool = np.asarray(self._fk(q), float).reshape(3)
        readings = []
        if cfg.markers:
            obs = picked[MARKERS][1]
            for name in cfg.markers:
                if obs[name].position is None:
                    return self._refuse(f"marker {name}: not detected yet (is it in the camera's view?)")
                readings.append(obs[name])
        observation = {"observation.state": marker_state(q, gripper, tool, readings)}
        for cam in cfg.cameras:
            observation[f"observation.images.{cam}"] = picked[cam][1]
        self.reason = ""
        return AssembledObservation(stamp, observation, {k: sv[0] for k, sv in picked.items()},
                                    {n: float(r.age_s) for n, r in zip(cfg.markers, readings)})
