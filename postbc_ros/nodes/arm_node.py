"""arm_node: the safety-filtered arm controller (a ROS 2 lifecycle node; interfaces in docs/interfaces.md):
configure = connect the backend, activate = allow motion, deactivate = hold, cleanup = disconnect;
`autostart` walks itself to active (the twin). `core.arm_controller` decides (safety filter, watchdog,
latches, supervision), `core.arm_loop` executes on the backend; this node converts messages.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from postbc_ros.ros.bootstrap import ensure_rclpy

ensure_rclpy()
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup  # noqa: E402
from rclpy.clock import Clock, ClockType  # noqa: E402
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from postbc_ros.core.arm_controller import HEARTBEAT_TIMEOUT_S, ArmController, safety_rig_for  # noqa: E402
from postbc_ros.core.arm_loop import ArmLoop, stall_bound  # noqa: E402
from postbc_ros.core.arm_supervision import SupervisorWatch  # noqa: E402
from postbc_ros.core.params import param  # noqa: E402
from postbc_ros.core.safety import load_safety_limits  # noqa: E402
from postbc_ros.nodes.arm_backends import BACKEND_NAMES, make_backend  # noqa: E402
from postbc_ros.robots import DEFAULT_ROBOT, get_robot_spec, robot_names  # noqa: E402
from postbc_ros.ros import conversions as conv, qos  # noqa: E402
from postbc_ros.ros.node_main import run_node  # noqa: E402
from postbc_ros.ros.params import declare_params  # noqa: E402
from postbc_ros.ros.service_call import serve  # noqa: E402

AUTOSTART_DELAY_S = 0.2  # autostart configures + activates this long after the node starts spinning
EXECUTOR_THREADS = 4  # the control timer, and commands / services beside an arm/home that waits for the arm
STALL_CHECK_S = 0.1  # s (wall) between checks that control periods still come (on a twin they run on its /clock)


@dataclass
class ArmConfig:
    robot: str = param(DEFAULT_ROBOT, "arm model", choices=robot_names)
    backend: str = param("fake", "arm backend", choices=BACKEND_NAMES)
    safety_rig: str = param("", "calibration/<rig>/safety.yaml ('' = <robot>, or <robot>_twin for a twin backend)")
    control_rate: float = param(20.0, "setpoints per second sent to the backend (Hz)", range=(1.0, 500.0))
    watchdog_timeout: float = param(0.5, "s without a fresh command before holding", range=(0.01, 10.0), live=True)
    autostart: bool = param(False, "configure + activate by itself once spinning")
    supervised: bool = param(False, "move only while episode/heartbeat says an episode runs (latch when lost)")
    heartbeat_timeout: float = param(HEARTBEAT_TIMEOUT_S, "supervised: heartbeat lost after (s)", range=(0.05, 10.0),
                                     live=True)
    max_following_error: float = param(0.5, "rad |setpoint - measured| allowed", range=(0.01, 3.2), live=True)
    following_error_time: float = param(0.5, "s beyond max_following_error: latch", range=(0.0, 10.0), live=True)
    state_timeout: float = param(0.5, "s the state may be missing or its stamp still", range=(0.05, 10.0), live=True)
    control_stall_timeout: float = param(0.0, "s with no control period: latch (0: 1; 5 on sim /clock)", range=(0, 60))
    home_speed: float = param(0.3, "fraction of the velocity limit used by arm/home", range=(0.01, 1.0), live=True)
    gripper_joint: str = param("gripper", "the normalised gripper joint (0 open .. 1 closed)")
    host: str = param("", "ur_rtde: robot controller address ('' = calibration/ur5e/)")
    port: str = param("", "widowx: U2D2 serial device ('' = calibration/widowx/)")
    baudrate: int = param(0, "widowx: Dynamixel bus baud rate (0 = calibration/widowx/)", range=(0, 4500000))
    state_topic: str = param("hw/joint_states", "ros2_control: joint_state_broadcaster topic")
    command_topic: str = param("hw/joint_trajectory_controller/joint_trajectory", "ros2_control: JTC command topic")


CONFIG = ArmConfig


class ArmNode(LifecycleNode):
    def __init__(self, **node_options):
        super().__init__("arm", **node_options)
        self.cfg = declare_params(self, ArmConfig)
        self.spec = get_robot_spec(self.cfg.robot)
        self.limits = load_safety_limits(safety_rig_for(self.cfg.robot, self.cfg.backend, self.cfg.safety_rig),
                                         robot=self.cfg.robot)
        self.period, c = 1.0 / self.cfg.control_rate, self.cfg
        ctl = ArmController(self.limits, c.gripper_joint, self.period, lambda: c.watchdog_timeout, clock=self.now,
                            supervised=c.supervised, heartbeat_timeout=lambda: c.heartbeat_timeout,
                            supervisor=SupervisorWatch.from_env(), max_following_error=lambda: c.max_following_error,
                            following_error_time=lambda: c.following_error_time, state_timeout=lambda: c.state_timeout)
        self.arm = ArmLoop(ctl, self.spec.home, self._report, self.get_logger(),
                           stall_after=stall_bound(c.control_stall_timeout, self.get_parameter("use_sim_time").value))
        self.close = self.arm.close  # run_node calls it on SIGINT / SIGTERM: the arm holds, then disconnects
        io = ReentrantCallbackGroup()
        self.pub_js = self.create_publisher(JointState, "joint_states", qos.STATE)
        self.pub_diag = self.create_publisher(DiagnosticArray, "arm/safety", qos.STATE)
        self.pub_status = self.create_publisher(String, "arm/status", qos.LATCHED)
        self.create_subscription(JointTrajectory, "arm/command", self._on_command, qos.COMMAND, callback_group=io)
        self.create_subscription(String, "episode/heartbeat", lambda m: self.arm.heartbeat(m.data, self.now()),
                                 qos.STATE, callback_group=io)
        for srv, name, answer in ((Trigger, "arm/stop", lambda _r: (True, self.arm.stop())),
                                  (Trigger, "arm/operator_reset", lambda _r: self.arm.operator_reset()),
                                  (Trigger, "arm/home", lambda _r: self.arm.home(self.now(), self.cfg.home_speed)),
                                  (SetBool, "arm/enable", lambda r: self.arm.enable(bool(r.data)))):
            serve(self, srv, name, answer, io)
        self.create_timer(self.period, self._control, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(STALL_CHECK_S, lambda: (self.arm.stalled(), self._status()), callback_group=io,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        if self.cfg.autostart:
            self._auto = self.create_timer(AUTOSTART_DELAY_S, lambda: (
                self._auto.cancel(), self.trigger_configure(), self.trigger_activate()), callback_group=io)
        self.get_logger().info(f"{self.cfg.robot} arm, backend {self.cfg.backend}, limits {self.limits.source}")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_configure(self, state):
        try:
            self.arm.connect(make_backend(self.cfg.backend, self, self.spec, self.cfg, self.period))
        except Exception as e:
            self.get_logger().error(f"configure failed: {e}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        return self.arm.activate(True) or super().on_activate(state)

    def on_deactivate(self, state):
        return self.arm.activate(False) or super().on_deactivate(state)

    def on_cleanup(self, state):
        self.close()
        return TransitionCallbackReturn.SUCCESS

    on_shutdown = on_cleanup  # both disconnect

    def _report(self, d):
        self.pub_diag.publish(conv.interventions_msg(d.interventions, self.now(), f"{self.get_fully_qualified_name()}"
                                                     f"/safety", self.cfg.robot, d.summary, d.level, self.arm.ctl.counts))

    def _on_command(self, msg):
        t_rx, (stamp, names, times) = self.now(), conv.trajectory_arrays(msg)[:3]
        self.arm.command(stamp, names, [pt.positions for pt in msg.points], times, t_rx)

    def _control(self):
        measured = self.arm.control(self.now)  # (t, names, positions)
        if measured is not None:
            self.pub_js.publish(conv.joint_state_msg(measured[1], measured[2], measured[0]))
        self._status()

    def _status(self):
        self.arm.publish_status(self.now(), lambda st: self.pub_status.publish(String(data=json.dumps(st))))


def main(argv: list[str] | None = None) -> int:
    return run_node(ArmNode, argv, threads=EXECUTOR_THREADS)


if __name__ == "__main__":
    sys.exit(main())
