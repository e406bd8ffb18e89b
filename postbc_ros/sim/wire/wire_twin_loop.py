"""The wire-level twin of a WidowX cell, without ROS: the twin scene behind a Dynamixel bus on a pty.

`WireTwinLoop` owns one twin task env (postbc_ros.sim.make_env), a simulated wx250s bus of
ShaftServos (widowx_chain, servos torqued off as at power-on) and the ServoBridge between them.
The real driver (drivers/arm/widowx.py over dynamixel_sdk) opens `bus.port`; wire_twin_node
converts messages and calls:

* `advance(now)`: run the physics up to wall time `now` in BRIDGE_PERIOD_S steps (a real cell runs
  on wall time; after a stall at most MAX_CATCHUP_S is run, the rest dropped: the twin slows rather
  than jumps); True when a control period ended (success / observation due),
* `success()`: the twin's success detector (what a real cell's success sensor or operator says),
* `observation(measured, stamp, now)`: the task state vector with the arm's joints and gripper
  taken from the arm's measured joint states (`joint_states` of arm_node: through the driver and
  the bus) and the scene part from the twin (the stand-in for the cell's perception until marker
  poses land); None when no joint state is fresher than JOINT_STATE_MAX_AGE_S (no stale observation),
* `reset_scene()`: the next scene layout (seeded as sim_node's TwinLoop) with the arm left where
  the driver holds it (the human reset moves objects, not the arm; arm/home moved the arm),
* `frame_due(rate)`: whether the scene camera renders now,
* `traffic()`: the instructions the bus received, by kind (the node logs it at shutdown).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from postbc_ros.core.twin_loop import FRAME_TIME_SLACK, FramePacer, reset_scene
from postbc_ros.sim.wire.dynamixel_bus import (
    INST_BULK_READ, INST_BULK_WRITE, INST_PING, INST_READ, INST_REBOOT, INST_SYNC_READ, INST_SYNC_WRITE, INST_WRITE,
    ShaftServo,
)
from postbc_ros.sim.wire.servo_bridge import ServoBridge, ServoGripper, ServoJoint, initial_registers
from postbc_ros.sim.wire.widowx_chain import widowx_bus

BRIDGE_PERIOD_S = 0.02  # s of physics between two goal/present exchanges (the twin's setpoint update period)
MAX_CATCHUP_S = 0.1  # s: the most physics run in one advance() after a stall
JOINT_STATE_MAX_AGE_S = 0.25  # s: older measured joint states make no observation
INSTRUCTION_NAMES = {INST_PING: "PING", INST_READ: "READ", INST_WRITE: "WRITE", INST_REBOOT: "REBOOT",
                     INST_SYNC_READ: "SYNC_READ", INST_SYNC_WRITE: "SYNC_WRITE", INST_BULK_READ: "BULK_READ",
                     INST_BULK_WRITE: "BULK_WRITE"}
JOINT_PREFIX, GRIPPER_LABEL = "q_", "gripper"  # labels of the proprioceptive entries of the state vector


class WireTwinLoop:
    hardware = "bus"  # what the driver talks to (log lines)

    def __init__(self, env, joints: list[ServoJoint], gripper: ServoGripper | None, seed: int, now: float,
                 gripper_joint: str = "gripper") -> None:
        self.env, self.task = env, env.unwrapped
        self.seed, self.resets = int(seed), 0
        env.reset(seed=self.seed)
        self.twin = self.task.twin
        self.bus = widowx_bus(present=initial_registers(self.twin, joints, gripper), servo_class=ShaftServo)
        self.bus.record = False  # counts only: a session streams packets for hours
        self.bridge = ServoBridge(self.twin, self.bus, joints, gripper)
        self.joint_names, self.gripper_joint = [j.name for j in joints], gripper_joint
        self.control_dt = float(self.twin.control_dt)
        self.time = float(now)
        self._next_control = self.time + self.control_dt
        self.frames = FramePacer(self.time)
        with self.bus.lock:
            self.bridge.push_present(BRIDGE_PERIOD_S)

    @property
    def port(self) -> str:
        return self.bus.port

    def warm_up(self, camera: str | None, size) -> None:
        """Render `camera` once (None: nothing) before `start`: the first render creates the GL context
        (~0.2 s, much of it holding the GIL), which must not stall the hardware thread under a running driver."""
        if camera is not None:
            self.twin.render(camera, size)

    def start(self) -> None:
        """Start answering on the pty."""
        self.bus.__enter__()

    def close(self) -> None:
        self.bus.close()
        self.env.close()

    def traffic(self) -> str:
        """What the bus received so far, by instruction (e.g. "SYNC_READ 1520, SYNC_WRITE 760, ...")."""
        with self.bus.lock:
            counts = dict(self.bus.counts)
        return ", ".join(f"{INSTRUCTION_NAMES.get(i, hex(i))} {n}" for i, n in sorted(counts.items(), key=lambda x: -x[1]))

    def advance(self, now: float) -> bool:
        if now - self.time > MAX_CATCHUP_S:
            self.time = now - MAX_CATCHUP_S
        while now - self.time >= BRIDGE_PERIOD_S:
            self.bridge.step(BRIDGE_PERIOD_S)
            self.time += BRIDGE_PERIOD_S
        if self.time + FRAME_TIME_SLACK < self._next_control:
            return False
        self._next_control = max(self._next_control + self.control_dt, self.time)
        return True

    def success(self) -> bool:
        return bool(self.task.is_success())

    def observation(self, measured: Mapping[str, float] | None, stamp: float | None,
                    now: float) -> tuple[np.ndarray, list[str]] | None:
        """State vector + labels with the measured proprioception, or None (nothing fresh measured)."""
        if measured is None or stamp is None or now - stamp > JOINT_STATE_MAX_AGE_S:
            return None
        labels = list(self.task.state_names)
        missing = [n for n in [*self.joint_names, self.gripper_joint] if n not in measured]
        if missing:
            raise ValueError(f"measured joint states lack {missing} (have {sorted(measured)}): check arm_node's "
                             "robot / gripper_joint against the twin's joints")
        state = np.asarray(self.task.observation()["state"], dtype=float).copy()
        for n in self.joint_names:
            state[labels.index(JOINT_PREFIX + n)] = measured[n]
        state[labels.index(GRIPPER_LABEL)] = measured[self.gripper_joint]
        return state, labels

    def reset_scene(self) -> dict[str, Any]:
        twin = self.twin
        q, closure = twin.joint_positions(), twin.gripper_position()
        self.resets += 1
        record = reset_scene(self.env, self.task, self.seed, self.resets)
        twin.set_joint_positions(q, closure)  # the arm stays where it is: only the scene is new
        return record

    def frame_due(self, rate: float) -> bool:
        return self.frames.due(self.time, rate)
