"""Gymnasium tasks on the MuJoCo twins: reach, push, pick_place for every arm with a twin, and the
coverage variant reach_obstacle (docs/coverage_tasks.md) for every arm whose twin has an obstacle.

Sparse 0/1 reward, `terminated` on success, truncation at a short horizon (10 Hz control):
the setting of the PostBC paper's finetuning experiments. Observations are a dict
(docs/interfaces.md): "state" always, "scene" / "wrist" images in the image modes.

obs_mode "state" is privileged (object and goal positions read out of MuJoCo: simulation-only
studies); "markers" is what a real cell observes: proprioception + the poses of the ArUco markers
on the task objects, found by the perception pipeline (postbc_ros.perception) in the rendered
scene camera frame with the twin camera's calibration file, the code path a real cell runs.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from postbc_ros.core.observation_assembler import marker_state, marker_state_names
from postbc_ros.robots import DEFAULT_ROBOT, get_robot, get_twin
from postbc_ros.sim.ik import DLSIK, yaw_rotation
from postbc_ros.sim.task_params import HORIZONS, base_task
from postbc_ros.sim.twin import TASKS, Twin

OBS_MODES = ("state", "image", "image_wrist", "markers")
MARKER_CAMERA = "scene"  # the camera whose frames the markers mode runs the perception on
CONTROLS = ("ee_delta", "joint_delta")

# re-anchor the commanded tool point to the measured one when they drift this far apart
# (e.g. the arm is blocked by the table or an object)
REANCHOR_DIST = 0.03


class TwinTaskEnv(gym.Env):
    """One arm, one task. See make_env for the arguments."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        robot: str = DEFAULT_ROBOT,
        task: str = "reach",
        *,
        obs_mode: str = "state",
        image_size: int = 96,
        control: str = "ee_delta",
        seed: int | None = None,
        render_mode: str | None = None,
        horizon: int | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"make_env: unknown task {task!r}; choose one of {list(TASKS)}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"make_env: unknown obs_mode {obs_mode!r}; choose one of {list(OBS_MODES)}")
        if control not in CONTROLS:
            raise ValueError(f"make_env: unknown control {control!r}; choose one of {list(CONTROLS)}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"make_env: render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not 16 <= int(image_size) <= 480:
            raise ValueError(f"make_env: image_size must be in [16, 480], got {image_size}")
        self.robot, self.task = robot, task
        self.base_task = base_task(task)  # the natural task it extends: operator, success detector
        self.obs_mode, self.control = obs_mode, control
        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.twin = Twin(robot, task)
        self.params = self.twin.params
        self.horizon = int(horizon) if horizon is not None else HORIZONS[task]
        self.ik = DLSIK(self.twin.model, "tool", self.twin.joint_names)
        self._r_down = np.array(self.twin.twin_data.grasp_rotation)  # gripper down at yaw 0
        self._ee_low = np.asarray(self.params.ee_low)
        self._ee_high = np.asarray(self.params.ee_high)
        self.marker_specs = self.twin.twin_data.markers(task)
        self.marker_observations: dict = {}  # markers mode: name -> MarkerObservation of the last frame
        self._perception = self._marker_perception() if obs_mode == "markers" else None

        n_act = 4 if control == "ee_delta" else 7
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n_act,), dtype=np.float32)
        obs_spaces: dict[str, spaces.Space] = {
            "state": spaces.Box(-np.inf, np.inf, shape=(self.state_dim,), dtype=np.float32)
        }
        img = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
        if obs_mode in ("image", "image_wrist"):
            obs_spaces["scene"] = img
        if obs_mode == "image_wrist":
            obs_spaces["wrist"] = img
        self.observation_space = spaces.Dict(obs_spaces)

        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._t = 0
        self._q_cmd = self.twin.spec.home.copy()
        self._pos_cmd = np.zeros(3)
        self._grip_cmd = 0.0
        self.layout: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------------ spaces
    @property
    def state_dim(self) -> int:
        """proprio (6 joints, gripper, tool xyz) [+ goal, goal - tool for reach |
        + object, goal, object - tool, goal - tool | + goal, obstacle, goal - tool, obstacle - tool
        for reach_obstacle]."""
        return len(self.state_names)

    @property
    def state_names(self) -> list[str]:
        """Names of the entries of obs["state"]."""
        if self.obs_mode == "markers":
            return marker_state_names(self.twin.joint_names, [m.name for m in self.marker_specs])
        if self.obs_mode == "state":
            return self.privileged_state_names
        return [f"q_{n}" for n in self.twin.joint_names] + ["gripper", "ee_x", "ee_y", "ee_z"]

    @property
    def privileged_state_names(self) -> list[str]:
        """Names of `privileged_state()` (obs_mode "state"'s vector)."""
        names = [f"q_{n}" for n in self.twin.joint_names] + ["gripper", "ee_x", "ee_y", "ee_z"]
        points = self._point_names()
        names += [f"{p}_{a}" for p in points for a in "xyz"]
        # tool-relative positions (Robomimic's object-to-eef features; what marker poses
        # relative to the tool give a real cell): the policy need not learn the subtraction
        return names + [f"{p}_rel_{a}" for p in points for a in "xyz"]

    def _marker_perception(self):
        """The perception pipeline of a real cell, on the twin camera's own calibration file."""
        from postbc_ros.perception import MarkerConfig, MarkerPerception, load_camera_geometry
        from postbc_ros.robots.twin_data import ARUCO_DICTIONARY

        geometry = load_camera_geometry(get_robot(self.robot).twin_rig, MARKER_CAMERA)
        markers = [MarkerConfig(m.name, m.marker_id, m.size) for m in self.marker_specs]
        return MarkerPerception(geometry, markers, ARUCO_DICTIONARY)

    def marker_ground_truth(self) -> dict[str, np.ndarray]:
        """Centre of each marker's printed face in the base frame, read out of MuJoCo (privileged:
        for checking the perception, never for the policy)."""
        d, m = self.twin.data, self.twin.model
        return {s.name: d.site_xpos[m.site(f"marker_{s.name}").id].copy() for s in self.marker_specs}

    def _point_names(self) -> list[str]:
        if self.task == "reach_obstacle":
            return ["goal", "obst"]
        return ["goal"] if self.task == "reach" else ["obj", "goal"]

    def _point_getters(self) -> dict:
        """Position getters of the task's points (the obstacle: the foot of its post)."""
        tw = self.twin
        return {"goal": tw.goal_position, "obst": tw.obstacle_position, "obj": tw.object_position}

    # ------------------------------------------------------------------------ control
    def target_rotation(self, pos: np.ndarray) -> np.ndarray:
        """Gripper-down tool orientation for a tool point at `pos` (yaw follows the radial
        direction from the base, the natural wrist pose of the arms)."""
        return yaw_rotation(float(np.arctan2(pos[1], pos[0]))) @ self._r_down

    def solve_ik(self, pos: np.ndarray, q0: np.ndarray | None = None) -> np.ndarray:
        """Joint angles putting the tool at `pos` (clipped into the ee box), gripper down."""
        pos = np.clip(np.asarray(pos, dtype=float), self._ee_low, self._ee_high)
        q, _ = self.ik.solve(self._q_cmd if q0 is None else q0, pos, self.target_rotation(pos))
        return q

    @property
    def commanded_position(self) -> np.ndarray:
        """Tool point the controller is currently steering to."""
        return self._pos_cmd.copy()

    @property
    def commanded_joints(self) -> np.ndarray:
        """Joint setpoints currently commanded."""
        return self._q_cmd.copy()

    def sync_commands(self, q=None, gripper: float | None = None) -> None:
        """Make the controller's commanded joints / tool point / gripper equal the measured
        (or given) ones, as reset() does: for adapters that drive a real arm with this env's
        action -> setpoint mapping."""
        self._q_cmd = self.twin.joint_positions() if q is None else np.asarray(q, dtype=float).copy()
        self._pos_cmd = self.twin.spec.fk(self._q_cmd)[0]
        self._grip_cmd = self.twin.gripper_position() if gripper is None else float(gripper)

    def apply_action(self, action) -> tuple[np.ndarray, float]:
        """Map one action to (joint setpoints, gripper 0..1) and send them to the twin, without
        stepping physics. step() = apply_action() + twin.step() + observation/success."""
        self._apply_action(np.asarray(action))
        return self._q_cmd.copy(), float(self._grip_cmd)

    def observation(self) -> dict[str, np.ndarray]:
        """Observation of the current state (what reset/step return)."""
        return self._obs()

    def _apply_action(self, action: np.ndarray) -> None:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != self.action_space.shape:
            raise ValueError(
                f"{self.robot}/{self.task} step: action must have shape {self.action_space.shape} "
                f"for control={self.control!r}, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.robot}/{self.task} step: action contains NaN/Inf: {a}")
        a = np.clip(a, -1.0, 1.0)
        self._grip_cmd = 0.5 * (a[-1] + 1.0)
        if self.control == "ee_delta":
            ee = self.twin.ee_pose()[0]
            if np.linalg.norm(self._pos_cmd - ee) > REANCHOR_DIST:
                self._pos_cmd = ee
            self._pos_cmd = np.clip(self._pos_cmd + a[:3] * self.params.max_step, self._ee_low, self._ee_high)
            self._q_cmd = self.solve_ik(self._pos_cmd)
        else:
            self._q_cmd = self.twin.spec.clip(self._q_cmd + a[:6] * self.params.max_joint_step)
            self._pos_cmd = self.twin.spec.fk(self._q_cmd)[0]
        self.twin.set_joint_targets(self._q_cmd, self._grip_cmd)

    # ------------------------------------------------------------------------ task logic
    def is_success(self) -> bool:
        """Task success detector on the current physics state."""
        p = self.params
        if self.base_task == "reach":
            return bool(np.linalg.norm(self.twin.ee_pose()[0] - self.twin.goal_position()) < p.reach_tol)
        obj, goal = self.twin.object_position(), self.twin.goal_position()
        dxy = float(np.linalg.norm(obj[:2] - goal[:2]))
        if self.task == "push":
            return dxy < p.push_tol and obj[2] < p.puck_half_height + 0.01
        # pick_place: resting inside the bowl and let go of
        inside = dxy < p.bowl_radius - 0.3 * p.obj_radius
        low = obj[2] < p.bowl_height + p.obj_half_height
        return bool(inside and low and not self.twin.object_touches_gripper())

    def _state(self) -> np.ndarray:
        tw = self.twin
        ee = tw.ee_pose()[0]
        if self.obs_mode == "markers":
            g = self._perception.geometry
            frame = tw.render(MARKER_CAMERA, (g.height, g.width))
            self.marker_observations = self._perception.process(frame, tw.time)
            return marker_state(tw.joint_positions(), tw.gripper_position(), ee,
                                [self.marker_observations[m.name] for m in self.marker_specs])
        if self.obs_mode == "state":
            return self.privileged_state()
        return np.concatenate([tw.joint_positions(), [tw.gripper_position()], ee]).astype(np.float32)

    def privileged_state(self) -> np.ndarray:
        """The twin's task vector whatever obs_mode observes: proprioception + the task's object /
        goal positions read out of MuJoCo (+ tool-relative). obs_mode "state"'s observation; in the
        other modes what only a scripted operator may see (a simulation-only quantity)."""
        tw = self.twin
        ee = tw.ee_pose()[0]
        points = [self._point_getters()[n]() for n in self._point_names()]
        parts = [tw.joint_positions(), [tw.gripper_position()], ee, *points, *[p - ee for p in points]]
        return np.concatenate(parts).astype(np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"state": self._state()}
        if self.obs_mode in ("image", "image_wrist"):
            obs["scene"] = self.twin.render("scene", self.image_size)
        if self.obs_mode == "image_wrist":
            obs["wrist"] = self.twin.render("wrist", self.image_size)
        return obs

    # ------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.layout = self.twin.reset_scene(self._rng)
        if options:
            if "goal" in options:
                self.twin.set_goal(options["goal"])
            if "object" in options:
                self.twin.set_object_position(options["object"])
            if "obstacle" in options:
                self.twin.set_obstacle(options["obstacle"])
            self.twin.forward()
            self.layout = dict(self.layout)
            for key in ("goal", "object", "obstacle"):
                if key in options:
                    self.layout[key] = np.asarray(options[key], dtype=float)
            if self.twin.has_obstacle:  # the blocking rule's verdict on the layout as it now stands
                from postbc_ros.sim.layout import obstacle_blocks

                self.layout["blocked"] = np.array(float(obstacle_blocks(
                    self.params, self.twin.ee_pose()[0], self.layout["goal"], self.layout["obstacle"],
                    self.twin.twin_data.operator_scale)))
        self._t = 0
        self._q_cmd = self.twin.joint_positions()
        self._pos_cmd = self.twin.ee_pose()[0]
        self._grip_cmd = 0.0
        if self._perception is not None:
            self._perception.reset()  # the objects moved: last episode's poses are void
        return self._obs(), {"success": False}

    def step(self, action):
        self._apply_action(action)
        self.twin.step()
        self._t += 1
        success = self.is_success()
        truncated = self._t >= self.horizon and not success
        return self._obs(), float(success), success, truncated, {"success": success}

    def render(self):
        if self.render_mode == "rgb_array":
            return self.twin.render("scene", max(self.image_size, 256))
        return None

    def close(self):
        self.twin.close()


def make_env(
    robot: str,
    task: str,
    *,
    obs_mode: str = "state",
    image_size: int = 96,
    control: str = "ee_delta",
    seed: int | None = None,
    render_mode: str | None = None,
    horizon: int | None = None,
) -> gym.Env:
    """Twin task env (docs/interfaces.md). robot: a registered arm with a twin
    (`postbc_ros.robots.robot_names(with_twin=True)`); task: reach | push | pick_place;
    obs_mode: state (privileged) | image | image_wrist | markers (proprioception + marker poses
    from the scene camera, docs/perception.md); control: ee_delta | joint_delta."""
    try:
        robot = get_robot(robot).name
        get_twin(robot)
    except ValueError as e:
        raise ValueError(f"make_env: {e}") from None
    env = TwinTaskEnv(
        robot, task, obs_mode=obs_mode, image_size=image_size, control=control, seed=seed,
        render_mode=render_mode, horizon=horizon,
    )
    # the horizon is enforced inside the env (truncated), so no TimeLimit wrapper is needed
    return env
