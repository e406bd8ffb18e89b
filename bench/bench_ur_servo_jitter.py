#!/usr/bin/env python3
"""Period jitter of the UR servo loop at 500 Hz: in its own process vs as a thread of arm_node's
interpreter, with and without a GIL-holding neighbour, vs a bare time.sleep loop (same run).

The servo loop (`postbc_ros.drivers.arm.ur_servo.ServoLoop`) drives the ur_rtde look-alike
interfaces (sim/wire/rtde_client.py) of a kinematic UR controller served on a Unix socket from a
process of its own (sim/wire/rtde_twin.RTDETwinServer), while this process -- arm_node's place --
sends setpoints at arm_node's 20 Hz. Two placements of the loop:
- `process`: what the driver does for the real library and the twin (ur_servo_proc.ServoProcess);
- `thread`: the loop as a thread of this interpreter (the driver's former design; still used for
  in-process test doubles), forced here by subclassing the look-alikes outside the process modules.
Each runs quiet and with a `gil_hog` thread beside arm_node's side that runs pure Python (as
arm_node's executor callbacks do). Each cycle's start time is logged; the period jitter is
|period - 2 ms|. The baseline is a thread that only sleeps to the same deadlines, beside the same
20 Hz sender.

    python bench/bench_ur_servo_jitter.py [--seconds 5] [--out bench/results/ur_servo_jitter.json]

Prints one JSON object (and writes it to --out when given).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, whatever is installed

STEP_S = 0.002  # e-Series robot step: 500 Hz
ARM_DT = 0.05  # arm_node's default control period (20 Hz setpoints)
HOG_BURST_S, HOG_REST_S = 0.005, 0.001  # the GIL neighbour: 5 ms of Python, 1 ms rest (~80 % of a CPU)


def jitter_stats(stamps, period: float) -> dict:
    import numpy as np

    periods = np.diff(np.asarray(stamps, dtype=float))
    jit = np.abs(periods - period) * 1e6
    return {
        "cycles": int(periods.size),
        "period_us_p50": round(float(np.percentile(periods, 50) * 1e6), 1),
        "period_us_p99": round(float(np.percentile(periods, 99) * 1e6), 1),
        "period_us_max": round(float(periods.max() * 1e6), 1),
        "jitter_us_p50": round(float(np.percentile(jit, 50)), 1),
        "jitter_us_p99": round(float(np.percentile(jit, 99)), 1),
        "jitter_us_max": round(float(jit.max()), 1),
        "late_cycles_over_1ms": int(np.sum(periods - period > 1e-3)),
    }


def arm_setpoints(send, seconds: float, home) -> None:
    """arm_node's side: a small sinusoid, one setpoint every ARM_DT."""
    import numpy as np

    t0 = time.monotonic()
    k = 0
    while (t := time.monotonic() - t0) < seconds:
        send(home + 0.02 * np.sin(2 * np.pi * 0.5 * t))
        k += 1
        time.sleep(max(0.0, t0 + k * ARM_DT - time.monotonic()))


def _serve_controller(path: str, q0, ready) -> None:
    """The controller box: a kinematic UR controller on `path` until terminated."""
    from postbc_ros.sim.wire.rtde_controller import URController
    from postbc_ros.sim.wire.rtde_twin import RTDETwinServer

    RTDETwinServer(URController(q0, step_time=STEP_S), path).start()
    ready.set()
    while True:
        time.sleep(1.0)


def gil_hog(stop: threading.Event) -> None:
    """Pure-Python work in this interpreter (arm_node's executor callbacks), paced with short rests."""
    while not stop.is_set():
        t_end = time.perf_counter() + HOG_BURST_S
        x = 0
        while time.perf_counter() < t_end:
            x += 1
        time.sleep(HOG_REST_S)


def bench_servo(seconds: float, host: str, placement: str, hog: bool) -> dict:
    from postbc_ros.drivers.arm import make_arm
    from postbc_ros.robots import get_robot_spec
    from postbc_ros.sim.wire.rtde_client import TwinRTDEControlInterface, TwinRTDEReceiveInterface

    spec = get_robot_spec("ur5e")
    n = int(seconds / STEP_S) + 100
    kw = {}
    if placement == "thread":  # classes outside ur_rtde.SERVO_PROCESS_MODULES: the loop stays a thread here
        kw = dict(control_cls=type("ThreadControl", (TwinRTDEControlInterface,), {}),
                  receive_cls=type("ThreadReceive", (TwinRTDEReceiveInterface,), {}))
    stop = threading.Event()
    hog_thread = threading.Thread(target=gil_hog, args=(stop,), daemon=True)
    arm = make_arm("ur_rtde", "ur5e", host=host, control_dt=ARM_DT, cycle_log=n, **kw)
    with arm:
        assert (arm._proc is not None) == (placement == "process")
        if hog:
            hog_thread.start()
        arm_setpoints(arm.send, seconds, spec.home)
        stop.set()
        loop = arm._loop
        stamps = list(loop.cycle_log)
        out = jitter_stats(stamps[10:], STEP_S)  # skip the loop's start-up cycles
        out.update(servoj_sent=loop.servoj_sent, overruns=loop.overruns, fault=None if arm.fault is None else str(arm.fault))
    return out


def bench_sleep(seconds: float) -> dict:
    stamps: list[float] = []
    stop = threading.Event()

    def run():
        while not stop.is_set():
            t_start = time.monotonic()
            stamps.append(time.perf_counter())
            remaining = t_start + STEP_S - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    arm_setpoints(lambda q: None, seconds, 0.0)
    stop.set()
    th.join()
    return jitter_stats(stamps[10:], STEP_S)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each of the five runs (s)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    import multiprocessing as mp
    import tempfile

    from postbc_ros.robots import get_robot_spec
    from postbc_ros.sim.wire.rtde_protocol import twin_host

    ctx = mp.get_context("spawn")
    path = os.path.join(tempfile.mkdtemp(prefix="postbc_bench_"), "rtde.sock")
    ready = ctx.Event()
    box = ctx.Process(target=_serve_controller, args=(path, get_robot_spec("ur5e").home, ready), daemon=True)
    box.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the controller box did not start")
        base = bench_sleep(args.seconds)
        runs = {f"{placement}{'_gil_hog' if hog else ''}": bench_servo(args.seconds, twin_host(path), placement, hog)
                for hog in (False, True) for placement in ("thread", "process")}
    finally:
        box.terminate()
        box.join()

    def ratio(run, k):
        return round(runs[run][k] / base[k], 2) if base[k] > 0 else None

    res = {
        "bench": "ur_servo_jitter",
        "rate_hz": 1.0 / STEP_S,
        "arm_rate_hz": 1.0 / ARM_DT,
        "seconds": args.seconds,
        "rtde": "sim/wire/rtde_client.py look-alikes over a Unix socket to a kinematic URController in its own process",
        "gil_hog": f"{HOG_BURST_S * 1e3:.0f} ms pure Python / {HOG_REST_S * 1e3:.0f} ms rest, in arm_node's interpreter",
        "servo": runs,
        "baseline_sleep_loop": base,
        "ratio_to_baseline_jitter_p99": {r: ratio(r, "jitter_us_p99") for r in runs},
        "ratio_to_baseline_jitter_max": {r: ratio(r, "jitter_us_max") for r in runs},
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_1min": round(os.getloadavg()[0], 2)},
    }
    text = json.dumps(res, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
