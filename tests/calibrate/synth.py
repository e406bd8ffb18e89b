"""Synthetic camera views of a ChArUco board with KNOWN intrinsics, distortion and board poses.

Each output pixel is traced back exactly: undistort it (cv2.undistortPoints with tight criteria, the inverse of
the plumb_bob model), intersect its ray with the board plane (the homography [r1 r2 t]^-1),
and sample the printed board image there (cv2.remap). So corners land where cv2.projectPoints
puts them, distortion included, and a calibration must recover what went in.
"""
from __future__ import annotations

import numpy as np

from postbc_ros.calibrate.board import BoardSpec, render_board

PPS = 120  # board image px per square (finer than any view renders it)
MARGIN_SQUARES = 0.5
W, H = 640, 480
K_TRUE = np.array([[600.0, 0.0, 322.0], [0.0, 606.0, 236.0], [0.0, 0.0, 1.0]])
D_TRUE = np.array([-0.12, 0.05, 0.0005, -0.0004, 0.0])
SPEC = BoardSpec(7, 5, 0.04, 0.03, "DICT_5X5_100")


def rot(rx: float, ry: float, rz: float) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.array([rx, ry, rz], float))[0]


def pose(R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, np.asarray(t, float)
    return T


def render_view(T_cam_board: np.ndarray, K=K_TRUE, D=D_TRUE, spec: BoardSpec = SPEC, size=(W, H)) -> np.ndarray:
    """Gray uint8 image of the board at pose camera <- board (4x4)."""
    import cv2

    board = render_board(spec, PPS, MARGIN_SQUARES)
    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel()], 1).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 40, 1e-10)
    n = cv2.undistortPoints(pix, K, D, None, np.eye(3), np.eye(3), crit).reshape(-1, 2)
    A = np.column_stack([T_cam_board[:3, 0], T_cam_board[:3, 1], T_cam_board[:3, 3]])
    xy1 = np.linalg.solve(A, np.column_stack([n, np.ones(len(n))]).T).T
    bx, by = xy1[:, 0] / xy1[:, 2], xy1[:, 1] / xy1[:, 2]
    behind = xy1[:, 2] <= 0
    margin = MARGIN_SQUARES * PPS
    mx = (margin + bx / spec.square_m * PPS - 0.5).reshape(h, w).astype(np.float32)
    my = (margin + by / spec.square_m * PPS - 0.5).reshape(h, w).astype(np.float32)
    mx[behind.reshape(h, w)] = -1e6
    img = cv2.remap(board, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=200)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


def board_centre(spec: BoardSpec = SPEC) -> np.ndarray:
    return np.array([spec.squares_x * spec.square_m / 2, spec.squares_y * spec.square_m / 2, 0.0])


def looking_at(centre_in_cam, tilt_x: float, tilt_y: float, spin: float = 0.0, spec: BoardSpec = SPEC) -> np.ndarray:
    """camera <- board pose whose board centre sits at `centre_in_cam` (m), tilted (rad)."""
    R = rot(tilt_x, 0, 0) @ rot(0, tilt_y, 0) @ rot(0, 0, spin)
    t = np.asarray(centre_in_cam, float) - R @ board_centre(spec)
    return pose(R, t)


def intrinsics_views(n: int = 16, seed: int = 3) -> list[np.ndarray]:
    """`n` camera <- board poses: the board centre on a 3x3 grid over the image (every region
    reached), 0.5-0.7 m away, tilted up to ~40 deg about both axes (seeded, reproducible)."""
    rng = np.random.default_rng(seed)
    grid = [(x, y) for y in (-0.11, 0.0, 0.11) for x in (-0.16, 0.0, 0.16)]
    out = []
    for i in range(n):
        x, y = grid[i % len(grid)]
        z = rng.uniform(0.55, 0.7)
        out.append(looking_at([x * z / 0.6, y * z / 0.6, z], rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7), rng.uniform(-0.3, 0.3)))
    return out
