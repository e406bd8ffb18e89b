"""Camera frames for the step recorder (data.camera_frames): stored as the twin's image mode renders
(central square, resized), paired with a step by stamp within the slop or not at all, a restarted
camera's older frames dropped, bad frames refused with the problem named."""
from __future__ import annotations

import numpy as np
import pytest

from postbc_ros.data import DatasetError
from postbc_ros.data.camera_frames import CameraFrames, ImageFormat, with_images


def frame(h: int, w: int, value: int = 0) -> np.ndarray:
    img = np.full((h, w, 3), value, dtype=np.uint8)
    return img


def test_center_crop_keeps_the_vertical_field_and_resizes():
    img = frame(480, 640)
    img[:, :80] = 255  # the left and right 80 columns fall outside the central 480 x 480 square
    img[:, -80:] = 255
    img[:, 80:-80] = (np.arange(480) // 2).astype(np.uint8)[:, None, None]  # a vertical ramp inside it
    out = ImageFormat(96, "center").apply(img)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out.max() < 255  # nothing of the cropped sides
    assert out[0, 48, 0] < 5 and out[-1, 48, 0] > 230  # the full vertical ramp
    squeezed = ImageFormat(96, "none").apply(img)
    assert squeezed[:, 0, 0].min() == 255  # the whole frame, aspect changed


@pytest.mark.parametrize("bad, what", [(np.zeros((8, 8), np.uint8), "HxWx3"), (np.zeros((8, 8, 3)), "uint8")])
def test_a_frame_that_is_not_rgb8_is_refused(bad, what):
    with pytest.raises(ValueError, match=what):
        ImageFormat(16).apply(bad)


def test_a_bad_format_names_the_parameter():
    with pytest.raises(ValueError, match="image_size"):
        ImageFormat(4)
    with pytest.raises(ValueError, match="image_crop"):
        ImageFormat(96, "left")


def test_a_step_gets_the_nearest_frame_within_the_slop_or_none():
    cams = CameraFrames(["scene"], ImageFormat(16), slop_s=0.03)
    assert cams.paired(1.0) is None and "no frame received yet" in cams.reason
    for k, t in enumerate((1.0, 1.1, 1.2)):
        cams.add("scene", t, frame(32, 32, 10 * (k + 1)))
    got = cams.paired(1.11)
    assert set(got) == {"scene"} and got["scene"].shape == (16, 16, 3) and got["scene"][0, 0, 0] == 20
    assert cams.paired(1.15) is None and "0.050 s" in cams.reason and "slop 0.03 s" in cams.reason
    assert cams.paired(1.4) is None  # 0.2 s from the newest frame: not this step's image
    cams.add("scene", 0.5, frame(32, 32, 99))  # the camera restarted (its clock went back): older frames void
    assert cams.paired(1.2) is None and cams.paired(0.5)["scene"][0, 0, 0] == 99


def test_unknown_cameras_and_bad_stamps_are_refused_and_features_are_images():
    cams = CameraFrames(["scene", "wrist"], ImageFormat(24))
    with pytest.raises(ValueError, match="not recorded"):
        cams.add("top", 0.0, frame(8, 8))
    with pytest.raises(ValueError, match="finite"):
        cams.add("scene", float("nan"), frame(8, 8))
    cams.add("scene", 1.0, frame(8, 8))
    assert cams.paired(1.0) is None and cams.reason.startswith("camera wrist")  # every camera or nothing
    feats = with_images({"action": {}}, cams)
    assert feats["observation.images.scene"] == {"dtype": "image", "shape": [24, 24, 3],
                                                 "names": ["height", "width", "channel"]}
    with pytest.raises(DatasetError, match="record that camera once"):
        with_images({"observation.images.scene": {}}, cams)
    with pytest.raises(ValueError, match="distinct"):
        CameraFrames(["scene", "scene"])
