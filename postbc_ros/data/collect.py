"""THE recording path: env observation -> teleop device -> action -> env.step -> dataset frame.

`EpisodeRecorder` is the per-step part (used frame by frame by the ROS teleop_node too);
`collect_episodes` runs whole episodes against a gymnasium env for `postbc collect`.

Frame convention (LeRobot): a frame holds the observation the action was chosen from, the
action, and `next.success` = the task's success flag *after* the step; `intervention` marks frames
where a human overrode a policy.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from postbc_ros.core.observation_contract import (
    EE_DELTA_NAMES,
    JOINT_DELTA_PREFIX,
    ObservationContract,
    contract_from_features,
)
from postbc_ros.data.camera_frames import DEFAULT_SLOP_S, CameraFrames, ImageFormat, with_images
from postbc_ros.data.lerobot_format import DatasetError
from postbc_ros.data.writer import DatasetWriter

log = logging.getLogger(__name__)

# steps recorded after the task first succeeds: demonstrations then show the arm arriving and
# settling (cut at the first success frame, the last actions are still ~0.8 of full speed and a
# policy learns to drift through the goal; WidowX reach BC 0.68 -> 1.00 with 8 more steps)
SETTLE_STEPS = 8


def _obs_feature_name(key: str, space) -> str:
    shape = tuple(space.shape or ())
    if len(shape) == 3 and shape[-1] == 3:
        return f"observation.images.{key}"
    return f"observation.{key}"


def features_from_env(env) -> dict[str, dict]:
    """LeRobot features recorded for an env: its observation dict entries, the action, and the
    per-frame labels `next.success` and `intervention`. The state vector's entries are named
    after `env.state_names` when the env has them (they are part of the observation contract)."""
    import gymnasium as gym

    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Dict):
        raise DatasetError(f"collect: env observation space must be a Dict (got {obs_space}); see docs/interfaces.md")
    feats: dict[str, dict] = {}
    for key, space in obs_space.spaces.items():
        name = _obs_feature_name(key, space)
        if name.startswith("observation.images."):
            if space.dtype != np.uint8:
                raise DatasetError(f"collect: image observation '{key}' must be uint8, got {space.dtype}")
            feats[name] = {"dtype": "image", "shape": list(space.shape), "names": ["height", "width", "channel"]}
        else:
            if len(space.shape) != 1:
                raise DatasetError(f"collect: observation '{key}' must be a vector or an HxWx3 image, got {space.shape}")
            names = _entry_names(env, key, int(space.shape[0]))
            feats[name] = {"dtype": "float32", "shape": list(space.shape), "names": names}
    act = env.action_space
    if len(act.shape) != 1:
        raise DatasetError(f"collect: action space must be a vector, got {act.shape}")
    joint_names = [f"{JOINT_DELTA_PREFIX}{i + 1}" for i in range(act.shape[0] - 1)] + ["gripper"]
    names = EE_DELTA_NAMES if act.shape[0] == 4 else joint_names
    feats["action"] = {"dtype": "float32", "shape": [int(act.shape[0])], "names": names}
    feats["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    feats["intervention"] = {"dtype": "bool", "shape": [1], "names": None}
    return feats


# what observation/state holds: the twin's task vector | a real cell's with markers | a real cell's without (proprio)
OBSERVATION_LAYOUTS = ("twin", "markers", "proprio")


def observation_state_names(env, layout: str) -> list[str]:
    """Entry names of the `observation/state` vector a recorder gets, by layout: "twin" = the twin's
    task vector (`env.state_names`: privileged object/goal positions, sim:=true), "markers" = a real
    cell's (joints, gripper, tool, marker poses: observation_node, the twin's `markers` mode),
    "proprio" = a cell's without markers (joints, gripper, tool: observation_node layout proprio, the
    state of the twin's `image` mode)."""
    from postbc_ros.core.observation_assembler import marker_state_names, proprio_state_names

    if layout not in OBSERVATION_LAYOUTS:
        raise ValueError(f"observation layout {layout!r}: must be one of {list(OBSERVATION_LAYOUTS)}")
    u = env.unwrapped
    if layout == "twin":
        return [str(n) for n in u.state_names]
    if layout == "proprio":
        return proprio_state_names(u.twin.joint_names)
    return marker_state_names(u.twin.joint_names, [m.name for m in u.marker_specs])


def recording_features(env, state_names: Sequence[str] | None = None) -> dict[str, dict]:
    """`features_from_env(env)` with `observation.state` of the given entries (the observation the
    recorder actually gets, e.g. a real cell's markers layout) instead of the env's own."""
    feats = features_from_env(env)
    if state_names is not None:
        feats["observation.state"] = {"dtype": "float32", "shape": [len(state_names)],
                                      "names": [str(n) for n in state_names]}
    return feats


