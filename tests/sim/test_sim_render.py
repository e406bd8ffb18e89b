"""Headless rendering: images are upright and show known objects where the camera model says."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.sim import make_env


def project(data, model, camera: str, point, h: int, w: int) -> tuple[int, int]:
    """Pixel (row, col) of a world point in a MuJoCo camera image (row 0 = top)."""
    cam = model.camera(camera).id
    c = data.cam_xpos[cam]
    r = data.cam_xmat[cam].reshape(3, 3)  # columns: camera x (right), y (up), z (backwards)
    v = r.T @ (np.asarray(point) - c)
    f = 0.5 * h / np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
    return int(round(h / 2 - f * v[1] / -v[2])), int(round(w / 2 + f * v[0] / -v[2]))


def is_red(px) -> bool:
    return px[0] > 140 and px[1] < 90 and px[2] < 90


@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_scene_image_is_upright_and_object_where_expected(robot):
    size = 128
    env = make_env(robot, "push", obs_mode="image", image_size=size, seed=0)
    env.reset(seed=0)
    tw = env.unwrapped.twin
    p = tw.params
    lo, hi = np.array(p.object_low), np.array(p.object_high)
    cols = []
    for y in (lo[1] + 0.02, hi[1] - 0.02):  # one object position on each side of the workspace
        pos = np.array([0.5 * (lo[0] + hi[0]), y, p.puck_half_height])
        tw.set_object_position(pos)
        tw.set_goal([10.0, 10.0, -1.0])  # goal marker out of view
        tw.forward()
        img = tw.render("scene", size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        row, col = project(tw.data, tw.model, "scene", pos, size, size)
        assert 0 <= row < size and 0 <= col < size
        patch = img[max(row - 1, 0): row + 2, max(col - 1, 0): col + 2].reshape(-1, 3)
        assert any(is_red(px) for px in patch), f"no red puck at projected pixel {(row, col)}"
        # the mirrored pixel (flipped image) must not show the puck
        assert not is_red(img[size - 1 - row, size - 1 - col])
        cols.append(col)
        # table (light wood) fills the bottom rows: the image is not upside down
        bottom = img[-3:, size // 4: 3 * size // 4].reshape(-1, 3).mean(0)
        assert bottom[0] > 150 and bottom[0] > bottom[2] + 30
    assert cols[0] != cols[1]
    env.close()


def test_image_observations_and_wrist_camera():
    env = make_env("widowx", "pick_place", obs_mode="image_wrist", image_size=84, seed=1)
    obs, _ = env.reset(seed=1)
    assert set(obs) == {"state", "scene", "wrist"}
    assert obs["scene"].shape == (84, 84, 3) and obs["wrist"].shape == (84, 84, 3)
    assert obs["state"].shape == (10,)  # proprio only in image modes
    assert env.observation_space.contains(obs)
    # the wrist camera looks down between the fingers: the table fills most of the view
    assert obs["wrist"].std() > 5
    env.close()
