"""The simulated servos ARE the MuJoCo twin's joints (ROS-free).

Every `step(dt)`, under the bus lock, each joint's primary servo gives the twin its actuator
target: Goal Position (register ticks) -> radians through the same motors.yaml offset and
direction the driver uses (inverted). The twin's physics (its MJCF position actuators) moves the
joints for `dt`, and the measured joint positions / velocities become the servos' Present
Position / Velocity; each shadow's shaft is set to the mirror of its primary's (plus its
assembly offset), so shadows read what their primary reads as on the real arm. The servos'
own kinematic ramp is not used (ShaftServo).

Torque off (Torque Enable 0, or dropped by a shutdown error): the joint goes limp (its actuator's
stiffness and damping are zeroed; the twin's links are gravity compensated, so it drifts, not
falls) and its setpoint follows the measured angle, so torque on with goal := present does not
jerk. The gripper servo: in PWM mode (how xs_sdk runs the XL430 gripper) the Goal PWM moves the
twin's finger closure command at the model's no-load speed * PWM / 885 in register ticks, inside
the open/closed ticks -- the fingers follow by physics and stop on a held object, like a PWM
grasp; in a position mode the Goal Position is the closure target; torque off, no effort.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from postbc_ros.sim.wire.dynamixel_bus import (
    A_GOAL_POS, A_GOAL_PWM, A_OP_MODE, NO_LOAD_TICKS_S, OP_PWM, PWM_MAX, REVERSE_PIVOT, DxlBus, ShaftServo,
)

TICKS_PER_RAD = 4096.0 / (2.0 * math.pi)  # X-series encoder: 4096 ticks per revolution
CENTER_TICKS = 2048  # the register value at which a joint is at its motors.yaml `offset`
GAIN, BIAS_POS, BIAS_VEL = 0, 1, 2  # MuJoCo position actuator: force = kp * ctrl - kp * q - kv * qdot


@dataclass(frozen=True)
class ServoJoint:
    """One arm joint and the primary servo that drives it (motors.yaml: id, offset, direction)."""

    name: str
    servo_id: int
    direction: int  # +1/-1: joint angle sign vs the primary's register
    offset: float  # joint angle [rad] when the primary reads CENTER_TICKS

    def ticks(self, q: float) -> float:
        return CENTER_TICKS + self.direction * (q - self.offset) * TICKS_PER_RAD

    def angle(self, ticks: float) -> float:
        return self.offset + self.direction * (ticks - CENTER_TICKS) / TICKS_PER_RAD


@dataclass(frozen=True)
class ServoGripper:
    """The gripper servo: closure 0 (open) .. 1 (closed) is open_ticks .. closed_ticks."""

    servo_id: int
    open_ticks: int
    closed_ticks: int

    def ticks(self, closure: float) -> float:
        return self.open_ticks + closure * (self.closed_ticks - self.open_ticks)

    def closure(self, ticks: float) -> float:
        return float(np.clip((ticks - self.open_ticks) / (self.closed_ticks - self.open_ticks), 0.0, 1.0))


def servo_map(cal) -> tuple[list[ServoJoint], ServoGripper | None]:
    """The joints and gripper of the driver's parsed motors.yaml (a drivers.arm.dynamixel_config
    WidowXCalibration, read by attribute: sim does not import the drivers)."""
    joints = [ServoJoint(j.name, j.primary.id, int(j.direction), float(j.offset)) for j in cal.joints]
    g = cal.gripper
    return joints, (None if g is None else ServoGripper(g.servo.id, int(g.open_ticks), int(g.closed_ticks)))


def initial_registers(twin, joints: list[ServoJoint], gripper: ServoGripper | None) -> dict[int, float]:
    """Present Position of each primary (and the gripper) for the twin's current pose."""
    out = {j.servo_id: j.ticks(q) for j, q in zip(joints, twin.joint_positions())}
    if gripper is not None:
        out[gripper.servo_id] = gripper.ticks(twin.gripper_position())
    return out