def open_recorder(env, dataset_dir, task: str, robot: str, layout: str = "twin", *, camera: str = "",
                  image: ImageFormat | None = None, slop_s: float = DEFAULT_SLOP_S,
                  ) -> tuple[DatasetWriter, EpisodeRecorder, CameraFrames | None]:
    """The dataset a step-by-step recorder (teleop_node) appends to: `env`'s features with the
    observation.state of `layout` (`observation_state_names`), plus `camera`'s images (stored per
    `image`, paired with each step through the returned CameraFrames; None without a camera)."""
    frames = CameraFrames([camera], image or ImageFormat(), slop_s) if camera else None
    features = with_images(recording_features(env, observation_state_names(env, layout)), frames)
    writer = DatasetWriter(dataset_dir, features, fps=env_fps(env), robot_type=robot)
    return writer, EpisodeRecorder(writer, task), frames


def _entry_names(env, key: str, dim: int) -> list[str] | None:
    """Names of the entries of a vector observation: `state_names` for 'state' (twin envs)."""
    names = getattr(env.unwrapped, "state_names", None) if key == "state" else None
    if names is None:
        return None
    names = [str(n) for n in names]
    return names if len(names) == dim else None


def contract_for_env(env) -> ObservationContract:
    """The observation contract of what `env` gives and takes: its robot (`env.unwrapped.robot`),
    control rate, action space and every observation feature of `features_from_env`, with the
    sources the env declares (`observation_sources`: {obs key: source}) or the naming convention's.
    What a dataset recorded from `env` carries, and what a checkpoint evaluated on it must match."""
    feats = features_from_env(env)
    declared = getattr(env.unwrapped, "observation_sources", None) or {}
    sources = {_obs_feature_name(k, env.observation_space.spaces[k]): str(v) for k, v in declared.items()
               if k in env.observation_space.spaces}
    robot = getattr(env.unwrapped, "robot", None)
    return contract_from_features(None if robot is None else str(robot), feats, env_fps(env), sources=sources)


def env_fps(env) -> float:
    """Control rate of an env: 1 / twin.control_dt, else metadata['render_fps'], else 10."""
    twin = getattr(env.unwrapped, "twin", None)
    dt = getattr(twin, "control_dt", None)
    if dt:
        return round(1.0 / float(dt), 6)
    return float(env.metadata.get("render_fps") or 10)


class EpisodeRecorder:
    """Frame-by-frame recording of one episode at a time into a DatasetWriter.

    obs_map: env observation key -> dataset feature (default: 'state' -> 'observation.state',
    images 'scene' -> 'observation.images.scene', from the writer's features).
    """

    def __init__(self, writer: DatasetWriter, task: str, obs_map: Mapping[str, str] | None = None) -> None:
        self.writer = writer
        self.task = task
        feats = writer.features
        if obs_map is None:
            obs_map = {}
            for name in feats:
                if name.startswith("observation.images."):
                    obs_map[name[len("observation.images."):]] = name
                elif name.startswith("observation."):
                    obs_map[name[len("observation."):]] = name
        self.obs_map = dict(obs_map)
        self.has_intervention = "intervention" in feats
        self.has_success = "next.success" in feats
        self.success_seen = False

    @property
    def num_frames(self) -> int:
        return self.writer.episode_length

    def add_step(self, obs: Mapping[str, Any], action: np.ndarray, success: bool = False,
                 intervention: bool = False, timestamp: float | None = None) -> None:
        """Record the observation an action was taken from, the action, and the outcome."""
        frame: dict[str, Any] = {}
        for key, name in self.obs_map.items():
            if key not in obs:
                raise DatasetError(f"EpisodeRecorder: observation has no '{key}' (keys {sorted(obs)}) for '{name}'")
            frame[name] = obs[key]
        frame["action"] = np.asarray(action, dtype=np.float32)
        if self.has_success:
            frame["next.success"] = bool(success)
        if self.has_intervention:
            frame["intervention"] = bool(intervention)
        if timestamp is not None:
            frame["timestamp"] = timestamp
        self.writer.add_frame(frame)
        self.success_seen = self.success_seen or bool(success)

    def save(self, success: bool | None = None) -> int:
        """Commit the episode (success defaults to whether the task reported success)."""
        label = self.success_seen if success is None else bool(success)
        index = self.writer.save_episode(self.task, success=label)
        self.success_seen = False
        return index

    def save_or_discard(self, success: bool | None = None) -> DatasetError | None:
        """`save`, for a recorder that keeps running (teleop_node): a failed save (disk full ...)
        drops the episode's frames and returns the error instead of raising; the episodes saved
        before are intact and the next one can be recorded."""
        try:
            self.save(success)
        except DatasetError as err:
            self.discard()
            return err
        return None

    def discard(self) -> None:
        self.writer.clear_episode()
        self.success_seen = False


@dataclass
class EpisodeResult:
    episode_index: int  # index in the dataset
    length: int
    success: bool
    mode: str | None = None  # scripted operator's mode, when known


