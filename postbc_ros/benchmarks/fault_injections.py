"""What the fault suite does to a running graph (one function per fault; `postbc_ros.benchmarks.faults`).

Each injection gets the `GraphRun` and returns the monotonic time at which the fault happened.
Messages are built from what the graph itself sent (a real transition, real weights), changed in
the one way the fault names, and published from a foreign node on the graph's own topics.
"""
from __future__ import annotations

import math
import signal
import tempfile
import time
from pathlib import Path

import numpy as np

from postbc_ros.benchmarks.fault_graph import GraphRun

INTRUDER_OFFSET = 0.9  # rad added to the first joint by the foreign trajectory on the hardware topic
INTRUDER_S = 2.0  # s the foreign node keeps publishing it
TELEOP_NAN_S = 1.0  # s of NaN teleop actions during a takeover
CAPTURE_TIMEOUT_S = 180.0  # s to wait for a real message of the kind a fault corrupts


def kill_node(name: str, sig: int = signal.SIGKILL):
    def inject(g: GraphRun) -> float:
        g.kill(f"/{g.ns}/{name}" if name not in ("learner", "replay_buffer") else f"/{name}", sig)
        return time.monotonic()
    return inject


def signal_launcher(sig: int):
    def inject(g: GraphRun) -> float:
        import os

        os.kill(g.proc.pid, sig)
        return time.monotonic()
    return inject


def arm_stop(g: GraphRun) -> float:
    from std_srvs.srv import Trigger

    g.probe.client(Trigger, f"/{g.ns}/arm/stop")
    t0 = time.monotonic()
    res = g.probe.call(Trigger, f"/{g.ns}/arm/stop")
    if not res.success:
        raise RuntimeError(f"arm/stop answered {res.message!r}")
    return t0


def publish_label(g: GraphRun) -> float:
    from std_msgs.msg import String

    from postbc_ros.ros import qos

    pub = g.probe.publisher(String, f"/{g.ns}/episode/label", qos.STATE)
    wait_matched(pub)
    pub.publish(String(data="success, not JSON {"))
    return time.monotonic()


def _capture(g: GraphRun, msg_type, topic: str, qos_profile):
    box = g.probe.subscribe(msg_type, topic, qos_profile)
    return g.probe.wait_for(lambda: box[-1] if box else None, CAPTURE_TIMEOUT_S, f"a message on {topic}")


def wait_matched(pub, timeout: float = 5.0) -> None:
    """Until `pub` has a subscriber (or `timeout`), then a moment for its reader."""
    t_end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 and time.monotonic() < t_end:
        time.sleep(0.05)
    time.sleep(0.3)  # the subscriber's reader needs a moment after matching


def bad_transition(change: str):
    """A transition the policy sent, re-sent with `reward` removed ("no_reward") or its
    observation set to NaN ("nan")."""
    def inject(g: GraphRun) -> float:
        from std_msgs.msg import UInt8MultiArray

        from postbc_ros.core import wire
        from postbc_ros.ros import conversions as conv, qos

        msg = _capture(g, UInt8MultiArray, "/replay/transitions", qos.STREAM)
        header, arrays = wire.unpack_transition(conv.msg_bytes(msg))
        if change == "no_reward":
            header.pop("reward", None)
        else:
            arrays = {k: (np.full_like(v, np.nan) if k.startswith("obs") and v.dtype.kind == "f" else v)
                      for k, v in arrays.items()}
        pub = g.probe.publisher(UInt8MultiArray, "/replay/transitions", qos.STREAM)
        wait_matched(pub)
        out = UInt8MultiArray()
        out.data = wire.pack_transition(header, arrays)
        pub.publish(out)
        return time.monotonic()
    return inject


def nan_weights(g: GraphRun) -> float:
    """The learner's latest weights with every floating tensor NaN, published as version 999."""
    from safetensors.numpy import load_file, save_file
    from std_msgs.msg import UInt8MultiArray

    from postbc_ros.core import wire
    from postbc_ros.ros import conversions as conv, qos

    msg = _capture(g, UInt8MultiArray, "/learner/weights", qos.LATCHED)
    with tempfile.TemporaryDirectory() as tmp:
        header = wire.unpack_bundle(conv.msg_bytes(msg), tmp)
        for f in Path(tmp).rglob("*.safetensors"):
            t = load_file(str(f))
            save_file({k: (np.full_like(v, np.nan) if v.dtype.kind == "f" else v) for k, v in t.items()}, str(f))
        header = {k: v for k, v in header.items() if k != "files"}
        header["version"] = 999
        data = wire.pack_bundle(tmp, header)
    pub = g.probe.publisher(UInt8MultiArray, "/learner/weights", qos.LATCHED)
    wait_matched(pub)
    out = UInt8MultiArray()
    out.data = data
    pub.publish(out)
    return time.monotonic()


def nan_teleop(g: GraphRun) -> float:
    """A takeover whose actions are NaN."""
    from std_msgs.msg import Bool, Float32MultiArray

    from postbc_ros.ros import qos

    take = g.probe.publisher(Bool, f"/{g.ns}/teleop/intervention", qos.STATE)
    act = g.probe.publisher(Float32MultiArray, f"/{g.ns}/teleop/action", qos.STATE)
    wait_matched(act)
    t0 = time.monotonic()
    take.publish(Bool(data=True))
    while time.monotonic() < t0 + TELEOP_NAN_S:
        act.publish(Float32MultiArray(data=[math.nan, 0.0, math.inf, -1.0]))
        time.sleep(0.1)
    take.publish(Bool(data=False))
    return t0


def freeze_twin(g: GraphRun) -> float:
    """The simulated controller hangs (SIGSTOP): no new measured state, no clock."""
    g.kill(f"/{g.ns}/sim", signal.SIGSTOP)
    return time.monotonic()


def hw_intruder(g: GraphRun) -> float:
    """After an operator stop, a foreign node publishes a far target on the hardware topic."""
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from postbc_ros.ros import qos

    arm_stop(g)
    g.probe.wait_for(lambda: g.held_within(time.monotonic() - 3.0, time.monotonic()) is not None, 20,
                     "the arm to hold after arm/stop")
    _t, q = g.samples[-1]
    pub = g.probe.publisher(JointTrajectory, f"/{g.ns}/hw/joint_trajectory_controller/joint_trajectory", qos.COMMAND)
    wait_matched(pub)
    target = q.copy()
    target[0] += INTRUDER_OFFSET
    t0 = time.monotonic()
    while time.monotonic() < t0 + INTRUDER_S:
        msg = JointTrajectory(joint_names=list(g.joint_names))
        msg.points = [JointTrajectoryPoint(positions=target.tolist(), time_from_start=Duration(sec=0, nanosec=200_000_000))]
        pub.publish(msg)
        time.sleep(0.1)
    return t0
