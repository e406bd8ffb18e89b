"""arm_node: the safety-filtered arm controller (a ROS 2 lifecycle node).

configure = connect the backend (ur_rtde | widowx | mujoco | ros2_control | fake),
activate = allow motion, deactivate = hold, cleanup = disconnect. With `autostart` it walks
itself to active once spinning (the twin); on a real arm leave it off and drive the lifecycle
(`ros2 lifecycle set /robot1/arm configure` / `activate`).

Commands: trajectory_msgs/JointTrajectory on `arm/command` (header.stamp = observation time,
points at absolute stamp + time_from_start; points already past are dropped). Every control
period the setpoint for the end of the period goes through `postbc_ros.core.safety.filter_command`
-- the only way anything reaches the backend. Whole trajectories with NaN/Inf or the wrong
joints are rejected on receipt (also by the filter). A watchdog holds the arm when no fresh
command arrived within `watchdog_timeout`. Services: `arm/stop`, `arm/home` (std_srvs/Trigger),
`arm/enable` (std_srvs/SetBool). Publishes `joint_states` and `arm/safety`
(diagnostic_msgs/DiagnosticArray, one status per intervention).
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("robot", "widowx", "arm model", choices=("widowx", "ur5e")),
    Param("backend", "fake", "arm backend", choices=("ur_rtde", "widowx", "mujoco", "ros2_control", "fake")),
    Param("safety_rig", "", "calibration/<rig>/safety.yaml with the limits ('' = <robot>, or <robot>_twin for the twin backends)"),
    Param("control_rate", 20.0, "setpoints per second sent to the backend (Hz)", range=(1.0, 500.0)),
    Param("watchdog_timeout", 0.5, "hold when no fresh command arrived for this long (s)", range=(0.01, 10.0)),
    Param("autostart", False, "configure + activate by itself once spinning"),
    Param("home_speed", 0.3, "fraction of the velocity limit used by arm/home", range=(0.01, 1.0)),
    Param("gripper_joint", "gripper", "name of the normalised gripper joint (0 open .. 1 closed)"),
    # backend-specific
    Param("host", "", "ur_rtde: robot controller address ('' = calibration/ur5e/)"),
    Param("port", "", "widowx: U2D2 serial device ('' = calibration/widowx/)"),
    Param("baudrate", 0, "widowx: Dynamixel bus baud rate (0 = calibration/widowx/)", range=(0, 4500000)),
    Param("state_topic", "hw/joint_states", "ros2_control: joint_state_broadcaster topic"),
    Param("command_topic", "hw/joint_trajectory_controller/joint_trajectory",
          "ros2_control: joint_trajectory_controller command topic"),
]


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
    from sensor_msgs.msg import JointState
    from std_srvs.srv import SetBool, Trigger
    from trajectory_msgs.msg import JointTrajectory

    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.nodes.arm_backends import make_backend
    from postbc_ros.robots import get_robot_spec
    from postbc_ros.ros import conversions as cv
    from postbc_ros.ros import qos
    from postbc_ros.core.arm_controller import ArmController
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class ArmNode(LifecycleNode):
        def __init__(self):
            super().__init__("arm")
            self.p = declare_params(self, PARAMS)
            self.spec = get_robot_spec(self.p["robot"])
            self.names = list(self.spec.joint_names)
            twin = self.p["backend"] in ("mujoco", "ros2_control", "fake")
            rig = self.p["safety_rig"] or (f"{self.p['robot']}_twin" if twin else self.p["robot"])
            self.limits = load_safety_limits(rig)
            self.period = 1.0 / float(self.p["control_rate"])
            self.ctl = ArmController(self.limits, self.p["gripper_joint"], self.period,
                                     float(self.p["watchdog_timeout"]), clock=self.now)
            self.lock = threading.RLock()
            self.backend = None
            io = ReentrantCallbackGroup()
            self.pub_js = self.create_publisher(JointState, "joint_states", qos.STATE)
            self.pub_diag = self.create_publisher(DiagnosticArray, "arm/safety", qos.STATE)
            self.create_subscription(JointTrajectory, "arm/command", self._on_command, qos.COMMAND, callback_group=io)
            self.create_service(Trigger, "arm/stop", self._on_stop, callback_group=io)
            self.create_service(Trigger, "arm/home", self._on_home, callback_group=io)
            self.create_service(SetBool, "arm/enable", self._on_enable, callback_group=io)
            self.create_timer(self.period, self._control, callback_group=MutuallyExclusiveCallbackGroup())
            if self.p["autostart"]:
                self._auto = self.create_timer(0.2, self._autostart, callback_group=io)
            self.get_logger().info(f"{self.p['robot']} arm, backend {self.p['backend']}, limits {self.limits.source}")

        def now(self) -> float:
            return self.get_clock().now().nanoseconds * 1e-9

        # ------------------------------------------------------------ lifecycle
        def _autostart(self):
            self._auto.cancel()
            self.trigger_configure()
            self.trigger_activate()

        def on_configure(self, state):
            try:
                self.backend = make_backend(self.p["backend"], self, self.spec, self.p, self.period)
                self.backend.connect()
            except Exception as e:
                self.get_logger().error(f"configure failed: {e}")
                self.backend = None
                return TransitionCallbackReturn.FAILURE
            self.get_logger().info(f"connected ({self.p['backend']})")
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state):
            with self.lock:
                self._apply(self.ctl.activate(True))
            self.get_logger().info("active: motion allowed")
            return super().on_activate(state)

        def on_deactivate(self, state):
            with self.lock:
                self._apply(self.ctl.activate(False))
            return super().on_deactivate(state)

        def on_cleanup(self, state):
            self.close()
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            self.close()
            return TransitionCallbackReturn.SUCCESS

        # ------------------------------------------------------------ control
        def _measured(self):
            st = self.backend.read_state()
            return np.asarray(st.q, float), (None if st.dq is None else np.asarray(st.dq, float)), st.gripper

        def _apply(self, d):
            """Execute a controller decision on the backend and report its interventions."""
            if d is None or self.backend is None:
                return
            if d.interventions:
                self.pub_diag.publish(cv.interventions_msg(
                    d.interventions, self.now(), f"{self.get_fully_qualified_name()}/safety", self.p["robot"],
                    d.summary, d.level, self.ctl.counts))
            if d.hold:
                self.backend.hold()
                self.get_logger().info(f"holding ({d.reason})")
            if d.command is not None:
                self.backend.send(d.command[: self.ctl.n], float(d.command[self.ctl.n])
                                  if d.command.shape[0] > self.ctl.n else None)

        def _on_command(self, msg):
            t_rx = self.now()
            stamp, names, times, _pos = cv.trajectory_arrays(msg)
            with self.lock:
                if self.backend is None:
                    return
                q, dq, g = self._measured()
                self._apply(self.ctl.trajectory(stamp, names, [pt.positions for pt in msg.points], times, t_rx,
                                                q, dq, g))

        def _control(self):
            with self.lock:
                if self.backend is None:
                    return
                try:
                    q, dq, g = self._measured()
                except RuntimeError:
                    return
                t = self.now()
                names = self.names + ([self.p["gripper_joint"]] if g is not None else [])
                self.pub_js.publish(cv.joint_state_msg(names, np.concatenate([q, [g]]) if g is not None else q, t))
                self._apply(self.ctl.step(t, q, dq, g))

        # ------------------------------------------------------------ services
        def _on_stop(self, _req, res):
            with self.lock:
                self._apply(self.ctl.enable(False))
            res.success, res.message = True, "stopped: holding; call arm/enable true to resume"
            return res

        def _on_enable(self, req, res):
            with self.lock:
                self._apply(self.ctl.enable(bool(req.data)))
            res.success, res.message = True, "enabled" if req.data else "disabled: holding"
            return res

        def _on_home(self, _req, res):
            with self.lock:
                if self.backend is None or not self.ctl.active:
                    res.success, res.message = False, "arm not active (configure + activate first)"
                    return res
                q, _dq, g = self._measured()
                duration = self.ctl.home(self.now(), q, g, self.spec.home, float(self.p["home_speed"]))
            deadline = time.monotonic() + duration * 3 + 5.0
            while time.monotonic() < deadline:
                if np.max(np.abs(self._measured()[0] - self.spec.home)) < 0.02:
                    res.success, res.message = True, "home"
                    return res
                time.sleep(0.05)
            res.success, res.message = False, f"did not reach home within {duration * 3 + 5:.1f} s"
            return res

        def close(self):
            with self.lock:
                if self.backend is not None:
                    try:
                        self._apply(self.ctl.activate(False))
                        self.backend.disconnect()
                    except Exception as e:
                        self.get_logger().warning(f"disconnect: {e}")
                    self.backend = None

    return run_node(ArmNode, argv, threads=4)


if __name__ == "__main__":
    sys.exit(main())