class CollectionAborted(RuntimeError):
    """The operator aborted collection (abort button / Ctrl-C); saved episodes are kept."""


def _hold_action(dim: int, gripper: float) -> np.ndarray:
    a = np.zeros(dim, dtype=np.float32)
    a[-1] = gripper
    return a


def collect_episodes(
    env,
    device,
    writer: DatasetWriter,
    episodes: int,
    task_name: str,
    *,
    seed: int | None = None,
    max_steps: int | None = None,
    keep_failures: bool = True,
    progress: bool = True,
    realtime: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    settle_steps: int = SETTLE_STEPS,
) -> list[EpisodeResult]:
    """Record `episodes` episodes of `device` operating `env` into `writer`.

    Episode k resets the env with seed + k. A human device (requires_start) is polled until its
    start event; the episode then runs until the env terminates/truncates, `max_steps`, or the
    operator's stop (label = task success) / success / failure. After the task first succeeds the
    episode goes on for `settle_steps` more steps (the operator keeps acting; `next.success` is
    recorded per frame), unless the env truncates or `max_steps` is reached. Abort discards the episode in
    flight and stops; earlier episodes stay saved. Failed episodes are saved (with success=False)
    unless keep_failures is False.
    """
    from tqdm import tqdm

    if int(settle_steps) < 0:
        raise ValueError(f"collect: settle_steps must be >= 0 (steps recorded after success), got {settle_steps}")
    act_dim = int(env.action_space.shape[0])
    recorder = EpisodeRecorder(writer, task_name)
    fps = env_fps(env)
    pace = getattr(device, "realtime", False) if realtime is None else realtime
    results: list[EpisodeResult] = []
    attempt = 0
    bar = tqdm(total=episodes, desc=f"collect {task_name}", unit="ep", disable=not progress)
    max_attempts = max(10, 20 * episodes)
    try:
        while len(results) < episodes:
            if attempt >= max_attempts:
                raise DatasetError(
                    f"collect: only {len(results)} of {episodes} episodes kept after {attempt} attempts "
                    "(keep_failures=False and the operator keeps failing); check the task or keep failures"
                )
            obs, info = env.reset(seed=None if seed is None else seed + attempt)
            attempt += 1
            device.reset()
            if getattr(device, "requires_start", False):
                log.info("episode %d: waiting for the operator's start", len(results))
                while True:
                    cmd = device.read(obs)
                    if cmd.abort:
                        raise CollectionAborted("aborted while waiting for start")
                    if cmd.start:
                        break
                    sleep(1.0 / fps)
            label: bool | None = None
            steps = 0
            success = bool(info.get("success", False))
            reached = False  # the task succeeded at some step of this episode
            settle_left: int | None = None  # steps still to record after the first success
            while True:
                t0 = time.monotonic()
                cmd = device.read(obs)
                if cmd.abort:
                    recorder.discard()
                    raise CollectionAborted(f"aborted during episode {len(results)}")
                if cmd.success or cmd.failure or cmd.stop:
                    label = True if cmd.success else False if cmd.failure else None
                    if recorder.num_frames:
                        break
                action = cmd.action if cmd.action is not None else _hold_action(act_dim, getattr(device, "gripper", -1.0))
                action = np.asarray(action, dtype=np.float32)
                if action.shape != (act_dim,):
                    raise DatasetError(
                        f"collect: device '{getattr(device, 'name', device)}' gives actions of shape {action.shape}, "
                        f"the env wants ({act_dim},); teleop devices drive control='ee_delta' envs"
                    )
                next_obs, _r, terminated, truncated, info = env.step(action)
                success = bool(info.get("success", False))
                recorder.add_step(obs, action, success=success, intervention=cmd.intervene)
                obs = next_obs
                steps += 1
                if success and settle_left is None:
                    reached, settle_left = True, int(settle_steps)
                elif settle_left is not None:
                    settle_left -= 1
                if truncated or (terminated and not reached) or (max_steps is not None and steps >= max_steps):
                    break
                if settle_left is not None and settle_left <= 0:
                    break
                if pace:
                    sleep(max(0.0, 1.0 / fps - (time.monotonic() - t0)))
            final = reached if label is None else label
            if recorder.num_frames == 0:
                continue
            if not final and not keep_failures:
                log.info("discarding failed episode (keep_failures=False)")
                recorder.discard()
                continue
            length = recorder.num_frames
            index = recorder.save(success=final)
            res = EpisodeResult(index, length, final, getattr(device, "mode", None))
            results.append(res)
            bar.update(1)
            bar.set_postfix(success=f"{sum(r.success for r in results)}/{len(results)}", refresh=False)
            if on_episode is not None:
                on_episode(res)
    except KeyboardInterrupt:
        recorder.discard()
        raise CollectionAborted("interrupted (Ctrl-C)") from None
    finally:
        bar.close()
    return results
