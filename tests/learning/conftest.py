"""Fixtures for the learning tests (helpers live in learning_helpers.py)."""
from __future__ import annotations

import pytest

from learning_helpers import random_episodes
from postbc_ros.learning.training_data import TrainingData, windows_from_episodes


@pytest.fixture
def small_state_data() -> TrainingData:
    return windows_from_episodes(random_episodes(4, 20), obs_history=2, horizon=4)
