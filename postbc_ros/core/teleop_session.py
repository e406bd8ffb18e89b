"""A teleop session (ROS-free): what teleop_node does between messages.

While the episode manager says `running`, every observation: read the device, turn its ee_delta
action into joint setpoints (the adapter: the env's own IK code) and, when recording, keep the
(observation, action) pair until the next observation brings its outcome (the success flag, as
env.step reports it); once the task succeeded no further action is taken. Device events stop /
success / failure / abort become an `episode/label` request. The episode manager's state ends
the episode: `done` with a known success, `labelled` or `aborted`, or a new episode number; the
demonstration is then saved with that label (abort discards it; a failed save is logged and
dropped, the saved ones stay intact).

Two modes: record (the human drives every step) and takeover (the policy drives until the
operator's intervene toggle, then the human's actions are published as interventions). With the
scripted operator a kinematic mirror of the scene (`mirror`, a twin task env) is set from each
observation: the operator plans from it as it would from the env.

Dead-man: the device's reading says whether its enable button is held (`TeleopCommand.enabled`;
always True for the keyboard and the scripted operator). The human's commands move the arm only
while it is held; every observation read while it is released -- in record mode, or during a
takeover -- gives an explicit hold instead (`TeleopOutput.hold`: an empty arm/command trajectory,
which the arm node executes as "hold here"), so a release stops the arm within one control period
and a takeover started without the button stops the policy's motion and moves nothing. Nothing is
recorded while released (the demonstration pauses; the arm stands still), and when the button is
held again the commands restart from the measured joints (the adapter re-anchors) rather than
from where they were before the pause. Episode events (labels, the intervene toggle) work with
the button released.

A device action that is not a finite vector of the action space's length (a NaN from a driver, a
glitching axis) is dropped and counted on the session's MessageGuard (reasons
`device_action_shape`, `device_action_non_finite`):
no setpoint, no recorded step, and the session goes on with the next observation.

Camera images (`frames`, a data.camera_frames.CameraFrames fed by the node): each recorded step
stores, beside the observation vector, every camera's frame nearest the observation's stamp (its
pairing waits until the step is recorded, one observation later, so a frame that arrives after
its observation still pairs); a step without such a frame is not recorded and is counted
(`image_unpaired`). The operator's view (`scene_view`): with the scripted operator on a cell
whose observation is not the twin's task vector (the wire-level twin: joints + marker poses), the
mirror is set from the twin's scene vector (`on_scene`) -- what a human operator sees by looking
at the cell -- while the observation is what is recorded.

`finished`: the episode manager ran its episodes (state "finished", published after the last
episode was labelled, i.e. after its demonstration was saved here): the node's work is done.

Not thread-safe: the node calls it under one lock and publishes what each call returns.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from postbc_ros.core.message_guard import MessageGuard

RUNNING = "running"
FINISHED = "finished"  # episode/state once the manager ran its max_episodes (core.episode_protocol.FINISHED)
ENDED = ("done", "labelled", "aborted")  # episode/state values after which the episode is over
XYZ = 3  # entries of a position in the observation state (goal_x.., obj_x..)


class TeleopActionError(ValueError):
    """A device action that cannot drive the arm; `reason` is its drop counter's key."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class TeleopOutput:
    """What the node publishes after one event, in this order (None: nothing)."""

    intervention: bool | None = None  # teleop/intervention: the takeover state changed to this
    label: dict | None = None  # episode/label: {"stop", "success", "abort"} from the device
    target: np.ndarray | None = None  # arm/command: [1, n_joints + 1] setpoints (joints, gripper)
    hold: bool = False  # arm/command: an explicit hold (empty trajectory): the dead-man is released
    action: np.ndarray | None = None  # teleop/action: the human's action while taking over


def sync_mirror(env, state: np.ndarray, n_joints: int, new_episode: bool) -> None:
    """Put the observed scene into the kinematic mirror `env` (arm joints, goal, object); a new
    episode gets a new layout object, on which the scripted operator re-plans."""
    names = env.state_names
    if len(state) != len(names):
        raise ValueError(f"scripted operator: the scene vector has {len(state)} entries, the twin's task vector "
                         f"{len(names)} ({names[:3]}...): plan from the twin's scene (teleop_node scene_topic)")
    twin = env.twin
    twin.set_joint_positions(state[:n_joints])
    i = names.index("goal_x")
    layout = {"goal": state[i: i + XYZ].astype(float)}
    twin.set_goal(layout["goal"])
    if "obj_x" in names:
        i = names.index("obj_x")
        layout["object"] = state[i: i + XYZ].astype(float)
        twin.set_object_position(layout["object"])
    twin.forward()
    if new_episode:
        env.layout = layout


