"""Per-marker state across frames: the last pose, whether the marker is visible in the newest
frame, and how old its last detection is. A marker that leaves the view keeps its last pose but is
flagged not-visible and its age grows with every frame: never a frozen pose passed off as fresh."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from postbc_ros.perception.markers import MarkerConfig


@dataclass(frozen=True)
class MarkerObservation:
    """One configured marker as of the frame at `stamp` [s].

    position: centre of the marker [m] in the base frame at its last detection (None: never seen);
    rotation: 3x3 marker frame in the base frame at that detection (x right, y up of the print,
    z out of it); visible: detected in this frame; age_s: stamp - stamp of the last detection
    (0 when visible, inf when never seen)."""

    name: str
    marker_id: int
    position: np.ndarray | None
    rotation: np.ndarray | None
    visible: bool
    age_s: float
    stamp: float
    detected_stamp: float | None


class MarkerTracker:
    """Holds the last pose of every configured marker; `update` once per processed frame."""

    def __init__(self, markers: Sequence[MarkerConfig]) -> None:
        names = [m.name for m in markers]
        ids = [m.marker_id for m in markers]
        if len(set(names)) != len(names) or len(set(ids)) != len(ids):
            raise ValueError(f"MarkerTracker: marker names and ids must be unique, got {list(zip(names, ids))}")
        self.markers = tuple(markers)
        self.reset()

    def reset(self) -> None:
        """Forget every pose (a new episode: the objects were moved)."""
        self._last: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._stamp: float | None = None

    def update(self, stamp: float, poses: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> dict[str, MarkerObservation]:
        """Record the base-frame poses (id -> (position, rotation)) found in the frame captured at
        `stamp`; returns every configured marker's observation as of that frame."""
        if self._stamp is not None and stamp < self._stamp:
            raise ValueError(f"MarkerTracker.update: frame stamp {stamp:.6f} s is older than the previous one "
                             f"({self._stamp:.6f} s); frames must be processed in capture order")
        self._stamp = float(stamp)
        out = {}
        for m in self.markers:
            if m.marker_id in poses:
                pos, rot = poses[m.marker_id]
                self._last[m.name] = (np.asarray(pos, float).copy(), np.asarray(rot, float).copy(), float(stamp))
            last = self._last.get(m.name)
            visible = m.marker_id in poses
            if last is None:
                out[m.name] = MarkerObservation(m.name, m.marker_id, None, None, False, math.inf, float(stamp), None)
            else:
                out[m.name] = MarkerObservation(m.name, m.marker_id, last[0].copy(), last[1].copy(), visible,
                                                0.0 if visible else float(stamp) - last[2], float(stamp), last[2])
        return out
