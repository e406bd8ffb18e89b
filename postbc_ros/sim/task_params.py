"""Task timing shared by every arm: episode horizons and the control period.

The per-arm task geometry (workspace, object sizes, tolerances, action scales) is robot data: it
lives in the robot's registry entry (`postbc_ros.robots.get_twin(robot).task`, a `TaskParams`).
Pure data (no mujoco import): the graph reads the horizons to time episodes.
"""
from __future__ import annotations

HORIZONS: dict[str, int] = {"reach": 40, "push": 80, "pick_place": 100}
CONTROL_DT = 0.1  # 10 Hz control, like the real WidowX setups (BridgeData: 5 Hz)
