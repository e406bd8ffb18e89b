"""Benchmark: 640x480 rgb8 images between two processes over Fast DDS (loopback only).

Compares the graph's image setup (reliable QoS + FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA, what the
launch sets) against the baseline (best-effort QoS, default transports) measured in the same run:
frames received / sent and latency (receive time - capture stamp). Prints one JSON object.

    python bench/bench_dds.py [--frames 150] [--rate 30] [--size 640x480]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

PUBLISHER = r"""
import sys, time, numpy as np, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from sensor_msgs.msg import Image
from postbc_ros.ros.conversions import image_to_msg
n, rate, w, h, rel = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "reliable"
rclpy.init(); node = rclpy.create_node("bench_pub")
qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2,
                 reliability=ReliabilityPolicy.RELIABLE if rel else ReliabilityPolicy.BEST_EFFORT)
pub = node.create_publisher(Image, "bench/image", qos)
img = (np.random.default_rng(0).integers(0, 255, (h, w, 3))).astype(np.uint8)
t_end = time.time() + 20
while pub.get_subscription_count() == 0 and time.time() < t_end:
    time.sleep(0.05)
time.sleep(1.0)
for i in range(n):
    t = time.time()
    pub.publish(image_to_msg(img, t, str(i)))
    time.sleep(max(0.0, 1.0 / rate - (time.time() - t)))
time.sleep(1.0)
rclpy.shutdown()
"""


def run_case(reliable: bool, large_data: bool, frames: int, rate: float, w: int, h: int, domain: int) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from postbc_ros.ros.conversions import from_time

    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bench_sub", context=ctx)
    lat: list[float] = []
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2,
                     reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Image, "bench/image", lambda m: lat.append(time.time() - from_time(m.header.stamp)), qos)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(frames), str(rate), str(w), str(h),
                            "reliable" if reliable else "best_effort"], env=env)
    t_end = time.time() + frames / rate + 30
    while pub.poll() is None and time.time() < t_end:
        ex.spin_once(timeout_sec=0.01)
    for _ in range(50):
        ex.spin_once(timeout_sec=0.01)
    pub.kill()
    ex.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    return {"reliable": reliable, "large_data": large_data, "sent": frames, "received": len(lat),
            "delivery": round(len(lat) / frames, 3),
            "latency_ms_median": round(statistics.median(lat) * 1e3, 2) if lat else None,
            "latency_ms_p95": round(sorted(lat)[int(0.95 * (len(lat) - 1))] * 1e3, 2) if lat else None}


def case_in_fresh_process(reliable: bool, large_data: bool, frames: int, rate: float, w: int, h: int,
                          domain: int) -> dict:
    """Fast DDS reads its transport settings once per process: each case gets its own subscriber process."""
    env = dict(os.environ)
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    if large_data:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    out = subprocess.run([sys.executable, __file__, "--case", f"{int(reliable)},{int(large_data)},{domain}",
                          "--frames", str(frames), "--rate", str(rate), "--size", f"{w}x{h}"],
                         env=env, capture_output=True, text=True, timeout=frames / rate + 90)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    if a.case:
        rel, large, dom = (int(x) for x in a.case.split(","))
        print(json.dumps(run_case(bool(rel), bool(large), a.frames, a.rate, w, h, dom)))
        return 0
    base_dom = random.randint(150, 199)
    baseline = case_in_fresh_process(False, False, a.frames, a.rate, w, h, base_dom)
    graph = case_in_fresh_process(True, True, a.frames, a.rate, w, h, base_dom + 1)
    reliable_default = case_in_fresh_process(True, False, a.frames, a.rate, w, h, base_dom + 2)
    out = {
        "benchmark": "dds_images", "size": a.size, "rate_hz": a.rate,
        "baseline_best_effort_default": baseline, "graph_reliable_large_data": graph,
        "reliable_default_transports": reliable_default,
        "delivery_ratio_vs_baseline": round(graph["delivery"] / baseline["delivery"], 3) if baseline["delivery"] else None,
        "latency_ratio_vs_baseline": (round(graph["latency_ms_median"] / baseline["latency_ms_median"], 3)
                                      if baseline["latency_ms_median"] and graph["latency_ms_median"] else None),
        "latency_ratio_vs_reliable_default": (
            round(graph["latency_ms_median"] / reliable_default["latency_ms_median"], 3)
            if reliable_default["latency_ms_median"] and graph["latency_ms_median"] else None),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
