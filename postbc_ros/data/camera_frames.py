"""Camera frames for a recorder that steps on another stream (ROS-free): teleop_node records one
step per `observation/state` message, while the camera frames arrive on their own topic. Each
frame is cropped and resized as configured when it arrives (`ImageFormat`) and kept with its
capture stamp; a recorded step stores, per camera, the frame nearest its observation's stamp
within `slop_s` -- or the step is not recorded (`paired` returns None and says why in `reason`):
never an image of another moment.

The stored image is what the twin's `image` observation mode renders: `crop="center"` takes the
central square of the frame first (a square render of the same camera keeps its vertical field of
view and crops the horizontal one), then resizes it to `size` x `size` (OpenCV, area averaging).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from postbc_ros.data.lerobot_format import DatasetError

IMAGE_PREFIX = "observation.images."
CROPS = ("center", "none")  # center: the central square first; none: the whole frame (its aspect changes)
DEFAULT_SLOP_S = 0.05  # s: largest stamp difference between a step's observation and its frame
DEFAULT_BUFFER = 32  # frames kept per camera: 1 s at 30 Hz; a step is paired one observation later
MIN_SIZE, MAX_SIZE = 16, 1024  # stored image side in pixels (the twin renders 16..480)


@dataclass(frozen=True)
class ImageFormat:
    """How a camera frame is stored: `size` x `size` RGB, after the `crop`."""

    size: int = 96
    crop: str = "center"

    def __post_init__(self) -> None:
        if not MIN_SIZE <= int(self.size) <= MAX_SIZE:
            raise ValueError(f"ImageFormat: size {self.size} must be in [{MIN_SIZE}, {MAX_SIZE}] pixels "
                             "(teleop_node parameter image_size)")
        if self.crop not in CROPS:
            raise ValueError(f"ImageFormat: crop {self.crop!r} must be one of {list(CROPS)} "
                             "(teleop_node parameter image_crop)")

    def feature(self) -> dict:
        """The LeRobot feature entry of an image stored in this format."""
        return {"dtype": "image", "shape": [int(self.size), int(self.size), 3], "names": ["height", "width", "channel"]}

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The stored image of an HxWx3 uint8 frame (ValueError naming the problem otherwise)."""
        import cv2

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"camera frame must be HxWx3 uint8 (rgb8), got shape {img.shape} dtype {img.dtype}")
        if self.crop == "center":
            h, w = img.shape[:2]
            s = min(h, w)
            y, x = (h - s) // 2, (w - s) // 2
            img = img[y: y + s, x: x + s]
        if img.shape[:2] != (self.size, self.size):
            img = cv2.resize(img, (int(self.size), int(self.size)), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img)


class CameraFrames:
    """The newest frames of each of `cameras`, stored per `fmt`; `paired(stamp)` gives one per camera."""

    def __init__(self, cameras: Sequence[str], fmt: ImageFormat = ImageFormat(), slop_s: float = DEFAULT_SLOP_S,
                 buffer: int = DEFAULT_BUFFER) -> None:
        if not cameras or len(set(cameras)) != len(cameras) or not all(str(c).strip() for c in cameras):
            raise ValueError(f"CameraFrames: cameras must be distinct non-empty names, got {list(cameras)}")
        if not (slop_s >= 0 and math.isfinite(slop_s)):
            raise ValueError(f"CameraFrames: slop_s must be a finite number of seconds >= 0, got {slop_s!r}")
        self.fmt, self.slop_s = fmt, float(slop_s)
        self._buf: dict[str, deque] = {str(c): deque(maxlen=int(buffer)) for c in cameras}
        self.reason = ""

    @property
    def cameras(self) -> list[str]:
        return list(self._buf)

    def features(self) -> dict[str, dict]:
        """`observation.images.<camera>` feature entries for the dataset."""
        return {IMAGE_PREFIX + c: self.fmt.feature() for c in self._buf}

    def add(self, camera: str, stamp: float, image: np.ndarray) -> None:
        """A frame of `camera` captured at `stamp` (ValueError for an unknown camera, a bad stamp or image)."""
        if camera not in self._buf:
            raise ValueError(f"CameraFrames: camera {camera!r} is not recorded (cameras: {self.cameras})")
        if not math.isfinite(stamp):
            raise ValueError(f"CameraFrames: camera {camera}: stamp must be finite, got {stamp!r}")
        buf = self._buf[camera]
        if buf and stamp < buf[-1][0]:
            buf.clear()  # the camera restarted (its clock went back): older frames are of another run
        buf.append((float(stamp), self.fmt.apply(image)))

    def paired(self, stamp: float) -> dict[str, np.ndarray] | None:
        """{camera: stored image} of the frames nearest `stamp`, or None with `reason` set."""
        out = {}
        for camera, buf in self._buf.items():
            if not buf:
                self.reason = f"camera {camera}: no frame received yet"
                return None
            s, img = min(buf, key=lambda si: abs(si[0] - stamp))
            if abs(s - stamp) > self.slop_s:
                self.reason = (f"camera {camera}: nearest frame {abs(s - stamp):.3f} s from the observation stamp "
                               f"{stamp:.3f} > slop {self.slop_s:g} s")
                return None
            out[camera] = img
        self.reason = ""
        return out


def with_images(features: Mapping[str, dict], frames: CameraFrames | None) -> dict[str, dict]:
    """`features` plus the image features of `frames` (refused when one is already there)."""
    out = dict(features)
    if frames is None:
        return out
    for name, feat in frames.features().items():
        if name in out:
            raise DatasetError(f"recorder: feature {name!r} is already recorded from the observation; "
                               "record that camera once")
        out[name] = feat
    return out
