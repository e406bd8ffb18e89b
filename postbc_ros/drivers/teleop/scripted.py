"""Scripted operator: the sim's multimodal scripted policy acting through the teleop interface,
so `postbc collect --scripted` records exactly like a human session (same recorder, same files).
No human, no dead-man: `enabled` is always True."""
from __future__ import annotations

from typing import Any

import numpy as np

from postbc_ros.drivers.teleop.base import TeleopCommand, TeleopDevice


class ScriptedTeleop(TeleopDevice):
    name = "scripted"
    requires_start = False
    realtime = False

    def __init__(self, env, seed: int | None = None, **policy_kwargs) -> None:
        super().__init__()
        from postbc_ros.sim import make_scripted_policy

        self.policy = make_scripted_policy(env, seed, **policy_kwargs)

    @property
    def mode(self) -> str:
        """Which demonstrated mode the current episode uses."""
        return str(self.policy.mode)

    def reset(self) -> None:
        super().reset()
        self.policy.reset()

    def read(self, obs: Any = None) -> TeleopCommand:
        if obs is None:
            raise ValueError("ScriptedTeleop.read needs the current observation")
        return TeleopCommand(action=np.asarray(self.policy(obs), dtype=np.float32))
