"""Live capture through the driver interfaces: board images for intrinsics, and hand-eye samples
(arm joint state + image) into a capture folder (`hand_eye` documents its format).

Nothing here commands the arm to a pose: the operator positions it between samples and each
sample is taken when the operator says so. With `free_drive` (an arm whose driver supports it:
WidowX torque off, UR teach mode) the arm is released before each pose and locked where the
operator left it before the sample is read; the arm is locked again whatever ends the capture.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import time

import numpy as np

from postbc_ros.calibrate.board import BoardSpec, detect
from postbc_ros.calibrate.hand_eye import write_capture

QUIT_ANSWERS = ("q", "quit", "done")
SETTLE_S = 0.3  # s between locking the arm and reading the sample (the hand lets go, the servos settle)


def _save_png(path: Path, image: np.ndarray) -> None:
    import cv2

    img = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def capture_board_images(camera, n: int, spec: BoardSpec, ask: Callable[[str], str], say: Callable[[str], None] = print,
                         folder: str | Path | None = None) -> list[np.ndarray]:
    """`n` frames showing the board from a started `camera` (drivers.camera Camera); a frame
    without the board is not counted and the operator is told. Saved as PNG into `folder`."""
    out: list[np.ndarray] = []
    folder = Path(folder) if folder else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    hints = ["the centre", "the top-left corner", "the top-right corner", "the bottom-left corner", "the bottom-right corner",
             "the left edge, tilted", "the right edge, tilted", "the top edge, tilted", "the bottom edge, tilted"]
    while len(out) < n:
        k = len(out) + 1
        ans = ask(f"Step {k}/{n}: hold the board still near {hints[(k - 1) % len(hints)]} of the image (tilt it 20-45 deg "
                  "in every other view), then press Enter ('q' ends early): ")
        if ans.strip().lower() in QUIT_ANSWERS:
            break
        img = camera.read().image
        if detect(img, spec) is None:
            say("  the board is not visible in this frame (fewer than 6 corners): not counted, try again")
            continue
        out.append(img)
        if folder:
            _save_png(folder / f"{k:03d}.png", img)
        say(f"  view {k} taken")
    return out


def capture_hand_eye(arm, camera, folder: str | Path, n: int, robot: str, mode: str, spec: BoardSpec,
                     ask: Callable[[str], str], say: Callable[[str], None] = print, free_drive: bool = False,
                     settle_s: float = SETTLE_S) -> Path:
    """Record `n` samples (joint state + frame) from a connected `arm` (ArmInterface) and a
    started `camera` into `folder` (poses.json + NNN.png); returns poses.json's path.
    free_drive: the operator confirmed that the arm may be released (arm.free_drive) between samples."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    where = "the board fixed in the workspace, seen by the wrist camera" if mode == "eye_in_hand" else \
        "the board fixed to the gripper, seen by the fixed camera"
    say(f"Hand-eye capture ({mode}): {where}. Vary the tool orientation between poses: rotate the wrist by "
        "15-45 deg about at least two axes; keep the board fully in view and the arm still at each pose.")
    move = ("the arm is released: support it, move it by hand to a new pose and hold it there, then press Enter "
            "(it locks where it is)") if free_drive else "move the arm to a new pose, let it settle, then press Enter"
    try:
        while len(samples) < n:
            k = len(samples) + 1
            if free_drive:
                arm.free_drive(True, confirmed=True)
            ans = ask(f"Step {k}/{n}: {move} ('q' ends early): ")
            if free_drive:
                arm.free_drive(False)
                time.sleep(settle_s)
            if ans.strip().lower() in QUIT_ANSWERS:
                break
            st = arm.read_state()
            img = camera.read().image
            if detect(img, spec) is None:
                say("  the board is not visible (fewer than 6 corners): sample not taken, move and try again")
                continue
            name = f"{k:03d}.png"
            _save_png(folder / name, img)
            samples.append({"image": name, "q": [float(x) for x in st.q], "stamp": float(st.stamp)})
            say(f"  sample {k}: q = {np.round(st.q, 3).tolist()}")
    finally:
        if free_drive:
            arm.free_drive(False)  # locked (holding) whatever ended the capture
    return write_capture(folder, robot, mode, spec, samples)
