"""`postbc bench safety`: fuzz the safety filter and check every output independently.

Per calibration rig (by default the real and the twin rig of every registered arm), `tried`
inputs are drawn from the cases below, each run through `filter_command` (timed alone, in a
tight loop), then every result is checked by `check_result` -- a re-statement of the filter's
documented guarantee that shares no code with the filter (it evaluates the robot's own `fk`, not
the filter's batched kinematics). A row counts:

- violations: returned commands that break a guarantee (or holds without a reason);
- escaped: exceptions that left `filter_command`;
- internal_errors: holds of kind `filter_error` (the filter's own last line of defence caught a
  bug: counted separately so that the catch-all cannot hide one);
- us_p50 / us_p99 per call, overall and per path: `normal` (a command, no workspace
  intervention), `workspace` (the tool point left the box: scaled, recovered or held), of which
  `workspace_scaled` (the step scaled back to the box: the boundary search), `rejected`
  (unusable input held before any limit); with the same statistics of a bare `np.clip` of
  each command's joints measured in the same run (`baseline`) and the ratio to it.

Cases (cycled): nominal steps, random targets over and beyond the joint range, targets at the
limits (exactly and one ulp beyond), huge steps (10 rad .. 1e308), steps that leave the
workspace box, states outside the joint limits or the box (recovery), NaN/Inf in commands and
states, wrong lengths and shapes, and non-numeric / odd types (strings, None, dicts, object and
bool arrays, torch tensors with and without gradient, float32/int arrays, lists).

Timing is wall clock per call (`time.perf_counter_ns`), garbage collector on, on a machine that
may be shared: the load average at the start and end is recorded with the numbers.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from postbc_ros.core.safety import SafetyLimits, SafetyState, filter_command, load_safety_limits

#: p99 per command the filter must meet on each path (a 500 Hz UR servo period is 2000 µs; the
#: filter is one step of many in it)
TARGET_P99_US = 100.0
#: command periods the fuzz draws from [s]: 500 Hz (UR servoJ), 125 Hz, 50 Hz, 10 Hz
PERIODS = (0.002, 0.008, 0.02, 0.1)
#: tolerances of the independent check: joint positions/steps [rad], tool point [m], velocity (relative)
CHECK_TOL = 1e-7
CHECK_VEL_REL = 1e-6

#: timing groups: a command without workspace intervention; any workspace intervention (scaled,
#: recovery or hold); the subset whose step was scaled back to the box (the boundary search);
#: inputs held before any limit (unusable command or state)
PATHS = ("normal", "workspace", "workspace_scaled", "rejected")
CASES = ("nominal", "random", "limit_edge", "huge_step", "workspace_out", "outside_limits", "outside_box",
         "non_finite", "bad_state", "wrong_shape", "odd_type")


@dataclass
class SafetyBenchConfig:
    tried: int = 100_000  # fuzzed inputs per rig
    rigs: tuple[str, ...] = ()  # calibration rigs; () = the real and the twin rig of every registered arm
    seed: int = 0

    def validate(self) -> "SafetyBenchConfig":
        if not (isinstance(self.tried, int) and self.tried >= len(CASES)):
            raise ValueError(f"tried must be an integer >= {len(CASES)} (one input per case), got {self.tried!r}")
        return self


def default_rigs() -> tuple[str, ...]:
    from postbc_ros.robots import get_robot, robot_names

    rigs: list[str] = []
    for name in robot_names():
        e = get_robot(name)
        rigs += [r for r in (e.rig, e.twin_rig) if r not in rigs]
    return tuple(rigs)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------

class _Fuzz:
    """Draws (cmd, state, dt, case) for one rig."""

    def __init__(self, limits: SafetyLimits, rng: np.random.Generator):
        from postbc_ros.robots import get_robot_spec

        self.lim, self.rng = limits, rng
        self.spec = get_robot_spec(limits.robot)
        self.n, self.m = limits.n_joints, limits.command_length
        self.span = limits.upper - limits.lower

    def _q_inside(self) -> np.ndarray:
        r = self.rng
        if r.random() < 0.5:
            return np.clip(self.spec.home + r.uniform(-0.6, 0.6, self.n), self.lim.lower, self.lim.upper)
        return self.lim.lower + r.random(self.n) * self.span

    def _state(self, q: np.ndarray, dt: float) -> SafetyState:
        r = self.rng
        step = self.lim.step_bound(dt)
        last = None
        if r.random() < 0.5:
            last = np.append(q + r.uniform(-1, 1, self.n) * step, r.random())
        vel = r.uniform(-1, 1, self.n) * step / dt if r.random() < 0.6 else None
        if r.random() < 0.5:
            return SafetyState(q=q, dq=vel, last_command=last)
        return SafetyState(q=q, last_command=last, last_velocity=vel)

    def _cmd(self, q: np.ndarray, grip: float | None = None) -> np.ndarray:
        g = self.rng.uniform(-0.2, 1.2) if grip is None else grip
        return np.append(q, g) if self.m > self.n else np.asarray(q, float)

    def draw(self, case: str):
        r, lim, n = self.rng, self.lim, self.n
        dt = float(r.choice(PERIODS))
        q = self._q_inside()
        state = self._state(q, dt)
        ref = state.last_command[:n] if state.last_command is not None else q
        step = lim.step_bound(dt)
        if case == "nominal":
            cmd = self._cmd(ref + r.uniform(-0.8, 0.8, n) * step, r.random())
        elif case == "random":
            cmd = self._cmd(lim.lower - 1.0 + r.random(n) * (self.span + 2.0))
        elif case == "limit_edge":
            edge = np.where(r.random(n) < 0.5, lim.lower, lim.upper)
            edge = np.where(r.random(n) < 0.5, edge, np.nextafter(edge, np.where(edge == lim.lower, -np.inf, np.inf)))
            state = self._state(np.where(r.random(n) < 0.3, edge, q), dt)
            cmd = self._cmd(edge, float(r.choice([0.0, 1.0, np.nextafter(1.0, 2.0), -1e-300])))
        elif case == "huge_step":
            mag = 10.0 ** r.uniform(1, 308, n)
            cmd = self._cmd(ref + np.sign(r.uniform(-1, 1, n)) * mag, float(r.choice([1e300, -1e300, 0.5])))
        elif case == "workspace_out":
            cmd = self._workspace_out(dt, state)
            if cmd is None:
                cmd = self._cmd(ref + r.uniform(-1, 1, n) * 4 * step)
            else:
                cmd, state = cmd
        elif case == "outside_limits":
            out = np.where(r.random(n) < 0.5, lim.lower - r.uniform(0, 1.0, n), lim.upper + r.uniform(0, 1.0, n))
            q_bad = np.where(r.random(n) < 0.5, out, q)
            state = self._state(q_bad, dt)
            if r.random() < 0.3:
                state = SafetyState(q=q_bad, last_command=np.append(q_bad + 1e3 * r.uniform(-1, 1, n), 0.5),
                                    last_velocity=r.uniform(-1e3, 1e3, n))
            cmd = self._cmd(np.clip(q_bad + r.uniform(-2, 2, n), lim.lower - 0.5, lim.upper + 0.5))
        elif case == "outside_box":
            q_out = self._q_outside_box()
            state = self._state(q_out, dt) if r.random() < 0.5 else SafetyState(q=q_out)
            ref = state.last_command[:n] if state.last_command is not None else q_out
            toward = self.spec.home - ref
            cmd = self._cmd(ref + r.uniform(-0.5, 1.0) * toward / max(1e-9, np.abs(toward).max()) * step
                            + r.uniform(-0.3, 0.3, n) * step)
        elif case == "non_finite":
            cmd = self._cmd(ref + r.uniform(-1, 1, n) * step, r.random())
            cmd[r.integers(0, self.m, r.integers(1, 3))] = r.choice([np.nan, np.inf, -np.inf])
        elif case == "bad_state":
            cmd = self._cmd(ref + r.uniform(-1, 1, n) * step, r.random())
            bad = r.choice(["nan_q", "short_q", "nan_last", "inf_vel", "none", "str_q", "tensor_grad_q"])
            state = {
                "nan_q": lambda: SafetyState(q=np.where(r.random(n) < 0.5, np.nan, q)),
                "short_q": lambda: SafetyState(q=q[: r.integers(0, n)]),
                "nan_last": lambda: SafetyState(q=q, last_command=np.full(self.m, np.nan)),
                "inf_vel": lambda: SafetyState(q=q, last_velocity=np.full(n, np.inf)),
                "none": lambda: None,
                "str_q": lambda: SafetyState(q="home"),
                "tensor_grad_q": lambda: SafetyState(q=_tensor(q, grad=True)),
            }[str(bad)]()
        elif case == "wrong_shape":
            k = int(r.integers(0, 4))
            cmd = [r.uniform(-1, 1, int(r.integers(0, 2 * self.m + 2))), self._cmd(q)[None, :],
                   np.float64(r.random()), np.zeros((self.m, 2))][k]
        else:  # odd_type
            k = int(r.integers(0, 10))
            good = self._cmd(ref + r.uniform(-1, 1, n) * step, r.random())
            cmd = [lambda: "0.1 0.2", lambda: None, lambda: {"q": good.tolist()},
                   lambda: np.array(list(good[:-1]) + [None], dtype=object), lambda: good.astype(bool),
                   lambda: _tensor(good, grad=True), lambda: _tensor(good, grad=False),
                   lambda: good.astype(np.float32), lambda: np.round(good).astype(np.int64), lambda: good.tolist()][k]()
        return cmd, state, dt

    def _workspace_out(self, dt: float, state: SafetyState):
        """A step from inside the box that leaves it (the workspace-scaling path)."""
        lim, r, n = self.lim, self.rng, self.n
        if lim.workspace is None:
            return None
        step = lim.step_bound(dt)
        for _ in range(50):
            q0 = np.clip(self.spec.home + r.uniform(-1, 1, n), lim.lower, lim.upper)
            if not lim.workspace.contains(self.spec.fk(q0)[0]):
                continue
            c = q0 + r.uniform(-1, 1, n) * step * r.uniform(1.0, 3.0)
            if not lim.workspace.contains(self.spec.fk(np.clip(c, lim.lower, lim.upper))[0]):
                st = SafetyState(q=q0) if r.random() < 0.5 else SafetyState(q=q0, last_velocity=(c - q0) / dt * r.random())
                return self._cmd(c), st
        return None

    def _q_outside_box(self) -> np.ndarray:
        lim = self.lim
        for _ in range(50):
            q = self._q_inside()
            if lim.workspace is None or not lim.workspace.contains(self.spec.fk(q)[0]):
                return q
        return q


def _tensor(x: np.ndarray, grad: bool):
    import torch

    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


# --------------------------------------------------------------------------------------------
# the independent check
# --------------------------------------------------------------------------------------------

def _vec(x) -> np.ndarray | None:
    try:
        a = np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    except Exception:
        return None
    return a if a.ndim == 1 else None


def check_result(res, cmd, state, limits: SafetyLimits, dt: float, fk=None) -> list[str]:
    """Every documented guarantee of `filter_command` for one call, re-derived from the limits.

    Returns the broken guarantees (empty: fine). `fk` is the robot's own forward kinematics
    (default `limits.fk`), evaluated per command -- nothing of the filter's code is reused.
    """
    fk = fk or limits.fk
    if res.held:
        if res.command is not None:
            return ["held but a command was returned"]
        return [] if res.interventions else ["held without a reason"]
    n, c = limits.n_joints, res.command
    if not isinstance(c, np.ndarray) or c.shape != (limits.command_length,) or c.dtype != np.float64:
        return [f"command is not a float64 vector of {limits.command_length}: {type(c).__name__} {getattr(c, 'shape', None)}"]
    if not np.all(np.isfinite(c)):
        return ["non-finite command"]
    bad: list[str] = []
    raw = _vec(cmd)
    if raw is None or raw.shape != (limits.command_length,) or not np.all(np.isfinite(raw)):
        bad.append("an unusable command was not held")
    if limits.gripper_range is not None and not (limits.gripper_range[0] - CHECK_TOL <= c[n] <= limits.gripper_range[1] + CHECK_TOL):
        bad.append(f"gripper {c[n]} outside {limits.gripper_range}")
    q_meas = _vec(getattr(state, "q", None))
    if q_meas is None or q_meas.shape != (n,) or not np.all(np.isfinite(q_meas)):
        return bad + ["an unusable measured state was not held"]
    last = getattr(state, "last_command", None)
    ref = q_meas if last is None else _vec(last)[:n]
    v_prev = state.last_velocity if state.last_velocity is not None else state.dq
    v_prev = None if v_prev is None else _vec(v_prev)
    q = c[:n]
    step = np.minimum(limits.max_step, limits.max_velocity * dt)
    if np.any(np.abs(q - ref) > step * (1 + 1e-9) + CHECK_TOL):
        bad.append(f"step {np.abs(q - ref).max():.4g} rad beyond the bound {step.min():.4g}")
    d_lo, d_hi = -step, step
    if v_prev is not None:
        lo = np.minimum(0.0, v_prev - limits.max_acceleration * dt)
        hi = np.maximum(0.0, v_prev + limits.max_acceleration * dt)
        v = (q - ref) / dt
        if np.any(v < lo - CHECK_VEL_REL * (1 + np.abs(lo))) or np.any(v > hi + CHECK_VEL_REL * (1 + np.abs(hi))):
            bad.append("acceleration bound broken (other than braking)")
        d_lo, d_hi = np.maximum(-step, lo * dt), np.minimum(step, hi * dt)
    target = np.clip(ref, limits.lower, limits.upper)
    reachable = (target >= ref + d_lo - 1e-12) & (target <= ref + d_hi + 1e-12)
    inside = (q >= limits.lower - CHECK_TOL) & (q <= limits.upper + CHECK_TOL)
    if not np.all(inside[reachable]):
        bad.append("joint limits broken")
    # a joint that cannot reach its limits this period must not move away from them
    if np.any(np.abs(q - target)[~reachable] > np.abs(ref - target)[~reachable] + CHECK_TOL):
        bad.append("a joint outside its limits moved away from them")
    ws = limits.workspace
    if ws is not None:
        p = np.asarray(fk(q)[0], dtype=float)
        p_base = np.asarray(fk(np.clip(target, ref + d_lo, ref + d_hi))[0], dtype=float)
        if _box_distance(p_base, ws) <= CHECK_TOL:
            if _box_distance(p, ws) > CHECK_TOL:
                bad.append(f"tool point {np.round(p, 4).tolist()} left the workspace box")
        elif not _box_distance(p, ws) < _box_distance(p_base, ws):
            bad.append("outside the box, a command that does not approach it was sent")
    return bad


def _box_distance(p: np.ndarray, ws) -> float:
    return float(np.linalg.norm(np.maximum(ws.lower - p, 0.0) + np.maximum(p - ws.upper, 0.0)))


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------

def _stats(us: list[float], base_us: list[float] | None = None) -> dict:
    if not us:
        return {"count": 0}
    a = np.asarray(us)
    out = {"count": int(a.size), "us_p50": round(float(np.percentile(a, 50)), 2), "us_p99": round(float(np.percentile(a, 99)), 2),
           "us_max": round(float(a.max()), 1), "p99_ok": bool(np.percentile(a, 99) <= TARGET_P99_US)}
    if base_us:
        b = np.asarray(base_us)
        out["baseline_us_p50"] = round(float(np.percentile(b, 50)), 3)
        out["ratio_p50_vs_baseline"] = round(out["us_p50"] / max(float(np.percentile(b, 50)), 1e-3), 1)
    return out


def _paths(res) -> tuple[str, ...]:
    """The timing groups of one call: its path, and `workspace_scaled` for a step the box scaled back."""
    ws = [iv for iv in res.interventions if iv.kind == "workspace"]
    if ws:
        return ("workspace", "workspace_scaled") if "scaled back" in ws[-1].message else ("workspace",)
    return ("rejected",) if res.held else ("normal",)


def bench_rig(rig: str, tried: int, seed: int = 0, inject=None) -> dict:
    """Fuzz one rig. `inject(results)` may tamper with the results before the check (tests)."""
    limits = load_safety_limits(rig)
    rng = np.random.default_rng([seed, sum(map(ord, rig))])
    fuzz = _Fuzz(limits, rng)
    inputs = [(fuzz.draw(CASES[i % len(CASES)]), CASES[i % len(CASES)]) for i in range(tried)]
    lo, hi, n = limits.lower, limits.upper, limits.n_joints
    times: list[int] = [0] * tried
    base: list[int | None] = [None] * tried
    results: list = [None] * tried
    escaped: dict[str, int] = {}
    clock = time.perf_counter_ns
    for i in range(min(500, tried)):  # warm-up
        (cmd, state, dt), _ = inputs[i]
        try:
            filter_command(cmd, state, limits, dt)
        except Exception:  # counted in the timed pass below
            pass
    for i, ((cmd, state, dt), _case) in enumerate(inputs):
        t0 = clock()
        try:
            res = filter_command(cmd, state, limits, dt)
        except Exception as e:  # what the bench exists to find
            t1 = clock()
            key = f"{type(e).__name__}: {e}"[:200]
            escaped[key] = escaped.get(key, 0) + 1
            res = None
        else:
            t1 = clock()
        times[i], results[i] = t1 - t0, res
        if type(cmd) is np.ndarray and cmd.dtype == np.float64 and cmd.shape == (limits.command_length,):
            t0 = clock()
            np.clip(cmd[:n], lo, hi)  # the baseline: a bare joint-limit clip of the same command
            base[i] = clock() - t0
    if inject is not None:
        inject(results)
    from postbc_ros.robots import get_robot_spec

    fk = get_robot_spec(limits.robot).fk
    violations: dict[str, int] = {}
    examples: list[dict] = []
    by_path: dict[str, list[float]] = {p: [] for p in PATHS}
    base_by_path: dict[str, list[float]] = {p: [] for p in PATHS}
    internal = 0
    by_case: dict[str, dict] = {c: {"tried": 0, "held": 0, "violations": 0} for c in CASES}
    for i, ((cmd, state, dt), case) in enumerate(inputs):
        res = results[i]
        by_case[case]["tried"] += 1
        if res is None:
            continue
        by_case[case]["held"] += bool(res.held)
        internal += "filter_error" in res.kinds
        for path in _paths(res):
            by_path[path].append(times[i] / 1e3)
            if base[i] is not None:
                base_by_path[path].append(base[i] / 1e3)
        problems = check_result(res, cmd, state, limits, dt, fk=fk)
        for p in problems:
            violations[p] = violations.get(p, 0) + 1
        if problems:
            by_case[case]["violations"] += 1
            if len(examples) < 5:
                examples.append({"case": case, "problems": problems, "dt": dt, "cmd": _describe(cmd), "state": _describe(state)})
    all_us = [t / 1e3 for t in times]
    all_base = [b / 1e3 for b in base if b is not None]
    total = _stats(all_us, all_base)
    return {
        "robot": limits.robot, "rig": rig, "tried": tried,
        "violations": int(sum(c["violations"] for c in by_case.values())),
        "escaped": int(sum(escaped.values())), "internal_errors": int(internal),
        "us_p50": total["us_p50"], "us_p99": total["us_p99"],
        "baseline_us_p50": total.get("baseline_us_p50"), "ratio_p50_vs_baseline": total.get("ratio_p50_vs_baseline"),
        "paths": {k: _stats(v, base_by_path[k]) for k, v in by_path.items()},
        "cases": by_case, "violation_kinds": violations, "escaped_kinds": escaped, "violation_examples": examples,
    }


def _describe(x) -> str:
    try:
        return repr(x)[:300]
    except Exception:
        return f"<{type(x).__name__}>"


def run_safety_benchmark(cfg: SafetyBenchConfig, log=print) -> dict:
    cfg.validate()
    rigs = cfg.rigs or default_rigs()
    load0 = os.getloadavg()
    rows = []
    for rig in rigs:
        t = time.perf_counter()
        row = bench_rig(rig, cfg.tried, cfg.seed)
        log(f"{rig}: {row['tried']} tried, {row['violations']} violations, {row['escaped']} escaped, "
            f"p50 {row['us_p50']} µs p99 {row['us_p99']} µs ({time.perf_counter() - t:.0f} s)")
        rows.append(row)
    return {
        "bench": "safety", "config": asdict(cfg) | {"rigs": list(rigs)}, "target_p99_us": TARGET_P99_US,
        "rows": rows,
        "ok": all(r["violations"] == 0 and r["escaped"] == 0 and r["internal_errors"] == 0 for r in rows),
        "p99_ok": all(p.get("p99_ok", True) for r in rows for k, p in r["paths"].items() if k != "rejected"),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "loadavg_start": [round(x, 2) for x in load0],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
    }


def summary_rows(result: dict) -> list[dict]:
    """The per-rig line `postbc bench safety` prints."""
    keys = ("robot", "rig", "tried", "violations", "escaped", "internal_errors", "us_p50", "us_p99")
    out = []
    for r in result["rows"]:
        row = {k: r[k] for k in keys}
        for path in ("normal", "workspace", "workspace_scaled"):
            p = r["paths"][path]
            row[f"{path}_us_p50"], row[f"{path}_us_p99"] = p.get("us_p50"), p.get("us_p99")
        row["ratio_p50_vs_clip"] = r["ratio_p50_vs_baseline"]
        out.append(row)
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


__all__ = ["CASES", "SafetyBenchConfig", "TARGET_P99_US", "bench_rig", "check_result", "default_rigs",
           "run_safety_benchmark", "summary_rows"]
