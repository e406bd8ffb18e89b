"""What the UR controller reports each cycle (RTDE safety mode, robot mode, runtime state, stop
flags, link state) and which of it forbids streaming, as an `ArmFault` that says what to do.

Codes are the RTDE output recipe's (UR "Real-Time Data Exchange" guide, ur_rtde's
RTDEReceiveInterface docstrings): safety_mode, robot_mode, runtime_state.
"""
from __future__ import annotations

from dataclasses import dataclass

from postbc_ros.drivers.arm.base import ArmFault

SAFETY_MODES = {
    1: "NORMAL", 2: "REDUCED", 3: "PROTECTIVE_STOP", 4: "RECOVERY", 5: "SAFEGUARD_STOP",
    6: "SYSTEM_EMERGENCY_STOP", 7: "ROBOT_EMERGENCY_STOP", 8: "VIOLATION", 9: "FAULT",
    10: "VALIDATE_JOINT_ID", 11: "UNDEFINED_SAFETY_MODE", 12: "AUTOMATIC_MODE_SAFEGUARD_STOP",
    13: "SYSTEM_THREE_POSITION_ENABLING_STOP",
}
SAFETY_MOTION_OK = {1, 2}  # NORMAL, REDUCED (reduced speed limits, still servoable)
SAFETY_NORMAL = 1
ROBOT_MODES = {
    -1: "NO_CONTROLLER", 0: "DISCONNECTED", 1: "CONFIRM_SAFETY", 2: "BOOTING", 3: "POWER_OFF",
    4: "POWER_ON", 5: "IDLE", 6: "BACKDRIVE", 7: "RUNNING", 8: "UPDATING_FIRMWARE",
}
ROBOT_MODE_RUNNING = 7
RUNTIME_STATES = {0: "STOPPING", 1: "STOPPED", 2: "PLAYING", 3: "PAUSING", 4: "PAUSED", 5: "RESUMING"}
RUNTIME_PLAYING = 2  # ur_rtde's control script is running

CONFIRM = "then confirm the reconnect (the arm's reconnect(confirmed=True))"


@dataclass(frozen=True)
class URStatus:
    """One cycle's reading of the controller's state (both RTDE links)."""

    safety_mode: int
    robot_mode: int
    runtime_state: int
    protective_stop: bool
    emergency_stop: bool
    control_connected: bool = True
    receive_connected: bool = True

    def describe(self) -> str:
        return (f"safety mode {SAFETY_MODES.get(self.safety_mode, self.safety_mode)}, robot mode "
                f"{ROBOT_MODES.get(self.robot_mode, self.robot_mode)}, program {RUNTIME_STATES.get(self.runtime_state, self.runtime_state)}")


def disconnected_fault(which: str) -> ArmFault:
    return ArmFault("disconnected", f"the RTDE {which} connection to the UR controller is down",
                    "Check the network cable / switch and that the controller is on, " + CONFIRM)


def fault_of(s: URStatus) -> ArmFault | None:
    """The fault that forbids streaming in state `s`, or None when servoJ may run."""
    if not s.receive_connected:
        return disconnected_fault("receive")
    if not s.control_connected:
        return disconnected_fault("control")
    if s.emergency_stop or s.safety_mode in (6, 7):
        return ArmFault("emergency_stop", f"emergency stop ({s.describe()})",
                        "Make the cell safe, release the emergency-stop button, reset it on the teach pendant "
                        "(power on, release brakes), " + CONFIRM)
    if s.protective_stop or s.safety_mode == 3:
        return ArmFault("protective_stop", f"protective stop ({s.describe()})",
                        "Clear it on the teach pendant (find the cause: a collision, a joint/speed limit, a jump in "
                        "the command), " + CONFIRM)
    if s.safety_mode in (5, 12, 13):
        return ArmFault("safeguard_stop", f"safeguard stop ({s.describe()})",
                        "Close the safeguard / release the enabling device and reset it on the pendant, " + CONFIRM)
    if s.safety_mode not in SAFETY_MOTION_OK:
        return ArmFault("safety_fault", f"the controller's safety system is not normal ({s.describe()})",
                        "Read the log on the teach pendant, fix the cause and restart the safety system there, " + CONFIRM)
    if s.robot_mode != ROBOT_MODE_RUNNING:
        return ArmFault("robot_not_running", f"the arm is not running ({s.describe()})",
                        "Power the arm on and release the brakes on the teach pendant, " + CONFIRM)
    if s.runtime_state != RUNTIME_PLAYING:
        return ArmFault("program_stopped", f"the ur_rtde control script is not running ({s.describe()}); it was "
                        "stopped on the pendant, by the RTDE watchdog or by another client",
                        "Keep the robot in Remote Control mode, " + CONFIRM + " to re-upload the script")
    return None
