"""The episode manager's JSON inputs, parsed and checked (ROS-free).

`episode/label` (std_msgs/String) carries an operator's or teleop's request to end the running
episode: a JSON object with `stop` (bool), `success` (true | false | null: not known) and `abort`
(bool), any of them omitted (false / null). The ready topic (`policy/status`, `teleop/status`)
carries a JSON object whose `ready` is a bool (other status fields are the publisher's own).
`episode/state` (what policy and teleop nodes follow) carries {episode: int, state: str, success, ...}.
Anything else -- not JSON, not an object, an unknown key, a value of the wrong type, a label
that asks for nothing -- raises EpisodeMessageError with the problem named and its `reason`,
the key the node counts the dropped message under (core.message_guard).
"""
from __future__ import annotations

import json
from typing import Any

#: the keys of an episode/label request and their defaults
LABEL_KEYS = {"stop": False, "success": None, "abort": False}
READY_KEY = "ready"


class EpisodeMessageError(ValueError):
    """An episode/label or ready message that cannot be used; `reason` names the kind of problem."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _object(text: Any, topic: str) -> dict:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise EpisodeMessageError(f"{topic}: expected JSON text, got {type(text).__name__}", "wrong_type")
    try:
        value = json.loads(text)
    except ValueError as e:  # json.JSONDecodeError
        raise EpisodeMessageError(f"{topic}: not JSON ({e}): {text[:80]!r}", "not_json") from None
    if not isinstance(value, dict):
        raise EpisodeMessageError(f"{topic}: expected a JSON object, got {type(value).__name__} {value!r:.80}",
                                  "not_an_object")
    return value


def parse_label(text: Any) -> dict:
    """An episode/label message -> {"stop": bool, "success": bool | None, "abort": bool}."""
    value = _object(text, "episode/label")
    unknown = sorted(set(value) - set(LABEL_KEYS))
    if unknown:
        raise EpisodeMessageError(f"episode/label: unknown key(s) {unknown}; a label has {sorted(LABEL_KEYS)}",
                                  "unknown_label")
    label = {**LABEL_KEYS, **value}
    for key in ("stop", "abort"):
        if not isinstance(label[key], bool):
            raise EpisodeMessageError(f"episode/label: '{key}' = {label[key]!r}, expected true or false", "wrong_type")
    if label["success"] is not None and not isinstance(label["success"], bool):
        raise EpisodeMessageError(f"episode/label: 'success' = {label['success']!r}, expected true, false or null",
                                  "wrong_type")
    if not (label["stop"] or label["abort"] or label["success"] is not None):
        raise EpisodeMessageError("episode/label: asks for nothing (no stop, abort or success)", "no_event")
    return label


def parse_ready(text: Any) -> bool:
    """A ready-topic status message -> its `ready` flag."""
    value = _object(text, "ready status")
    if READY_KEY not in value:
        raise EpisodeMessageError(f"ready status: no '{READY_KEY}' field in {sorted(value)}", "missing_field")
    if not isinstance(value[READY_KEY], bool):
        raise EpisodeMessageError(f"ready status: '{READY_KEY}' = {value[READY_KEY]!r}, expected true or false",
                                  "wrong_type")
    return value[READY_KEY]


def parse_episode_state(text: Any) -> dict:
    """An episode/state message (the episode manager's, core.episode_protocol) -> its dict, with
    `episode` an integer and `state` a string (what policy and teleop act on)."""
    value = _object(text, "episode/state")
    for key, kind in (("episode", int), ("state", str)):
        if key not in value:
            raise EpisodeMessageError(f"episode/state: no '{key}' field in {sorted(value)}", "missing_field")
        if not isinstance(value[key], kind) or isinstance(value[key], bool):
            raise EpisodeMessageError(f"episode/state: '{key}' = {value[key]!r}, expected {kind.__name__}",
                                      "wrong_type")
    if value.get("success") is not None and not isinstance(value["success"], bool):
        raise EpisodeMessageError(f"episode/state: 'success' = {value['success']!r}, expected true, false or null",
                                  "wrong_type")
    return value