class TeleopSession:
    """device: TeleopDevice (read(obs) -> TeleopCommand, reset()); adapter: ActionAdapter;
    n_joints: the arm's joint count (its robot spec); recorder: data.collect.EpisodeRecorder, or
    None to drive without recording; mirror: the env to keep in sync for the scripted operator
    (from `on_scene` vectors when `scene_view`, else from the observations); frames: the cameras'
    data.camera_frames.CameraFrames whose images each recorded step stores; state_dim: the length an
    observation vector must have (None: the recorder's observation.state, else any)."""

    def __init__(self, device, adapter, n_joints: int, *, recorder=None, takeover: bool = False, mirror=None,
                 log: logging.Logger | None = None, guard: MessageGuard | None = None, frames=None,
                 scene_view: bool = False, state_dim: int | None = None) -> None:
        self.device, self.adapter, self.n_joints = device, adapter, int(n_joints)
        self.recorder, self.takeover, self.mirror = recorder, bool(takeover), mirror
        if state_dim is None and recorder is not None and "observation.state" in recorder.writer.features:
            state_dim = int(recorder.writer.features["observation.state"]["shape"][0])
        self.frames, self.scene_view, self.state_dim = frames, bool(scene_view), state_dim
        self.scene: np.ndarray | None = None  # the operator's view of the scene (scene_view), as last seen
        self.finished = False  # recording: the episode manager finished its episodes; the last one is saved
        self.log = log or logging.getLogger(__name__)
        self.guard = guard or MessageGuard(self.log)  # dropped device actions, by reason
        self.success = False  # the twin's task/success flag, as last seen
        self.episode: dict = {"episode": -1, "state": "idle"}  # the manager's last episode/state
        self.active_ep: int | None = None  # the episode being driven (and recorded)
        self.pending: tuple[dict, np.ndarray, float | None] | None = None  # (obs, action, stamp) awaiting its outcome
        self.intervening = False
        self.enabled: bool | None = None  # the device's dead-man as last read (None: not read yet)
        self.anchored = False  # the adapter's commands start from the measured joints (reset since the last hold)
        self.saved = 0

    def on_success(self, flag: bool) -> None:
        self.success = bool(flag)

    def on_scene(self, scene: np.ndarray) -> None:
        """The twin's scene vector (its task layout): the scripted operator's view (`scene_view`)."""
        scene = np.asarray(scene, dtype=np.float32)
        if scene.ndim != 1 or not np.isfinite(scene).all():
            raise ValueError(f"operator scene vector must be a finite vector, got shape {scene.shape}")
        self.scene = scene

    def frame(self, camera: str, stamp: float, image: np.ndarray) -> None:
        """A camera frame for the recorded steps (ignored when no images are recorded)."""
        if self.frames is not None and self.recorder is not None:
            self.frames.add(camera, stamp, image)

    def on_episode(self, event: dict) -> TeleopOutput:
        """The manager's episode/state: a takeover ends with the episode; an ended episode is saved."""
        out = TeleopOutput()
        self.episode = event
        if event["state"] != RUNNING and self.intervening:
            self.intervening = False
            out.intervention = False
        if self.active_ep is not None and (event["state"] in ENDED or event["episode"] != self.active_ep):
            if not (event.get("success") is None and event["state"] == "done"):  # else: wait for the label
                self._finish(event)
        if event["state"] == FINISHED and self.recorder is not None:
            self.finished = True
            self.log.info(f"the episode manager finished its episodes; {self.saved} demonstrations saved here")
        return out

    def observe(self, state: np.ndarray, q: np.ndarray | None, stamp: float | None = None) -> TeleopOutput:
        """One observation (the ROS observation state vector, captured at `stamp`) with the measured
        joints `q`."""
        out = TeleopOutput()
        e = self.episode
        if e.get("state") != RUNNING or q is None:
            return out
        if self.state_dim is not None and np.shape(state) != (self.state_dim,):
            self.guard.drop("observation_shape", f"observation state has shape {np.shape(state)}, expected "
                            f"({self.state_dim},): check teleop's `observation` layout against observation/state's "
                            "publisher")
            return out
        if not (np.isfinite(state).all() and np.isfinite(q).all()):  # nothing to plan or record from
            self.guard.drop("observation_non_finite", f"observation state {np.asarray(state).tolist()} / "
                            f"joints {np.asarray(q).tolist()} not finite: step skipped")
            return out
        if self.frames is not None and self.recorder is not None and stamp is None:
            raise ValueError("TeleopSession.observe: recording camera images needs the observation's stamp")
        if self.mirror is not None and self.scene_view and self.scene is None:
            return out  # the scripted operator has not seen the scene yet
        new = self.active_ep != e["episode"]
        if new:
            self.active_ep = e["episode"]
            self.device.reset()
            self.adapter.reset(q)
            self.anchored = True
            self.pending = None
            if self.recorder is not None:
                self.recorder.discard()
        elif self.recorder is not None and self.pending is not None:
            self._record(self.pending, self.success)
            self.pending = None
            # after the task's success the operator goes on acting (and is recorded) until the episode
            # manager ends the episode: demonstrations show the arm settling (`after_success`)
        if self.mirror is not None:
            sync_mirror(self.mirror, self.scene if self.scene_view else state, self.n_joints, new)
        obs = {"state": state}
        cmd = self.device.read(obs)
        if self.takeover:
            if cmd.intervene:  # toggle: the human takes over / hands back to the policy
                self.intervening = not self.intervening
                out.intervention = self.intervening
                if self.intervening:
                    self.adapter.reset(q)
                    self.anchored = True
                self.log.info("human takeover" if self.intervening else "policy resumes")
            if not self.intervening:
                return out
        if cmd.stop or cmd.success or cmd.failure or cmd.abort:
            out.label = {"stop": cmd.stop, "success": True if cmd.success else (False if cmd.failure else None),
                         "abort": cmd.abort}
        if not self._deadman(bool(cmd.enabled)):  # released: the arm holds, nothing is recorded
            out.hold = True
            return out
        if cmd.action is None:
            return out
        action = self.guard.check(self._device_action, cmd.action, "device_action")
        if action is None:  # dropped and counted: no setpoint, nothing recorded
            return out
        if not self.anchored:  # held again after a hold: commands start where the arm stands
            self.adapter.reset(q)
            self.anchored = True
        out.target = self.adapter.targets(action[None], q)
        if self.intervening:
            out.action = action
        if self.recorder is not None:
            self.pending = (obs, action, stamp)
        return out

    def _deadman(self, enabled: bool) -> bool:
        """Track the dead-man (log its changes); a release un-anchors the commands."""
        if enabled != self.enabled:
            self.log.info("enable button held: the operator drives the arm" if enabled
                          else "enable button released: the arm holds")
        self.enabled = enabled
        if not enabled:
            self.anchored = False
        return enabled

    def _device_action(self, raw) -> np.ndarray:
        """The device's action as a finite float32 vector of the adapter's action length."""
        try:
            action = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise TeleopActionError(f"teleop device action {raw!r:.80} is not numbers: {e}", "device_action_shape") from None
        dim = getattr(self.adapter, "action_dim", None)
        if action.ndim != 1 or (dim is not None and action.shape[0] != dim):
            raise TeleopActionError(f"teleop device action has shape {action.shape}, expected ({dim},): check the "
                                    "device driver and the node's robot / control parameters", "device_action_shape")
        if not np.isfinite(action).all():
            raise TeleopActionError(f"teleop device action is not finite: {action.tolist()}", "device_action_non_finite")
        return action

    def _finish(self, event: dict) -> None:
        self.active_ep = None
        pending, self.pending = self.pending, None
        if self.recorder is None:
            return
        aborted = event["state"] == "aborted"
        success = bool(event.get("success"))
        if pending is not None and not aborted:
            self._record(pending, success)
        if self.recorder.num_frames == 0:
            return
        if aborted:
            self.recorder.discard()
            return
        error = self.recorder.save_or_discard(success)
        if error is not None:
            self.log.error(f"demonstration not saved, record it again: {error}")
            return
        self.saved += 1
        self.log.info(f"saved demonstration {self.saved} (success={success})")

    def _record(self, pending: tuple[dict, np.ndarray, float | None], success: bool) -> None:
        """Record one step: its observation, the cameras' frames paired with its stamp, the action."""
        obs, action, stamp = pending
        if self.frames is not None:
            images = self.frames.paired(stamp)
            if images is None:
                self.guard.drop("image_unpaired", f"step at {stamp:.3f} not recorded: {self.frames.reason}")
                return
            obs = {**obs, **images}
        self.recorder.add_step(obs, action, success=success)

    def close(self) -> None:
        """Drop the unsaved episode, finalise the dataset (its writer) and close the device."""
        if self.recorder is not None:
            self.recorder.discard()
            self.recorder.writer.close()
        close = getattr(self.device, "close", None)
        if callable(close):
            close()
