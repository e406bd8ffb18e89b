"""Which observation.state entries a policy uses (`TrainConfig.state_exclude`), and which action
entries PostBC's posterior noise leaves clean (`TrainConfig.posterior_exclude`), resolved on a dataset.

The patterns are globs over the dataset's entry names (`meta/info.json` features, e.g. `q_*` for the
joint angles); the result is `PolicyConfig.obs_select` ({"state": kept indices}), which the
observation encoders of the policy and the ensemble apply. The observation itself, and so the
checkpoint's observation contract, keeps every entry: a running cell sends the same vector.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Sequence

from postbc_ros.core.observation_contract import EE_DELTA_NAMES
from postbc_ros.learning.training_data import TrainingData

STATE_KEY = "state"
# what `state_exclude=None` (the default) drops when the policy acts in tool space: the joint
# angles, which the tool pose (and the gripper-down wrist) already determine; measured on the
# WidowX pick-and-place twin (bench/results/pretrain_widowx_pick_place_state.md)
TOOL_SPACE_EXCLUDE = ("q_*",)


def state_entry_names(data: TrainingData) -> list[str] | None:
    """The dataset's names of the state vector's entries, or None when it has none."""
    feature = data.feature_names.get(STATE_KEY)
    names = (data.features.get(feature) or {}).get("names") if feature else None
    if STATE_KEY not in data.obs or not isinstance(names, list):
        return None
    return [str(n) for n in names] if len(names) == data.obs[STATE_KEY].shape[-1] else None


def default_state_exclude(data: TrainingData) -> list[str]:
    """The patterns `state_exclude=None` stands for: TOOL_SPACE_EXCLUDE when the actions are tool-space
    deltas (dx, dy, dz, gripper) and the state names joint entries that those patterns match, else none
    (joint-space actions need the joints; unnamed states cannot be selected from)."""
    names = state_entry_names(data)
    action_names = (data.features.get("action") or {}).get("names")
    if names is None or list(action_names or []) != EE_DELTA_NAMES:
        return []
    return [p for p in TOOL_SPACE_EXCLUDE if any(fnmatchcase(n, p) for n in names)]


def _matching(patterns: Sequence[str], names: list[str], option: str, what: str) -> list[int]:
    """Indices of the `names` some pattern matches; ValueError when a pattern matches none (a typo
    would otherwise pass silently)."""
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise ValueError(f"{option}: {unmatched} match no {what} entry (the entries: {names})")
    return [i for i, n in enumerate(names) if any(fnmatchcase(n, p) for p in patterns)]


def state_selection(data: TrainingData, exclude: Sequence[str] | None) -> dict[str, list[int]]:
    """{"state": indices of the entries no pattern of `exclude` matches}, or {} with no patterns;
    None: `default_state_exclude`. ValueError naming the fix when the data has no state, no entry
    names, a pattern matches nothing (a typo would otherwise pass silently) or every entry would be
    dropped."""
    patterns = [p for p in (default_state_exclude(data) if exclude is None else exclude) if p]
    if not patterns:
        return {}
    if STATE_KEY not in data.obs:
        raise ValueError(f"--state-exclude {','.join(patterns)}: the data has no 'state' observation "
                         f"(it has {sorted(data.obs)}); drop the option")
    names = state_entry_names(data)
    if names is None:
        raise ValueError(f"--state-exclude {','.join(patterns)}: {data.source} does not name the entries of its "
                         "observation.state (features[...]['names']); record it with `postbc collect`, or drop the option")
    matched = _matching(patterns, names, "--state-exclude", "observation.state")
    keep = [i for i in range(len(names)) if i not in matched]
    if not keep:
        raise ValueError(f"--state-exclude {','.join(patterns)} drops every observation.state entry; keep some")
    return {STATE_KEY: keep}


def excluded_state_names(data: TrainingData, obs_select: dict[str, list[int]]) -> list[str]:
    """The names of the state entries `obs_select` leaves out (what a run reports)."""
    names = state_entry_names(data)
    if STATE_KEY not in obs_select or names is None:
        return []
    kept = set(obs_select[STATE_KEY])
    return [n for i, n in enumerate(names) if i not in kept]


def action_entry_names(data: TrainingData) -> list[str] | None:
    """The dataset's names of the action's entries, or None when it does not name them all."""
    names = (data.features.get("action") or {}).get("names")
    if not isinstance(names, list) or len(names) != data.actions.shape[-1]:
        return None
    return [str(n) for n in names]


def posterior_excluded_entries(data: TrainingData, exclude: Sequence[str]) -> list[int]:
    """Indices of the action entries `TrainConfig.posterior_exclude`'s patterns match (sorted); [] with
    no patterns. ValueError naming the fix when the actions are unnamed, a pattern matches nothing or
    every entry would be left clean (that is BC: --method bc)."""
    patterns = [p for p in exclude if p]
    if not patterns:
        return []
    names = action_entry_names(data)
    if names is None:
        raise ValueError(f"--posterior-exclude {','.join(patterns)}: {data.source} does not name the entries of "
                         "its action (features['action']['names']); record it with `postbc collect`, or drop the option")
    idx = _matching(patterns, names, "--posterior-exclude", "action")
    if len(idx) == len(names):
        raise ValueError(f"--posterior-exclude {','.join(patterns)} leaves every action entry clean, which is BC's "
                         "training; use --method bc")
    return idx
