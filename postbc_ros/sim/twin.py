"""`Twin`: MuJoCo physics of one arm (+ optional task objects), the sim's robot interface.

Used by the gymnasium tasks, by sim_node and by the mujoco arm backend, so it speaks in the
robot's terms: arm joint positions, a normalised gripper (0 open .. 1 closed), joint setpoints.
Setpoints are followed by the MJCF position servos; the Twin moves each servo's setpoint at most
v_max * dt per update (v_max from postbc_ros.robots), which is how the twin honours the arm's
published joint velocity limits.
"""
from __future__ import annotations

import atexit
import sys
import weakref
from pathlib import Path

import mujoco
import numpy as np

from postbc_ros.resources import resource_dir
from postbc_ros.robots import RobotSpec, TaskParams, TwinData, get_robot_spec, get_twin
from postbc_ros.sim.task_params import CONTROL_DT, TASKS  # noqa: F401 - TASKS re-exported
CTRL_UPDATE_SUBSTEPS = 5  # setpoints are rate-limited every 5 physics steps (50 Hz)


def _warning_to_stderr(msg: str) -> None:
    """MuJoCo's solver warnings (e.g. "Linesearch objective is not convex") otherwise go to stdout
    and MUJOCO_LOG.TXT; on stderr, command output such as `postbc eval --json` stays parseable."""
    print(f"MuJoCo warning: {msg.strip()}", file=sys.stderr)


mujoco.set_mju_user_warning(_warning_to_stderr)


_LIVE_TWINS: "weakref.WeakSet[Twin]" = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _close_renderers() -> None:
    """Free GL contexts at exit, before mujoco.egl's own atexit hook terminates the EGL display
    (freeing them later, from __del__ during teardown, raises EGL errors)."""
    for twin in list(_LIVE_TWINS):
        try:
            twin.close()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


def _register_renderer_cleanup() -> None:
    # atexit runs handlers last-in first-out: registering after the first GL context exists
    # (which is when mujoco.egl registers eglTerminate) makes ours run first.
    global _ATEXIT_REGISTERED
    if not _ATEXIT_REGISTERED:
        atexit.register(_close_renderers)
        _ATEXIT_REGISTERED = True


def models_dir() -> Path:
    """Directory holding the MJCF files: the source tree's models/, or share/postbc_ros/models of a
    colcon or pip install ($POSTBC_MODELS_DIR overrides; postbc_ros.resources)."""
    return resource_dir("models")


def model_path(robot: str, task: str | None = None) -> Path:
    """MJCF file of the twin of `robot` (named by its registry entry), with the objects of `task`
    when given."""
    twin = get_twin(robot)
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")
    return models_dir() / twin.model_file(task)


