"""The observation contract of a twin cell, and the check a checkpoint must pass before it drives one.

`check_checkpoint_for(robot, task, checkpoint_dir)` is what the policy node and `postbc launch
finetune` call before the policy acts: it reads the checkpoint's config.json (no weights, no
torch), builds the contract of the twin env the cell runs (`contract_for_twin`, the same
`contract_for_env` that `postbc collect` records and `postbc eval` checks), and raises
`ContractMismatch` naming each field that differs (a WidowX checkpoint on the UR5e: robot_type,
joint names, action scale, state entries) or returns the warnings (fields an old checkpoint does
not record). ROS-free.
"""
from __future__ import annotations

import os
from pathlib import Path

from postbc_ros.core.observation_contract import (
    IMAGE_PREFIX,
    SOURCE_MARKERS_PREFIX,
    TWIN_CONTROLS,
    ContractError,
    Mismatch,
    ObservationContract,
    contract_from_checkpoint_config,
)

DEFAULT_CONTROL = "ee_delta"  # the twin's action space when a checkpoint does not say
STATE_FEATURE = "observation.state"


def contract_for_twin(robot: str, task: str, *, obs_mode: str = "state", control: str = DEFAULT_CONTROL,
                      image_size: int = 96) -> ObservationContract:
    """The contract of the twin env (robot, task, obs_mode, control, image_size) — what a dataset
    recorded on it carries and what a policy acting on it must have been trained with."""
    from postbc_ros.data.collect import contract_for_env
    from postbc_ros.sim.envs import TwinTaskEnv

    env = TwinTaskEnv(robot, task, obs_mode=obs_mode, control=control, image_size=image_size)
    try:
        return contract_for_env(env)
    finally:
        env.close()


def twin_settings_for(contract: ObservationContract) -> dict:
    """obs_mode / image_size / control of the twin env that gives a checkpoint the observations and
    takes the actions its contract names (the twin's own observation modes)."""
    feats = contract.feature_map
    images = [n[len(IMAGE_PREFIX):] for n in feats if n.startswith(IMAGE_PREFIX)]
    state = feats.get(STATE_FEATURE)
    markers = state is not None and str(state.source or "").startswith(SOURCE_MARKERS_PREFIX)
    out: dict = {"obs_mode": "image_wrist" if "wrist" in images else "image" if images else
                 "markers" if markers else "state",
                 "control": TWIN_CONTROLS.get((contract.action.kind, contract.action.mode), DEFAULT_CONTROL)}
    if images:
        out["image_size"] = int(feats[IMAGE_PREFIX + images[0]].shape[0])
    return out


def check_checkpoint_for(robot: str, task: str, checkpoint_dir: str | os.PathLike, *, obs_mode: str | None = None,
                         control: str | None = None, image_size: int | None = None) -> list[Mismatch]:
    """Refuse (ContractMismatch) a checkpoint whose contract does not match the twin cell of
    `robot`/`task`; return the warnings otherwise. The cell's obs_mode / control / image_size
    default to what the checkpoint's contract names (twin_settings_for); pass the cell's own
    when they are configured (e.g. the camera size; obs_mode "markers" / "state": what the
    cell's observation/state holds). CheckpointError for an unreadable config."""
    from postbc_ros.learning.checkpoint import CONFIG_FILE, POLICY_KIND, CheckpointError, read_checkpoint_config

    d = Path(checkpoint_dir)
    config = read_checkpoint_config(d, POLICY_KIND)
    try:
        trained = contract_from_checkpoint_config(config, str(d / CONFIG_FILE))
    except ContractError as e:
        raise CheckpointError(f"{e}; re-save the checkpoint with `postbc pretrain`") from e
    cell = twin_settings_for(trained)
    given = {"obs_mode": obs_mode, "control": control, "image_size": image_size}
    cell.update({k: v for k, v in given.items() if v is not None})
    running = contract_for_twin(robot, task, **cell)
    return trained.require(running, "checkpoint", str(d))
