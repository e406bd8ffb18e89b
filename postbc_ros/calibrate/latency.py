"""Latency by cross-correlation of recorded signals (offline), and a live recorder.

Arm latency: the commanded position of one joint (a chirp / steps, each command stamped when
sent) against the measured position of that joint (stamped when read): the lag that best aligns
them is the command-to-motion delay (transport + servo tracking, what a policy feels).
Camera latency: a signal computed from the images (the board's horizontal position in the image,
or the mean intensity), stamped on ARRIVAL (no latency subtracted), against the measured motion
of the joint that moves the board or the camera: the lag is the capture-to-arrival delay that
camera_node subtracts from every frame stamp (`latency.mean_s` in the camera YAML). It is
relative to the joint reads, whose own delay (~1 ms on a Dynamixel bus, 2 ms RTDE) it includes.

Both signals are resampled onto one uniform grid and differentiated (steps become pulses, offsets
and slow drift drop out); the normalised cross-correlation is searched over +-`max_lag_s`, its
peak refined to sub-sample by a parabola. The sign is free (an image coordinate can run against
the joint angle). The spread (`std_s`) is that of the same estimate on `SEGMENTS` slices.

Recording file (.npz, or .json with the same keys as lists): `t_ref`, `x_ref` (the reference:
commanded positions for the arm, measured positions for the camera), `t_sig`, `x_sig` (the
delayed signal), and `kind` ("arm" | "camera").
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MAX_LAG_S = 0.5  # latencies above this are a broken setup, not a latency
SEGMENTS = 4  # slices of the recording whose estimates give std_s
MIN_CORRELATION = 0.5  # a weaker best match means the two signals do not show the same motion
MIN_SAMPLES = 50  # fewest grid samples worth correlating
KINDS = ("arm", "camera")


class LatencyError(ValueError):
    """Unusable recording (missing keys, too short, no common motion); names the field and the fix."""


@dataclass(frozen=True)
class LatencyEstimate:
    delay_s: float  # how much later the signal shows what the reference shows
    std_s: float
    correlation: float  # |normalised cross-correlation| at the peak (1 = identical shape)
    sign: int  # +1 or -1: the signal runs with (or against) the reference
    dt: float  # grid period used

    def summary(self) -> str:
        return (f"delay {self.delay_s * 1000:.1f} ms (std {self.std_s * 1000:.1f} ms over {SEGMENTS} segments, "
                f"correlation {self.correlation:.3f}, grid {self.dt * 1000:.2f} ms)")


def _clean(t, x, name: str) -> tuple[np.ndarray, np.ndarray]:
    t, x = np.asarray(t, float).ravel(), np.asarray(x, float).ravel()
    if t.shape != x.shape:
        raise LatencyError(f"latency: t_{name} and x_{name} differ in length ({t.size} vs {x.size})")
    ok = np.isfinite(t) & np.isfinite(x)  # frames without a board detection are NaN
    t, x = t[ok], x[ok]
    order = np.argsort(t, kind="stable")
    t, x = t[order], x[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    if keep.sum() < 3:
        raise LatencyError(f"latency: fewer than 3 valid samples in x_{name}")
    return t[keep], x[keep]


def _xcorr(ref: np.ndarray, sig: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised correlation of ref[n] with sig[n + k] for k in -max_lag..max_lag."""
    out = np.zeros(2 * max_lag + 1)
    n = len(ref)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        a, b = (ref[: n - k], sig[k:]) if k >= 0 else (ref[-k:], sig[: n + k])
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt(np.dot(a, a) * np.dot(b, b))
        out[i] = np.dot(a, b) / den if den > 0 else 0.0
    return out


