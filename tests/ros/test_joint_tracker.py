"""JointTracker: a node's measured joint positions from joint_states, with named problems."""
from types import SimpleNamespace

import numpy as np

from postbc_ros.core.joint_tracker import JointTracker


def js(names, positions):
    return SimpleNamespace(name=list(names), position=list(positions))


def test_positions_follow_the_expected_order_whatever_the_message_order():
    warnings = []
    t = JointTracker(["a", "b"], warnings.append)
    assert t.q is None
    t.update(js(["b", "x", "a"], [2.0, 9.0, 1.0]))
    np.testing.assert_array_equal(t.q, [1.0, 2.0])
    assert warnings == []


def test_missing_joints_keep_the_last_positions_and_are_reported_once_per_problem():
    warnings = []
    t = JointTracker(["a", "b"], warnings.append, hint="check the robot parameter")
    t.update(js(["a", "b"], [1.0, 2.0]))
    for _ in range(3):
        t.update(js(["a", "finger"], [5.0, 0.0]))
    np.testing.assert_array_equal(t.q, [1.0, 2.0])
    assert len(warnings) == 1
    assert "['b']" in warnings[0] and "finger" in warnings[0] and "check the robot parameter" in warnings[0]
    t.update(js(["finger"], [0.0]))  # a different problem is reported again
    assert len(warnings) == 2 and "['a', 'b']" in warnings[1]
    t.update(js(["a", "b"], [3.0, 4.0]))  # recovered; the same problem later is reported anew
    t.update(js(["a"], [3.0]))
    np.testing.assert_array_equal(t.q, [3.0, 4.0])
    assert len(warnings) == 3


def test_non_finite_or_short_messages_never_replace_good_positions():
    warnings = []
    t = JointTracker(["a", "b"], warnings.append)
    t.update(js(["a", "b"], [1.0, 2.0]))
    t.update(js(["a", "b"], [float("nan"), 2.0]))
    t.update(js(["a", "b"], [1.5]))
    np.testing.assert_array_equal(t.q, [1.0, 2.0])
    assert len(warnings) == 2 and "non-finite" in warnings[0] and "positions" in warnings[1]
