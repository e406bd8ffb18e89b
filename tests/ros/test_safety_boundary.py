"""Malformed or unsafe commands never reach the arm backend.

The sim graph runs sim_node (the "hardware": a joint_trajectory_controller stand-in) and arm_node
with the ros2_control backend as separate processes. The test publishes NaN, Inf, wrong-length,
wrong-joint and out-of-limit trajectories on arm/command and records every message that reaches
the backend's command topic: each is finite, has exactly the arm joints + gripper, lies inside the
joint limits and gripper range and moves no joint more than the safety step bound -- and the arm
reports every intervention on arm/safety.
"""
from __future__ import annotations

import time

import numpy as np

from .harness import Probe, launched, unique_domain


def test_bad_commands_never_reach_the_backend(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.ros import conversions as conv
    from postbc_ros.ros import qos

    limits = load_safety_limits("widowx_twin")
    names = list(limits.joint_names) + ["gripper"]
    dom = unique_domain()
    with launched("sim", {"domain_id": str(dom), "camera_rate": "0"}, tmp_path):
        probe = Probe(dom, use_sim_time=True, clock_topic="/robot1/clock")
        try:
            js = probe.subscribe(JointState, "/robot1/joint_states", qos.STATE)
            hw = probe.subscribe(JointTrajectory, "/robot1/hw/joint_trajectory_controller/joint_trajectory",
                                 qos.COMMAND)
            diag = probe.subscribe(DiagnosticArray, "/robot1/arm/safety", qos.STATE)
            pub = probe.publisher(JointTrajectory, "/robot1/arm/command", qos.COMMAND)
            probe.wait_for(lambda: len(js) > 3 and pub.get_subscription_count() > 0, 40, "the arm")
            q0 = conv.joint_positions(js[-1], names)

            def now():
                return probe.node.get_clock().now().nanoseconds * 1e-9

            def send(rows, joint_names=names):
                t = now()
                pub.publish(conv.trajectory_msg(joint_names, np.atleast_2d(rows), t, 0.1))

            def kinds():
                return {kv.value for a in diag for s in a.status for kv in s.values if kv.key == "kind"}

            bad = []
            nan = q0.copy(); nan[2] = np.nan; bad.append(("non_finite", lambda: send([q0, nan])))
            inf = q0.copy(); inf[0] = np.inf; bad.append(("non_finite", lambda: send(inf)))
            neg = q0.copy(); neg[6] = -np.inf; bad.append(("non_finite", lambda: send(neg)))

            def short_point():  # a point with 3 of 7 positions
                m = conv.trajectory_msg(names, q0[None], now(), 0.1)
                m.points.append(JointTrajectoryPoint(positions=[0.1, 0.2, 0.3],
                                                     time_from_start=conv.to_duration(0.2)))
                pub.publish(m)
            bad.append(("invalid_shape", short_point))
            bad.append(("invalid_shape", lambda: send(q0[:4], names[:4])))  # missing joints
            bad.append(("invalid_shape", lambda: send(np.append(q0, 0.0), names + ["elbow2"])))  # unknown joint
            for kind, fn in bad:
                n = len(diag)
                fn()
                probe.wait_for(lambda: any(kv.value == kind for a in diag[n:] for s in a.status
                                           for kv in s.values if kv.key == "kind"), 10, f"a {kind} report")
            n_hw_bad = len([m for m in hw if m.points])
            assert n_hw_bad == 0, "a rejected command produced a setpoint"

            # out of limits and far away: clipped into the limits and rate limited, never passed through
            far = q0.copy(); far[0] = limits.upper[0] + 5.0; far[1] = limits.lower[1] - 5.0; far[6] = 7.0
            # keep commanding until setpoints flow: under load this probe's sim clock can lag the
            # arm's by more than the watchdog timeout, and commands stamped with it arrive stale
            t_end, sent = time.monotonic() + 30.0, 0
            while sent < 15 or (len([m for m in hw if m.points]) <= 5 and time.monotonic() < t_end):
                send(np.linspace(q0, far, 5)[1:])
                sent += 1
                time.sleep(0.1)
            probe.wait_for(lambda: {"joint_limit", "gripper_limit"} <= kinds(), 10, "limit reports")
            probe.wait_for(lambda: len([m for m in hw if m.points]) > 5, 10, "filtered setpoints")
        finally:
            probe.close()

    setpoints = [m for m in hw if m.points]
    bound = limits.step_bound(1.0 / 20.0)  # arm_node sends at 20 Hz on the twin
    prev = None
    for m in setpoints:
        assert list(m.joint_names) == names
        q = np.asarray(m.points[0].positions)
        assert q.shape == (7,) and np.all(np.isfinite(q))
        assert np.all(q[:6] >= limits.lower - 1e-9) and np.all(q[:6] <= limits.upper + 1e-9)
        assert 0.0 <= q[6] <= 1.0
        if prev is not None:
            assert np.all(np.abs(q[:6] - prev) <= bound + 1e-6), (q[:6] - prev, bound)
        prev = q[:6]
    print(f"\n{len(setpoints)} setpoints reached the backend, all inside the limits; interventions: {sorted(kinds())}")