def _peak(t0: float, t1: float, tr, xr, ts, xs, dt: float, max_lag_s: float, derivative: bool) -> tuple[float, float, int]:
    grid = np.arange(t0, t1, dt)
    if len(grid) < MIN_SAMPLES:
        raise LatencyError(f"latency: the two recordings overlap for only {len(grid)} samples at {dt * 1000:.2f} ms; "
                           "record longer (a few seconds of motion)")
    r, s = np.interp(grid, tr, xr), np.interp(grid, ts, xs)
    if derivative:
        r, s = np.gradient(r), np.gradient(s)
    max_lag = max(1, min(int(round(max_lag_s / dt)), len(grid) // 2))
    c = _xcorr(r, s, max_lag)
    i = int(np.argmax(np.abs(c)))
    frac = 0.0
    if 0 < i < len(c) - 1:
        y0, y1, y2 = np.abs(c[i - 1 : i + 2])
        den = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    return (i - max_lag + frac) * dt, float(abs(c[i])), int(np.sign(c[i]) or 1)


def estimate_delay(t_ref, x_ref, t_sig, x_sig, max_lag_s: float = DEFAULT_MAX_LAG_S, dt: float | None = None,
                   derivative: bool = True) -> LatencyEstimate:
    """Delay of (t_sig, x_sig) behind (t_ref, x_ref) by cross-correlation; see the module docstring."""
    tr, xr = _clean(t_ref, x_ref, "ref")
    ts, xs = _clean(t_sig, x_sig, "sig")
    if dt is None:  # the finer of the two sampling periods
        dt = float(min(np.median(np.diff(tr)), np.median(np.diff(ts))))
    if not dt > 0:
        raise LatencyError(f"latency: grid period must be > 0, got {dt}")
    t0, t1 = max(tr[0], ts[0]), min(tr[-1], ts[-1])
    if np.ptp(xr) == 0 or np.ptp(xs) == 0:
        raise LatencyError("latency: one signal never changes: the joint did not move, or the board left the view")
    delay, corr, sign = _peak(t0, t1, tr, xr, ts, xs, dt, max_lag_s, derivative)
    if corr < MIN_CORRELATION:
        raise LatencyError(f"latency: best correlation {corr:.2f} < {MIN_CORRELATION}: the signals do not show the same "
                           "motion (wrong joint? board out of view? a lag beyond --max-lag?)")
    edges = np.linspace(t0, t1, SEGMENTS + 1)
    seg = []
    for a, b in zip(edges[:-1], edges[1:]):
        try:
            d, c, _ = _peak(a, b, tr, xr, ts, xs, dt, max_lag_s, derivative)
        except LatencyError:
            continue
        if c >= MIN_CORRELATION:
            seg.append(d)
    std = float(np.std(seg)) if len(seg) >= 2 else 0.0
    return LatencyEstimate(float(delay), std, corr, sign, dt)


# ---------------------------------------------------------------------------- recording files

def save_recording(path: str | Path, kind: str, t_ref, x_ref, t_sig, x_sig, **meta) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"t_ref": np.asarray(t_ref, float), "x_ref": np.asarray(x_ref, float),
              "t_sig": np.asarray(t_sig, float), "x_sig": np.asarray(x_sig, float)}
    if path.suffix == ".json":
        path.write_text(json.dumps({"kind": kind, **meta, **{k: v.tolist() for k, v in arrays.items()}}))
    else:
        np.savez(path, kind=kind, meta=json.dumps(meta), **arrays)
    return path


def load_recording(path: str | Path) -> dict:
    """{kind, t_ref, x_ref, t_sig, x_sig} of a .npz/.json recording (errors name the key)."""
    path = Path(path)
    if not path.is_file():
        raise LatencyError(f"{path}: recording not found; record one with `postbc calibrate latency --record` "
                           "or save t_ref/x_ref/t_sig/x_sig arrays (docs/calibration.md)")
    try:
        d = json.loads(path.read_text()) if path.suffix == ".json" else dict(np.load(path, allow_pickle=False))
    except (ValueError, OSError) as e:
        raise LatencyError(f"{path}: cannot read as {'JSON' if path.suffix == '.json' else '.npz'}: {e}") from None
    for k in ("t_ref", "x_ref", "t_sig", "x_sig"):
        if k not in d:
            raise LatencyError(f"{path}: key '{k}' missing; a recording holds t_ref, x_ref, t_sig, x_sig (and kind)")
    kind = str(np.asarray(d.get("kind", "arm")))
    if kind not in KINDS:
        raise LatencyError(f"{path}: key 'kind' must be one of {KINDS}, got {kind!r}")
    return {"kind": kind, **{k: np.asarray(d[k], float) for k in ("t_ref", "x_ref", "t_sig", "x_sig")}}


# ------------------------------------------------------------------------------ image signals

def image_signal(image: np.ndarray, spec=None, what: str = "board_u") -> float:
    """One number per frame: the board's mean corner column ('board_u') or row ('board_v'), or
    the mean intensity ('intensity', for a blinking light in view). NaN: board not found."""
    from postbc_ros.calibrate.board import detect, to_gray

    if what == "intensity":
        return float(np.mean(to_gray(image)))
    det = detect(image, spec)
    if det is None:
        return float("nan")
    return float(det.image_points[:, 0 if what == "board_u" else 1].mean())


# -------------------------------------------------------------------------------- live record

STEP_PERIOD_S = 0.6  # each step holds this long: the servo settles, the camera sees it
DEFAULT_AMPLITUDE = 0.08  # rad: a motion the board shifts visibly with, small enough to be harmless
DEFAULT_CONTROL_DT = 0.01  # command period of the recorder [s]


def step_profile(t: np.ndarray, amplitude: float, period: float = STEP_PERIOD_S) -> np.ndarray:
    """Pseudo-random steps in {-a, 0, +a} (a fixed sequence: no periodicity for the correlation
    to lock onto a wrong lag)."""
    seq = np.array([0, 1, 0, -1, 1, -1, 0, 1, 1, -1, 0, -1, 1, 0, -1, 0])
    return amplitude * seq[(np.asarray(t) // period).astype(int) % len(seq)]


def record_motion(arm, joint: int, duration_s: float, limits, amplitude: float = DEFAULT_AMPLITUDE,
                  control_dt: float = DEFAULT_CONTROL_DT, camera=None, image_fn=None, clock=time.monotonic) -> dict:
    """Step joint `joint` of a connected `arm` (ArmInterface) about its present position for
    `duration_s`, every command through the rig's safety filter (`limits`: core.safety), and record
    t/q commanded, t/q measured and, with a `camera` (started drivers.camera Camera), each frame's
    arrival stamp and `image_fn(image)`. The arm holds at the start pose at the end."""
    import threading

    from postbc_ros.core.safety import SafetyState, filter_command

    st = arm.read_state()
    q0 = np.asarray(st.q, float).copy()
    grip = float(st.gripper) if st.gripper is not None else 0.0  # the gripper keeps its closure
    t_cmd, x_cmd, t_meas, x_meas, t_img, x_img = [], [], [], [], [], []
    stop = threading.Event()

    def frames():
        while not stop.is_set():
            f = camera.read()
            t_img.append(f.stamp + camera.latency)  # arrival: undo the latency the driver subtracted
            x_img.append(image_fn(f.image))

    th = threading.Thread(target=frames, daemon=True) if camera is not None else None
    if th:
        th.start()
    state = SafetyState(q=q0)
    t_start = clock()
    try:
        while (now := clock()) - t_start < duration_s:
            q = q0.copy()
            q[joint] += step_profile(np.array([now - t_start]), amplitude)[0]
            cmd = np.append(q, grip) if limits.command_length > len(q) else q
            res = filter_command(cmd, state, limits, control_dt)
            sent = res.q(len(q))
            if sent is not None:
                arm.command(sent, res.gripper(len(q)))
                t_cmd.append(clock())
                x_cmd.append(sent[joint])
            st = arm.read_state()
            t_meas.append(st.stamp)
            x_meas.append(st.q[joint])
            state = state.after(res, st.q, st.dq)
            time.sleep(max(0.0, control_dt - (clock() - now)))
    finally:
        stop.set()
        if th:
            th.join(timeout=2)
        arm.hold()
    return {"t_cmd": np.array(t_cmd), "x_cmd": np.array(x_cmd), "t_meas": np.array(t_meas), "x_meas": np.array(x_meas),
            "t_img": np.array(t_img), "x_img": np.array(x_img)}