class Twin:
    """Physics + robot for one arm. All poses are in the robot base frame (= MuJoCo world).
    The arm's twin data (model files, gripper, task geometry) comes from its registry entry."""

    def __init__(self, robot: str, task: str | None = None, control_dt: float = CONTROL_DT) -> None:
        self.robot = robot
        self.task = task
        self.spec: RobotSpec = get_robot_spec(robot)
        self.twin_data: TwinData = get_twin(robot)
        self.params: TaskParams = self.twin_data.task
        self.model = mujoco.MjModel.from_xml_path(str(model_path(robot, task)))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.joint_names: list[str] = list(self.spec.joint_names)
        self.control_dt = float(control_dt)
        self.n_substeps = max(1, int(round(self.control_dt / m.opt.timestep)))
        self._qadr = np.array([m.joint(n).qposadr[0] for n in self.joint_names])
        self._dadr = np.array([m.joint(n).dofadr[0] for n in self.joint_names])
        self._act_arm = np.array([m.actuator(n).id for n in self.joint_names])
        self._finger_q = np.array([m.joint(n).qposadr[0] for n in ("left_finger", "right_finger")])
        self._act_finger = np.array([m.actuator(n).id for n in ("left_finger", "right_finger")])
        self._open, self._closed = self.twin_data.finger_open_closed
        self.tool_site = m.site("tool").id
        self._pad_geoms = {m.geom(n).id for n in ("left_pad", "right_pad")}
        self.has_object = task in ("push", "pick_place")
        if self.has_object:
            self._obj_q = m.joint("object_joint").qposadr[0]
            self._obj_d = m.joint("object_joint").dofadr[0]
            self._obj_geom = m.geom("object").id
        self._goal_mocap = m.body("goal").mocapid[0] if task is not None else -1
        self.has_obstacle = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "obstacle") >= 0
        self._obstacle_mocap = m.body("obstacle").mocapid[0] if self.has_obstacle else -1
        self.obstacle_geom = m.geom("obstacle").id if self.has_obstacle else -1
        # per-update setpoint increments that honour the joint / finger velocity limits
        upd_dt = m.opt.timestep * CTRL_UPDATE_SUBSTEPS
        self._max_dctrl = np.concatenate(
            [self.spec.velocity_limits * upd_dt, np.full(2, self.twin_data.finger_speed * upd_dt)]
        )
        self._act_all = np.concatenate([self._act_arm, self._act_finger])
        self._target = np.zeros(len(self._act_all))
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        _LIVE_TWINS.add(self)
        self.reset_robot()

    # ------------------------------------------------------------------ robot interface
    def joint_positions(self) -> np.ndarray:
        """Measured arm joint angles [rad]."""
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        """Measured arm joint velocities [rad/s]."""
        return self.data.qvel[self._dadr].copy()

    def gripper_position(self) -> float:
        """Measured gripper closure, 0 = fully open .. 1 = fully closed (blocked by a held
        object it stays below 1)."""
        left = self.data.qpos[self._finger_q[0]]
        return float(np.clip((self._open - left) / (self._open - self._closed), 0.0, 1.0))

    def _finger_targets(self, gripper: float) -> np.ndarray:
        g = float(np.clip(gripper, 0.0, 1.0))
        left = self._open + g * (self._closed - self._open)
        return np.array([left, -left])

    def set_joint_targets(self, q, gripper: float) -> None:
        """Set arm joint setpoints (clipped into the joint limits) and gripper closure (0..1)."""
        q = np.asarray(q, dtype=float).reshape(-1)
        if q.shape != (len(self.joint_names),):
            raise ValueError(
                f"Twin.set_joint_targets: expected {len(self.joint_names)} arm joint targets "
                f"({self.joint_names}), got shape {q.shape}"
            )
        if not (np.all(np.isfinite(q)) and np.isfinite(gripper)):
            raise ValueError(f"Twin.set_joint_targets: non-finite target q={q}, gripper={gripper}")
        self._target[:6] = self.spec.clip(q)
        self._target[6:] = self._finger_targets(gripper)

    def set_joint_positions(self, q, gripper: float | None = None) -> None:
        """Teleport the arm (and optionally the gripper) to `q` at rest, setpoints included.
        For kinematic use (mirroring a real arm's measured state, tests); not physics."""
        q = self.spec.clip(np.asarray(q, dtype=float).reshape(-1))
        d = self.data
        d.qpos[self._qadr] = q
        d.qvel[self._dadr] = 0.0
        g = self.gripper_position() if gripper is None else float(gripper)
        if gripper is not None:
            d.qpos[self._finger_q] = self._finger_targets(g)
        self.set_joint_targets(q, g)
        d.ctrl[self._act_all] = self._target
        mujoco.mj_forward(self.model, d)

    def joint_targets(self) -> np.ndarray:
        """Current arm setpoints (what set_joint_targets last accepted, after clipping)."""
        return self._target[:6].copy()

    def step(self, n_substeps: int | None = None) -> None:
        """Advance physics by n_substeps (default: one control period), moving the servo
        setpoints towards the targets at no more than the velocity limits."""
        n = self.n_substeps if n_substeps is None else int(n_substeps)
        m, d = self.model, self.data
        done = 0
        while done < n:
            k = min(CTRL_UPDATE_SUBSTEPS, n - done)
            ctrl = d.ctrl[self._act_all]
            d.ctrl[self._act_all] = ctrl + np.clip(self._target - ctrl, -self._max_dctrl, self._max_dctrl)
            mujoco.mj_step(m, d, nstep=k)
            done += k

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Tool (grasp point) position and rotation matrix in the base frame."""
        return (
            self.data.site_xpos[self.tool_site].copy(),
            self.data.site_xmat[self.tool_site].reshape(3, 3).copy(),
        )

    @property
    def time(self) -> float:
        """Simulation time [s]."""
        return float(self.data.time)

    # ------------------------------------------------------------------------- rendering
    def render(self, camera: str = "scene", size: int | tuple[int, int] = 96) -> np.ndarray:
        """RGB uint8 image (H, W, 3), upright, from camera "scene" or "wrist"."""
        h, w = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
        if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            raise ValueError(f"Twin.render: unknown camera {camera!r}; the twin has 'scene' and 'wrist'")
        r = self._renderers.get((h, w))
        if r is None:
            r = mujoco.Renderer(self.model, height=h, width=w)
            self._renderers[(h, w)] = r
            _register_renderer_cleanup()
        r.update_scene(self.data, camera=camera)
        return r.render()

    def close(self) -> None:
        """Free the rendering contexts."""
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    # ---------------------------------------------------------------------------- scene
    def reset_robot(self, q=None, gripper: float = 0.0) -> None:
        """Put the arm at q (default home) at rest with the gripper at `gripper`."""
        q = self.spec.home if q is None else self.spec.clip(q)
        d = self.data
        mujoco.mj_resetData(self.model, d)
        d.qpos[self._qadr] = q
        d.qpos[self._finger_q] = self._finger_targets(gripper)
        self.set_joint_targets(q, gripper)
        d.ctrl[self._act_all] = self._target
        mujoco.mj_forward(self.model, d)

    def reset_scene(self, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Arm home, gripper open, task objects at seeded random poses (see layout.py).
        Returns the sampled layout."""
        from postbc_ros.sim.layout import sample_layout

        rng = np.random.default_rng() if rng is None else rng
        self.reset_robot()
        layout = (sample_layout(self.params, self.task, rng, start=self.ee_pose()[0],
                                scale=self.twin_data.operator_scale) if self.task else {})
        if "goal" in layout:
            self.set_goal(layout["goal"])
        if "object" in layout:
            self.set_object_position(layout["object"])
        if "obstacle" in layout:
            self.set_obstacle(layout["obstacle"])
        mujoco.mj_forward(self.model, self.data)
        return layout

    def set_goal(self, pos) -> None:
        """Move the goal marker / goal region / bowl to `pos`."""
        if self._goal_mocap < 0:
            raise ValueError("Twin.set_goal: this twin has no task goal (built without a task)")
        self.data.mocap_pos[self._goal_mocap] = np.asarray(pos, dtype=float)

    def goal_position(self) -> np.ndarray:
        """Goal marker / region / bowl position."""
        return self.data.mocap_pos[self._goal_mocap].copy()

    def set_obstacle(self, pos) -> None:
        """Move the obstacle post (reach_obstacle) so that it stands on the table at `pos` (x, y, 0)."""
        if not self.has_obstacle:
            raise ValueError(f"Twin.set_obstacle: task {self.task!r} has no obstacle")
        self.data.mocap_pos[self._obstacle_mocap] = np.asarray(pos, dtype=float)

    def obstacle_position(self) -> np.ndarray:
        """Foot of the obstacle post on the table (reach_obstacle)."""
        if not self.has_obstacle:
            raise ValueError(f"Twin.obstacle_position: task {self.task!r} has no obstacle")
        return self.data.mocap_pos[self._obstacle_mocap].copy()

    def arm_touches_obstacle(self) -> bool:
        """True when any arm or gripper geom is in contact with the obstacle post."""
        d = self.data
        for i in range(d.ncon):
            c = d.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            if self.obstacle_geom in (g1, g2):
                other = g2 if g1 == self.obstacle_geom else g1
                if self.model.geom_bodyid[other] != 0:  # not the table / world
                    return True
        return False

    def set_object_position(self, pos, quat=(1.0, 0.0, 0.0, 0.0)) -> None:
        """Place the task object upright at `pos`, at rest."""
        if not self.has_object:
            raise ValueError(f"Twin.set_object_position: task {self.task!r} has no object")
        self.data.qpos[self._obj_q : self._obj_q + 3] = pos
        self.data.qpos[self._obj_q + 3 : self._obj_q + 7] = quat
        self.data.qvel[self._obj_d : self._obj_d + 6] = 0.0

    def object_position(self) -> np.ndarray:
        """Position of the task object's centre."""
        return self.data.qpos[self._obj_q : self._obj_q + 3].copy()

    def object_touches_gripper(self) -> bool:
        """True when the object is in contact with either finger pad."""
        d = self.data
        for i in range(d.ncon):
            c = d.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            if (g1 == self._obj_geom and g2 in self._pad_geoms) or (
                g2 == self._obj_geom and g1 in self._pad_geoms
            ):
                return True
        return False

    def forward(self) -> None:
        """Recompute derived quantities after editing the state by hand."""
        mujoco.mj_forward(self.model, self.data)
