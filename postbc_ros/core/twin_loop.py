"""What sim_node does every control period, without ROS (testable with plain pytest).

`TwinLoop` wraps one twin task env (postbc_ros.sim.make_env; used through its interface only:
`reset(seed=)`, `unwrapped.twin`, `unwrapped.is_success()`, `.observation()`, `.state_names`,
`.layout`) and keeps the simulated time. sim_node converts messages and calls:

* `command(...)`: a received JointTrajectory (JointTrajectoryController semantics),
* `tick()`: servo to the trajectory's setpoint, step the physics one control period,
  advance the simulated time; returns the success detector's verdict,
* `reset()`: the next scene layout (seed = run seed * RESET_SEED_STRIDE + reset count) with the
  arm at home, and what was drawn,
* `frame_due(rate)`: whether the scene camera renders on this tick,
* `publishers(names)`: the nodes now publishing the command topic (only the arm node may; the
  controller holds and refuses trajectories otherwise); returns a report when that changed.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from postbc_ros.core.joint_trajectory_controller import JointTrajectoryController

RESET_SEED_STRIDE = 100003  # a prime: reset k of run seed s uses s * stride + k (runs do not share layouts)
FRAME_TIME_SLACK = 1e-9  # s: a frame due exactly at a tick is rendered despite float rounding
LAYOUT_DECIMALS = 4  # the layout reported by reset() is rounded to 0.1 mm


def reset_scene(env, task, seed: int, reset: int) -> dict[str, Any]:
    """Reset `env` to the scene of reset number `reset` of run `seed`; the record a twin reports."""
    s = seed * RESET_SEED_STRIDE + reset
    env.reset(seed=s)
    layout = {k: np.asarray(v).round(LAYOUT_DECIMALS).tolist() for k, v in task.layout.items()}
    return {"reset": reset, "seed": s, "layout": layout}


OBSERVATION_TOPIC = "observation/state"  # what the policy and the recorder observe
OPERATOR_SCENE_TOPIC = "operator/scene"  # the twin's privileged vector: only the scripted operator reads it


class FramePacer:
    """Camera frames at a rate on a simulated clock: `due(now, rate)` is True once per 1/rate s."""

    def __init__(self, start: float) -> None:
        self._next = float(start)

    def due(self, now: float, rate: float) -> bool:
        if rate <= 0 or now + FRAME_TIME_SLACK < self._next:
            return False
        self._next = now + 1.0 / rate
        return True


class TwinLoop:
    def __init__(self, env, gripper_joint: str, seed: int, start_time: float, max_step=None,
                 command_source: str | None = None):
        self.env = env
        self.task = env.unwrapped
        self.twin = self.task.twin
        self.names = list(self.twin.joint_names)
        self.gripper_joint = gripper_joint
        self.dt = float(self.twin.control_dt)
        self.seed = int(seed)
        self.resets = 0
        self.controller = JointTrajectoryController(self.names, gripper_joint, max_step, command_source)
        env.reset(seed=self.seed)
        self.controller.reset(self.twin.joint_positions())
        self.time = float(start_time)
        self.frames = FramePacer(self.time)

    def command(self, stamp: float, names: Sequence[str], positions: Sequence[Sequence[float]],
                times: np.ndarray) -> str | None:
        """Install a received trajectory; returns why it was rejected, or None."""
        return self.controller.command(stamp, names, positions, times, self.time, self.twin.joint_positions())

    def publishers(self, names) -> str | None:
        return self.controller.publishers(names, self.twin.joint_positions())

    def tick(self) -> bool:
        q, gripper = self.controller.setpoint(self.time + self.dt)
        self.twin.set_joint_targets(q, gripper)
        self.twin.step()
        self.time += self.dt
        return bool(self.task.is_success())

    def reset(self) -> dict[str, Any]:
        self.resets += 1
        record = reset_scene(self.env, self.task, self.seed, self.resets)
        self.controller.reset(self.twin.joint_positions())
        return record

    def frame_due(self, rate: float) -> bool:
        """True once per 1/rate simulated seconds (never when rate <= 0)."""
        return self.frames.due(self.time, rate)

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(names, positions, velocities) of the arm joints + the gripper (velocity 0)."""
        tw = self.twin
        return (self.names + [self.gripper_joint], np.append(tw.joint_positions(), tw.gripper_position()),
                np.append(tw.joint_velocities(), 0.0))

    def observation(self) -> tuple[np.ndarray, list[str]]:
        """The task observation vector and its labels."""
        return self.task.observation()["state"], list(self.task.state_names)

    def scene(self) -> tuple[np.ndarray, list[str]]:
        """The twin's privileged task vector and its labels (the scripted operator's view)."""
        return self.task.privileged_state(), list(self.task.privileged_state_names)

    @property
    def _scene_differs(self) -> bool:
        """The observation is not the privileged vector itself (the scripted operator needs the scene)."""
        return self.task.obs_mode != "state"

    @property
    def vector_topics(self) -> list[str]:
        """Topics of `vectors()`: the observation, and the operator's scene when they differ."""
        return [OBSERVATION_TOPIC] + ([OPERATOR_SCENE_TOPIC] if self._scene_differs else [])

    def vectors(self) -> list[tuple[str, np.ndarray, list[str]]]:
        """(topic, vector, labels) to publish this tick: the observation (markers: one render of the
        twin camera through the perception pipeline) and, unless it is the privileged vector itself,
        the privileged scene for the scripted operator."""
        out = [(OBSERVATION_TOPIC, *self.observation())]
        if self._scene_differs:
            out.append((OPERATOR_SCENE_TOPIC, *self.scene()))
        return out
