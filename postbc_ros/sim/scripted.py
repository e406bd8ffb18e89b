"""Scripted demonstrators ("operators") for the twin tasks, deliberately multimodal.

Each episode draws a *mode* (which way round the object the operator goes: "left" in 70 % of
episodes, "right" in 30 %), a speed and via-point offsets. Averaging the two modes gives a path
that runs into the object, so a BC policy fit to these demos has to represent both modes or it
fails; the rarer mode is what PostBC's posterior noise should keep within reach of RL.

The policies see the simulator's privileged state (like a human operator sees the scene) but
act only through the env's normal action space (ee_delta or joint_delta), so their demos go
through the same recording path as a human's. Per-arm numbers (pusher width, the scale of offsets
and tolerances) come from the arm's twin data in the robot registry.

On a coverage task (docs/coverage_tasks.md) the operator is the same, blind to the obstacle: it
keeps its 70/30 split, so its common mode fails wherever the obstacle blocks it.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from postbc_ros.sim.layout import MODE_SIDES, detour_via
from postbc_ros.sim.task_params import REACH_DETOUR, REACH_DETOUR_LIFT, base_task

MODES = tuple(MODE_SIDES)  # ("left", "right")
MODE_PROBS = (0.7, 0.3)


@dataclass
class Waypoint:
    """Tool target with gripper command; `tol` is the arrival radius, `hold` extra steps to
    stay once arrived (to let the gripper close/open), `speed` a fraction of max step."""

    pos: np.ndarray
    grip: float  # -1 open, +1 closed
    tol: float
    hold: int = 0
    speed: float = 1.0


class ScriptedPolicy:
    """Waypoint-following operator for one TwinTaskEnv episode at a time.

    Call `reset()` at the start of every episode (the first call after an env reset also
    re-plans on its own), then `policy(obs) -> action`. `mode` names the episode's mode.
    """

    def __init__(self, env: gym.Env, seed: int | None = None, mode_probs=MODE_PROBS, noise: float = 0.02):
        self.env = env.unwrapped
        if not hasattr(self.env, "twin") or not hasattr(self.env, "solve_ik"):
            raise TypeError("make_scripted_policy: env must be a postbc_ros.sim twin task env (make_env)")
        self.rng = np.random.default_rng(seed)
        self.mode_probs = tuple(float(p) for p in mode_probs)
        if len(self.mode_probs) != len(MODES) or abs(sum(self.mode_probs) - 1) > 1e-6:
            raise ValueError(f"mode_probs must be {len(MODES)} probabilities summing to 1, got {mode_probs}")
        self.noise = float(noise)
        self.mode: str = MODES[0]
        self._side = 1.0
        self._speed = 1.0
        self._plan: list[Waypoint] = []
        self._idx = 0
        self._held = 0
        self._layout_seen = None
        self._fresh = False
        self.reset()

    # ---------------------------------------------------------------------------- episode
    def reset(self) -> None:
        """Draw this episode's mode / speed; the plan is built at the first call (the layout
        is known only after env.reset)."""
        self.mode = MODES[int(self.rng.choice(len(MODES), p=self.mode_probs))]
        self._side = MODE_SIDES[self.mode]
        self._speed = float(self.rng.uniform(0.7, 1.0))
        self._plan, self._idx, self._held = [], 0, 0
        self._fresh = True

    def _ensure_plan(self) -> None:
        layout = self.env.layout
        if self._layout_seen is layout and self._plan:
            return
        if not self._fresh:  # env was reset without policy.reset(): start a new episode
            self.reset()
        self._fresh = False
        self._layout_seen = layout
        task = base_task(self.env.task)
        self._plan = {"reach": self._plan_reach, "push": self._plan_push, "pick_place": self._plan_pick_place}[task]()
        self._idx, self._held = 0, 0

    # ----------------------------------------------------------------------------- plans
    def _scale(self) -> float:
        return self.env.twin.twin_data.operator_scale

    def _perp(self, frm: np.ndarray, to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit xy direction frm->to and its left normal (as 3-vectors with z = 0)."""
        d = np.asarray(to[:2], float) - np.asarray(frm[:2], float)
        u = d / max(np.linalg.norm(d), 1e-9)
        return np.array([u[0], u[1], 0.0]), np.array([-u[1], u[0], 0.0])

    def _plan_reach(self) -> list[Waypoint]:
        s = self.env.twin.ee_pose()[0]
        g = self.env.twin.goal_position()
        lat = self.rng.uniform(*REACH_DETOUR) * self._scale()
        via = detour_via(self.env.params, s, g, self._side, lat, lift=self.rng.uniform(*REACH_DETOUR_LIFT))
        tol = self.env.params.reach_tol
        return [Waypoint(via, -1.0, 1.5 * tol), Waypoint(g, -1.0, 0.3 * tol)]

    def _plan_push(self) -> list[Waypoint]:
        p = self.env.params
        o = self.env.twin.object_position()
        g = self.env.twin.goal_position()
        u, n = self._perp(o, g)
        k = self._scale()
        radius = p.puck_radius + self.env.twin.twin_data.pusher_half_width + 0.02 * k
        z_push = max(p.ee_low[2] + 0.005, p.puck_half_height * 0.9)
        z_hi = 2 * p.puck_half_height + 0.05 * k
        side_dir = self._side * n
        plan = [Waypoint(np.array([*(o[:2] + radius * side_dir[:2]), z_hi]), 1.0, 0.02 * k)]
        # arc around the puck at push height, from its side to behind it
        a0 = np.arctan2(side_dir[1], side_dir[0])
        a1 = np.arctan2(-u[1], -u[0])
        da = (a1 - a0 + np.pi) % (2 * np.pi) - np.pi
        for f in (0.0, 0.5, 1.0):
            a = a0 + f * da
            plan.append(Waypoint(np.array([o[0] + radius * np.cos(a), o[1] + radius * np.sin(a), z_push]), 1.0, 0.012 * k))
        # the push itself is closed-loop on the puck (see _push_target); pos is a placeholder
        plan.append(Waypoint(g.copy(), 1.0, 0.0, speed=0.6))
        self._z_push = z_push
        return plan

    def _push_target(self) -> np.ndarray:
        """Closed-loop pushing along the current puck->goal line: advance through the puck while
        the pusher is on the line, back off and re-align when the puck has drifted sideways."""
        if self.env.is_success():  # the puck is in the goal region: stop pushing and stay
            return self.env.commanded_position
        p = self.env.params
        o = self.env.twin.object_position()
        g = self.env.twin.goal_position()
        u, n = self._perp(o, g)
        ee = self.env.twin.ee_pose()[0]
        rel = ee - o
        lat = float(rel[:2] @ n[:2])
        contact = p.puck_radius + self.env.twin.twin_data.pusher_half_width
        tol_lat = 0.25 * p.puck_radius
        adv = 0.02 if abs(lat) < tol_lat else -min(0.03, 2.0 * abs(lat))
        tgt = o + u * (-contact + adv)
        tgt[2] = self._z_push
        return tgt

    def _plan_pick_place(self) -> list[Waypoint]:
        p = self.env.params
        o = self.env.twin.object_position()
        b = self.env.twin.goal_position()
        u, n = self._perp(o, b)
        k = self._scale()
        top = 2 * p.obj_half_height
        z_grasp = max(p.ee_low[2], p.obj_half_height + 0.003)
        z_hover = top + self.rng.uniform(0.05, 0.08) * k
        z_carry = p.carry_z
        z_drop = p.bowl_height + 2 * p.obj_half_height + 0.02
        lat1 = self.rng.uniform(0.04, 0.07) * k
        lat2 = self.rng.uniform(0.06, 0.10) * k
        hold = 4
        side = self._side * n
        via = 0.5 * (o + b) + side * lat2
        return [
            Waypoint(np.array([*(o[:2] + side[:2] * lat1), z_hover]), -1.0, 0.02 * k),
            Waypoint(np.array([o[0], o[1], top + 0.02 * k]), -1.0, 0.008),
            Waypoint(np.array([o[0], o[1], z_grasp]), -1.0, 0.006, speed=0.7),
            Waypoint(np.array([o[0], o[1], z_grasp]), 1.0, 0.01, hold=hold),
            Waypoint(np.array([o[0], o[1], z_carry]), 1.0, 0.02 * k),
            Waypoint(np.array([via[0], via[1], z_carry]), 1.0, 0.03 * k),
            Waypoint(np.array([b[0], b[1], z_carry]), 1.0, 0.015 * k),
            Waypoint(np.array([b[0], b[1], z_drop]), 1.0, 0.008 * k),
            Waypoint(np.array([b[0], b[1], z_drop]), -1.0, 0.02, hold=hold),
            Waypoint(np.array([b[0], b[1], z_drop + 0.06 * k]), -1.0, 0.01),
        ]

    # ----------------------------------------------------------------------------- acting
    def __call__(self, obs=None) -> np.ndarray:
        """Next action (float32 in [-1, 1]) in the env's action space."""
        self._ensure_plan()
        env = self.env
        ee = env.twin.ee_pose()[0]
        wp = self._plan[min(self._idx, len(self._plan) - 1)]
        last = self._idx >= len(self._plan) - 1
        target = wp.pos
        if env.task == "push" and last:
            target = self._push_target()
        # advance through waypoints
        if not last and np.linalg.norm(ee - wp.pos) < wp.tol:
            if self._held >= wp.hold:
                self._idx += 1
                self._held = 0
                return self(obs)
            self._held += 1
        cmd = env.commanded_position
        delta = target - cmd
        max_step = env.params.max_step * self._speed * wp.speed
        nrm = np.linalg.norm(delta)
        if nrm > max_step:
            delta *= max_step / nrm
        if self.noise > 0:
            delta = delta + self.rng.normal(0.0, self.noise * env.params.max_step, 3)
        if env.control == "ee_delta":
            a = np.concatenate([delta / env.params.max_step, [wp.grip]])
        else:
            q_des = env.solve_ik(cmd + delta)
            dq = (q_des - env.commanded_joints) / env.params.max_joint_step
            a = np.concatenate([dq, [wp.grip]])
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def make_scripted_policy(env: gym.Env, seed: int | None = None, **kwargs) -> ScriptedPolicy:
    """Multimodal scripted operator for a twin task env (reach / push / pick_place)."""
    return ScriptedPolicy(env, seed, **kwargs)
