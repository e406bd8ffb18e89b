"""numpy <-> standard ROS 2 messages (sensor_msgs, trajectory_msgs, std_msgs)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import UInt8MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint


# ------------------------------------------------------------------ time
def to_time(t: float) -> Time:
    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


def from_time(t: Time) -> float:
    return float(t.sec) + float(t.nanosec) * 1e-9


def to_duration(d: float) -> Duration:
    d = max(0.0, float(d))
    sec = int(np.floor(d))
    return Duration(sec=sec, nanosec=int(round((d - sec) * 1e9)) % 1_000_000_000)


def from_duration(d: Duration) -> float:
    return float(d.sec) + float(d.nanosec) * 1e-9


# ------------------------------------------------------------------ images
def image_to_msg(img: np.ndarray, stamp: float, frame_id: str, encoding: str = "rgb8") -> Image:
    """uint8 HxWx3 (rgb8) or HxW (mono8) -> sensor_msgs/Image."""
    arr = np.ascontiguousarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"image dtype {arr.dtype}: only uint8 images are published")
    msg = Image()
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    channels = 1 if arr.ndim == 2 else int(arr.shape[2])
    msg.encoding = encoding if channels == 3 else "mono8"
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = arr.tobytes()
    return msg


def msg_to_image(msg: Image) -> np.ndarray:
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise ValueError(f"image encoding {msg.encoding!r} unsupported: publish rgb8, bgr8 or mono8")
    arr = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    arr = arr.reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        arr = arr[..., ::-1]
    return np.ascontiguousarray(arr if channels == 3 else arr[..., 0])


def camera_info_msg(width: int, height: int, k: Sequence[float], d: Sequence[float], stamp: float,
                    frame_id: str, distortion_model: str = "plumb_bob") -> CameraInfo:
    """CameraInfo from intrinsics K (3x3 row-major) and distortion D."""
    msg = CameraInfo()
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = distortion_model
    msg.d = [float(x) for x in d]
    kk = [float(x) for x in np.asarray(k, dtype=float).reshape(9)]
    msg.k = kk
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [kk[0], kk[1], kk[2], 0.0, kk[3], kk[4], kk[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def camera_info_from(intrinsics, stamp: float, frame_id: str) -> CameraInfo:
    """CameraInfo from a drivers' CameraIntrinsics (width, height, K, D, distortion_model)."""
    i = intrinsics
    return camera_info_msg(i.width, i.height, np.asarray(i.K).ravel(), i.D, stamp, frame_id, i.distortion_model)


# ------------------------------------------------------------------ joint states / named vectors
def joint_state_msg(names: Sequence[str], position: np.ndarray, stamp: float,
                    velocity: np.ndarray | None = None, effort: np.ndarray | None = None) -> JointState:
    msg = JointState()
    msg.header.stamp = to_time(stamp)
    msg.name = list(names)
    msg.position = [float(x) for x in np.asarray(position, dtype=float).ravel()]
    if velocity is not None:
        msg.velocity = [float(x) for x in np.asarray(velocity, dtype=float).ravel()]
    if effort is not None:
        msg.effort = [float(x) for x in np.asarray(effort, dtype=float).ravel()]
    return msg


def joint_positions(msg: JointState, names: Sequence[str]) -> np.ndarray:
    """Positions of `names` (in that order) from a JointState; KeyError names the missing joint."""
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise KeyError(f"JointState lacks joints {missing} (has {list(msg.name)})")
    return np.array([msg.position[index[n]] for n in names], dtype=float)


def vector_msg(values: np.ndarray, stamp: float, labels: Sequence[str] | None = None,
               frame_id: str = "") -> JointState:
    """A stamped, labelled float vector (e.g. the twin's task observation) as a JointState.

    std_msgs has no stamped array; JointState carries header + names + values, and every tool
    (ros2 topic echo, rosbag, plotjuggler) already reads it.
    """
    v = np.asarray(values, dtype=float).ravel()
    msg = joint_state_msg(labels if labels is not None else [f"obs_{i}" for i in range(v.size)], v, stamp)
    msg.header.frame_id = frame_id
    return msg


def vector_from_msg(msg: JointState) -> np.ndarray:
    return np.asarray(msg.position, dtype=np.float32)


# ------------------------------------------------------------------ trajectories
def trajectory_msg(joint_names: Sequence[str], positions: np.ndarray, t0: float, dt: float,
                   frame_id: str = "", start_index: int = 0) -> JointTrajectory:
    """JointTrajectory whose header.stamp = t0 (the observation time) and point i at t0 + (start_index+i)*dt.

    positions: [T, J] joint targets (the gripper, if present, is one of `joint_names`).
    """
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != len(joint_names):
        raise ValueError(f"positions shape {pos.shape} does not match {len(joint_names)} joint names")
    msg = JointTrajectory()
    msg.header.stamp = to_time(t0)
    msg.header.frame_id = frame_id
    msg.joint_names = list(joint_names)
    for i, row in enumerate(pos):
        p = JointTrajectoryPoint()
        p.positions = [float(x) for x in row]
        p.time_from_start = to_duration((start_index + i) * dt)
        msg.points.append(p)
    return msg


def trajectory_arrays(msg: JointTrajectory) -> tuple[float, list[str], np.ndarray, np.ndarray]:
    """-> (stamp, joint_names, times [T] absolute seconds, positions [T, J]); positions may hold NaN.

    Points with a wrong number of positions become rows of NaN so the safety filter rejects them
    (instead of them being silently dropped here).
    """
    t0 = from_time(msg.header.stamp)
    names = list(msg.joint_names)
    times = np.array([t0 + from_duration(p.time_from_start) for p in msg.points], dtype=float)
    rows = []
    for p in msg.points:
        q = np.asarray(p.positions, dtype=float)
        rows.append(q if q.shape == (len(names),) else np.full(len(names), np.nan))
    return t0, names, times, np.array(rows, dtype=float).reshape(len(rows), len(names))


# ------------------------------------------------------------------ byte records
def bytes_msg(data: bytes) -> UInt8MultiArray:
    msg = UInt8MultiArray()
    msg.data = data  # rclpy accepts bytes for uint8[]
    return msg


def msg_bytes(msg: UInt8MultiArray) -> bytes:
    d = msg.data
    return d.tobytes() if hasattr(d, "tobytes") else bytes(d)


# ------------------------------------------------------------------ diagnostics
def interventions_msg(interventions, stamp: float, name: str, hardware_id: str, summary: str, level: int,
                      counts: dict[str, int]) -> DiagnosticArray:
    """One DiagnosticStatus per safety-filter intervention (kind, joint, value, limit, running count)."""
    arr = DiagnosticArray()
    arr.header.stamp = to_time(stamp)
    for iv in interventions:
        st = DiagnosticStatus(level=bytes([level]), name=name, message=f"{summary}: {iv.message}",
                              hardware_id=hardware_id)
        st.values = [KeyValue(key="kind", value=iv.kind), KeyValue(key="joint", value=iv.joint),
                     KeyValue(key="value", value=repr(iv.value)), KeyValue(key="limit", value=repr(iv.limit)),
                     KeyValue(key="count", value=str(counts.get(iv.kind, 0)))]
        arr.status.append(st)
    return arr
