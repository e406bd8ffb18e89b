"""The episode manager's JSON inputs: a good label / ready / episode state is parsed, anything else
raises EpisodeMessageError with a reason (what the node counts the dropped message under)."""
from __future__ import annotations

import pytest

from postbc_ros.core.episode_messages import EpisodeMessageError, parse_episode_state, parse_label, parse_ready


def test_a_teleop_label_is_parsed_with_defaults():
    assert parse_label('{"stop": true, "success": true, "abort": false}') == \
        {"stop": True, "success": True, "abort": False}
    assert parse_label('{"success": false}') == {"stop": False, "success": False, "abort": False}
    assert parse_label(b'{"abort": true}')["abort"] is True


@pytest.mark.parametrize("text, reason", [
    ("stop!", "not_json"), ("", "not_json"), ("[1, 2]", "not_an_object"), ('"stop"', "not_an_object"),
    ('{"stop": true, "reboot": true}', "unknown_label"), ('{"stop": "yes"}', "wrong_type"),
    ('{"success": 1}', "wrong_type"), ('{"abort": null}', "wrong_type"), ("{}", "no_event"),
    ('{"stop": false, "success": null}', "no_event"), (None, "wrong_type"),
])
def test_a_malformed_label_is_refused_with_its_reason(text, reason):
    with pytest.raises(EpisodeMessageError) as e:
        parse_label(text)
    assert e.value.reason == reason and "episode/label" in str(e.value)


def test_ready_needs_a_boolean_ready_field():
    assert parse_ready('{"ready": true, "mode": "dsrl", "weights_version": 3}') is True
    assert parse_ready('{"ready": false}') is False
    for text, reason in (('{"mode": "dsrl"}', "missing_field"), ('{"ready": "true"}', "wrong_type"),
                         ("ready", "not_json")):
        with pytest.raises(EpisodeMessageError) as e:
            parse_ready(text)
        assert e.value.reason == reason


def test_episode_state_needs_an_integer_episode_and_a_state():
    assert parse_episode_state('{"episode": 2, "state": "running", "success": null}')["episode"] == 2
    for text, reason in (('{"state": "running"}', "missing_field"), ('{"episode": "2", "state": "running"}',
                         "wrong_type"), ('{"episode": true, "state": "running"}', "wrong_type"),
                         ('{"episode": 1, "state": "done", "success": "yes"}', "wrong_type")):
        with pytest.raises(EpisodeMessageError) as e:
            parse_episode_state(text)
        assert e.value.reason == reason
