"""observation_node over DDS: the twin's joints and rendered scene frames in (as a real cell's
arm_node and camera_node publish them), `observation/state` out with the twin's markers layout;
when the camera stops, nothing more is published and /diagnostics names the camera."""
from __future__ import annotations

import threading
import time

import numpy as np

from postbc_ros.robots import get_robot
from postbc_ros.ros.probe import Probe, unique_domain
from postbc_ros.sim.envs import MARKER_CAMERA, TwinTaskEnv


def test_observation_node_publishes_the_cell_observation_and_stops_when_the_camera_does():
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image, JointState

    from postbc_ros.nodes.observation_node import ObservationNode
    from postbc_ros.ros import conversions as conv, qos

    env = TwinTaskEnv("widowx", "pick_place", obs_mode="markers")
    obs, _ = env.reset(seed=2)
    dom = unique_domain()
    ctx = Context()
    rclpy.init(context=ctx, domain_id=dom)
    node = ObservationNode(context=ctx, parameter_overrides=[
        Parameter("robot", value="widowx"), Parameter("task", value="pick_place"),
        Parameter("rig", value=get_robot("widowx").twin_rig)])
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    probe = Probe(dom)
    try:
        out = probe.subscribe(JointState, "/observation/state", qos.STATE)
        diag = probe.subscribe(DiagnosticArray, "/diagnostics", 10)
        js = probe.publisher(JointState, "/joint_states", qos.STATE)
        img = probe.publisher(Image, f"/camera/{MARKER_CAMERA}/image_raw", qos.IMAGE)
        g = node.cell.perception.geometry
        frame = env.twin.render(MARKER_CAMERA, (g.height, g.width))
        names = list(node.joints) + ["gripper"]
        q = np.append(env.twin.joint_positions(), env.twin.gripper_position())
        probe.wait_for(lambda: img.get_subscription_count() and js.get_subscription_count(), 20, "the node's subscriptions")
        for _ in range(60):
            t = time.time()
            js.publish(conv.joint_state_msg(names, q, t))
            img.publish(conv.image_to_msg(frame, t, "scene_camera"))
            time.sleep(0.05)
            if out:
                break
        probe.wait_for(lambda: out, 10, "observation/state")
        np.testing.assert_allclose(conv.vector_from_msg(out[-1]), obs["state"], atol=1e-4)
        assert list(out[-1].name) == node.cell.state_names
        # the camera stops; joint states go on: no observation is published any more, and why is counted
        time.sleep(0.3)
        n = len(out)
        for _ in range(20):
            js.publish(conv.joint_state_msg(names, q, time.time()))
            time.sleep(0.05)
        assert len(out) == n
        probe.wait_for(lambda: any("camera scene" in kv.key for m in diag for s in m.status for kv in s.values), 10,
                       "/diagnostics to count the stopped camera")
    finally:
        probe.close()
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        env.close()
