"""Damped-least-squares inverse kinematics on MuJoCo site Jacobians.

Why DLS on the MuJoCo model (not the numpy FK): the twin's model *is* the arm (its FK is tested
equal to the manufacturer kinematics), MuJoCo gives exact site Jacobians, and DLS stays
well-behaved near singularities, which a teleoperator or an RL policy will happily visit.
The solver works on a private MjData, so it never disturbs the simulation state.
"""
from __future__ import annotations

import mujoco
import numpy as np


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation about world z by `yaw` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def orientation_error(rot: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Small-angle rotation vector (world frame) taking `rot` towards `target`:
    0.5 * sum_i rot[:, i] x target[:, i], written out (np.cross is slow for 3-vectors)."""
    a, b = rot, target
    return 0.5 * np.array(
        [
            a[1] @ b[2] - a[2] @ b[1],
            a[2] @ b[0] - a[0] @ b[2],
            a[0] @ b[1] - a[1] @ b[0],
        ]
    )


class DLSIK:
    """Position + orientation IK for one site over a set of hinge joints.

    `solve(q0, pos, rot)` iterates q <- q + J^T (J J^T + lambda^2 I)^-1 e, with the orientation
    error weighted by `rot_weight` and every iterate clipped into the joint ranges.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str,
        joint_names: list[str],
        damping: float = 0.05,
        rot_weight: float = 0.5,
        max_iters: int = 20,
        tol_pos: float = 2e-4,
        tol_rot: float = 2e-3,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site_id < 0:
            raise ValueError(f"IK: site {site!r} not found in the model; the MJCF must define it")
        self.qadr = np.array([model.joint(n).qposadr[0] for n in joint_names])
        self.dadr = np.array([model.joint(n).dofadr[0] for n in joint_names])
        self.lower = model.jnt_range[[model.joint(n).id for n in joint_names], 0].copy()
        self.upper = model.jnt_range[[model.joint(n).id for n in joint_names], 1].copy()
        self.damping = damping
        self.rot_weight = rot_weight
        self.max_iters = max_iters
        self.tol_pos = tol_pos
        self.tol_rot = tol_rot
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site pose (pos, rotmat) at joint angles q (other joints at their defaults)."""
        self.data.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        return (
            self.data.site_xpos[self.site_id].copy(),
            self.data.site_xmat[self.site_id].reshape(3, 3).copy(),
        )

    def solve(
        self, q0: np.ndarray, pos: np.ndarray, rot: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        """Joint angles reaching `pos` (and `rot` if given) starting from q0; returns
        (q, final position error in metres)."""
        m, d = self.model, self.data
        q = np.clip(np.asarray(q0, dtype=float).copy(), self.lower, self.upper)
        lam2 = self.damping**2
        err_pos = np.inf
        for _ in range(self.max_iters):
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            x = d.site_xpos[self.site_id]
            e_pos = pos - x
            err_pos = float(np.linalg.norm(e_pos))
            if rot is not None:
                e_rot = orientation_error(d.site_xmat[self.site_id].reshape(3, 3), rot)
                if err_pos < self.tol_pos and np.linalg.norm(e_rot) < self.tol_rot:
                    break
            elif err_pos < self.tol_pos:
                break
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self.site_id)
            if rot is not None:
                jac = np.vstack([self._jacp[:, self.dadr], self.rot_weight * self._jacr[:, self.dadr]])
                err = np.concatenate([e_pos, self.rot_weight * e_rot])
            else:
                jac = self._jacp[:, self.dadr]
                err = e_pos
            dq = jac.T @ np.linalg.solve(jac @ jac.T + lam2 * np.eye(jac.shape[0]), err)
            q = np.clip(q + dq, self.lower, self.upper)
        else:
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(m, d)
            err_pos = float(np.linalg.norm(pos - d.site_xpos[self.site_id]))
        return q, err_pos