class ServoBridge:
    """Couples `bus` (ShaftServo servos) to `twin` (postbc_ros.sim.twin.Twin)."""

    def __init__(self, twin, bus: DxlBus, joints: list[ServoJoint], gripper: ServoGripper | None) -> None:
        names = [j.name for j in joints]
        if names != list(twin.joint_names):
            raise ValueError(f"servo map joints {names} differ from the twin's {list(twin.joint_names)}: the "
                             "motors.yaml joints must be the robot's joints, in its order")
        ids = [j.servo_id for j in joints] + ([gripper.servo_id] if gripper else [])
        missing = [i for i in ids if i not in bus.servos]
        not_shaft = [i for i in ids if i in bus.servos and not isinstance(bus.servos[i], ShaftServo)]
        if missing or not_shaft:
            raise ValueError(f"bus lacks servos {missing} / servos {not_shaft} are not ShaftServo: the twin must "
                             "move every servo the map names")
        self.twin, self.bus, self.joints, self.gripper = twin, bus, joints, gripper
        m = twin.model
        self._act = np.array([m.actuator(n).id for n in names])
        self._gain = m.actuator_gainprm[self._act, GAIN].copy()
        self._bias = m.actuator_biasprm[self._act, BIAS_POS:BIAS_VEL + 1].copy()
        self._closure = twin.gripper_position()  # the finger closure command
        self._gripper_ticks = gripper.ticks(self._closure) if gripper else 0.0

    def step(self, dt: float) -> None:
        """Goals -> twin targets, `dt` of physics, measured state -> present registers."""
        with self.bus.lock:
            q_goal, torque, closure = self._goals(dt)
        q = self.twin.joint_positions()
        self._set_limp(~torque)
        target = np.where(torque, q_goal, q)
        self.twin.set_joint_targets(target, closure)
        self.twin.data.ctrl[self._act[~torque]] = q[~torque]
        self.twin.step(max(1, int(round(dt / self.twin.model.opt.timestep))))
        with self.bus.lock:
            self.push_present(dt)

    def _goals(self, dt: float) -> tuple[np.ndarray, np.ndarray, float]:
        srv = self.bus.servos
        q_goal = np.array([j.angle(srv[j.servo_id].get(A_GOAL_POS, 4)) for j in self.joints])
        torque = np.array([srv[j.servo_id].torque for j in self.joints])
        g = self.gripper
        if g is None:
            return q_goal, torque, self._closure
        s = srv[g.servo_id]
        if not s.torque:
            self._closure = self.twin.gripper_position()
        elif s.table[A_OP_MODE] == OP_PWM:  # register ticks/s at this PWM (the register frame moves with +PWM)
            rate = NO_LOAD_TICKS_S[s.model] * s.get(A_GOAL_PWM, 2) / PWM_MAX
            self._closure = g.closure(g.ticks(self._closure) + rate * dt)
        else:
            self._closure = g.closure(s.get(A_GOAL_POS, 4))
        return q_goal, torque, self._closure

    def _set_limp(self, limp: np.ndarray) -> None:
        m = self.twin.model
        m.actuator_gainprm[self._act, GAIN] = np.where(limp, 0.0, self._gain)
        m.actuator_biasprm[self._act, BIAS_POS:BIAS_VEL + 1] = np.where(limp[:, None], 0.0, self._bias)

    def push_present(self, dt: float) -> None:
        """The twin's measured joints (and gripper) as the servos' shafts (call under bus.lock)."""
        srv = self.bus.servos
        q, dq = self.twin.joint_positions(), self.twin.joint_velocities()
        for j, qi, dqi in zip(self.joints, q, dq):
            _set_register(srv[j.servo_id], j.ticks(qi), j.direction * dqi * TICKS_PER_RAD)
        if self.gripper is not None:
            ticks = self.gripper.ticks(self.twin.gripper_position())
            _set_register(srv[self.gripper.servo_id], ticks, (ticks - self._gripper_ticks) / dt if dt > 0 else 0.0)
            self._gripper_ticks = ticks
        for shadow, (primary, assembly) in self.bus.mirrored.items():  # one shaft, two servos
            p = srv[primary]
            srv[shadow].set_shaft(REVERSE_PIVOT - p.native + assembly, -p.shaft_velocity)


def _set_register(servo: ShaftServo, ticks: float, ticks_per_s: float) -> None:
    """Set a servo's shaft so that it reads `ticks` (register frame) moving at `ticks_per_s`."""
    servo.set_shaft(servo.native_of(ticks), -ticks_per_s if servo.reverse else ticks_per_s)
