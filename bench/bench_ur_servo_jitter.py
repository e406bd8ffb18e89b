#!/usr/bin/env python3
"""Period jitter of the UR servo thread at 500 Hz vs a bare time.sleep loop (same rate, same run).

The ur_rtde backend's servo thread (`postbc_ros.drivers.arm.ur_servo.ServoLoop`) runs against the
signature-checked fake RTDE interfaces of tests/drivers/fake_rtde.py (pacing with
initPeriod/waitPeriod that sleep to the period, like the library) while the main thread sends
setpoints at arm_node's 20 Hz, as arm_node does. Each cycle's start time is logged; the period
jitter is |period - 2 ms|. The baseline is a thread that only sleeps to the same deadlines, with
the same 20 Hz main thread beside it: the ratio is what the servo cycle's work (reads, fault
checks, interpolation, servoJ, watchdog kick) and the GIL add to the OS's sleep jitter.
On the real library the pacing sleep and the RTDE calls release the GIL (pybind11 call guards),
so this is an upper bound for the Python side, not the network's.

    python bench/bench_ur_servo_jitter.py [--seconds 10] [--out bench/results/ur_servo_jitter.json]

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
sys.path.insert(0, str(ROOT / "tests" / "drivers"))  # the fake RTDE interfaces

STEP_S = 0.002  # e-Series robot step: 500 Hz
ARM_DT = 0.05  # arm_node's default control period (20 Hz setpoints)
HOST = "10.0.0.5"  # the fake controller's name (no network is used)


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


def bench_servo(seconds: float) -> dict:
    from fake_rtde import CONTROLLERS, FakeController, FakeRTDEControlInterface, FakeRTDEReceiveInterface

    from postbc_ros.drivers.arm import make_arm
    from postbc_ros.robots import get_robot_spec

    spec = get_robot_spec("ur5e")
    CONTROLLERS.clear()
    c = CONTROLLERS[HOST] = FakeController(spec.home, step_time=STEP_S)
    n = int(seconds / STEP_S) + 100
    arm = make_arm("ur_rtde", "ur5e", host=HOST, control_dt=ARM_DT, control_cls=FakeRTDEControlInterface,
                   receive_cls=FakeRTDEReceiveInterface, cycle_log=n)
    with arm:
        assert arm.servo_rate == 1.0 / STEP_S
        arm_setpoints(arm.send, seconds, spec.home)
        loop = arm._loop
        stamps = list(loop.cycle_log)
        out = jitter_stats(stamps[10:], STEP_S)  # skip the thread's start-up cycles
        out.update(servoj_sent=loop.servoj_sent, overruns=loop.overruns, fault=None if arm.fault is None else str(arm.fault),
                   watchdog_kicks=c.kicks)
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
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each of the two runs")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    base = bench_sleep(args.seconds)
    servo = bench_servo(args.seconds)

    def ratio(k):
        return round(servo[k] / base[k], 2) if base[k] > 0 else None

    res = {
        "bench": "ur_servo_jitter",
        "rate_hz": 1.0 / STEP_S,
        "arm_rate_hz": 1.0 / ARM_DT,
        "seconds": args.seconds,
        "rtde": "tests/drivers/fake_rtde.py (signature-checked fake; pacing sleeps like initPeriod/waitPeriod)",
        "servo_thread": servo,
        "baseline_sleep_loop": base,
        "ratio_jitter_p50": ratio("jitter_us_p50"),
        "ratio_jitter_p99": ratio("jitter_us_p99"),
        "ratio_jitter_max": ratio("jitter_us_max"),
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
