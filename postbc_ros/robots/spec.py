"""`RobotSpec`: joint limits and forward kinematics of one arm, in plain numpy.

This is the single source of truth for an arm's kinematics and limits: the MuJoCo twin's MJCF
(models/), the safety filter and the hardware drivers all read (or are tested against) it.
The numbers come from the manufacturers' published descriptions; each spec module cites its
source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def rot_x(a: float) -> np.ndarray:
    """Rotation matrix about x by `a` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation matrix about y by `a` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    """Rotation matrix about z by `a` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def homogeneous(rot: np.ndarray, pos) -> np.ndarray:
    """4x4 homogeneous transform from a rotation matrix and a translation."""
    t = np.eye(4)
    t[:3, :3] = rot
    t[:3, 3] = np.asarray(pos, dtype=float)
    return t


@dataclass(frozen=True)
class RobotSpec:
    """Kinematic and limit description of a 6-joint arm with a parallel gripper.

    Attributes follow docs/interfaces.md. `fk(q)` returns the tool (grasp point between the
    fingers) position [m] and rotation matrix in the robot base frame.
    """

    name: str
    joint_names: list[str]
    lower: np.ndarray
    upper: np.ndarray
    velocity_limits: np.ndarray
    accel_limits: np.ndarray
    home: np.ndarray
    gripper_range: tuple[float, float]
    _fk: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    source: str = ""

    @property
    def dof(self) -> int:
        """Number of arm joints (gripper excluded)."""
        return len(self.joint_names)

    def fk(self, q) -> tuple[np.ndarray, np.ndarray]:
        """Tool-frame pose (pos[3], rotmat[3,3]) in the base frame for joint angles `q` [rad]."""
        q = np.asarray(q, dtype=float).reshape(-1)
        if q.shape != (self.dof,):
            raise ValueError(
                f"{self.name}.fk: expected {self.dof} joint angles ({self.joint_names}), "
                f"got shape {q.shape}; pass arm joints only, without the gripper"
            )
        if not np.all(np.isfinite(q)):
            raise ValueError(f"{self.name}.fk: joint angles must be finite, got {q}")
        return self._fk(q)

    def within_limits(self, q, tol: float = 1e-9) -> bool:
        """True when every joint of `q` lies inside [lower, upper]."""
        q = np.asarray(q, dtype=float)
        return bool(np.all(q >= self.lower - tol) and np.all(q <= self.upper + tol))

    def clip(self, q) -> np.ndarray:
        """`q` clipped into the joint limits."""
        return np.clip(np.asarray(q, dtype=float), self.lower, self.upper)
