"""THE description of the node graphs (finetune, collect, sim).

`build_graph(name, {"robot": ..., "sim": ...})` returns a GraphSpec; `postbc launch` starts it as
processes and launch/*.launch.py turn the same spec into launch_ros Nodes. Nothing else lists
nodes. Choices of `robot`, `mode` and `device` come from the registries (postbc_ros.robots,
postbc_ros.rl.registry, the teleop backends); every robot-specific value (real arm backend,
calibration rigs, per-node parameters) comes from the robot's registry entry.

Topics (relative to each robot's namespace; the same whatever the arm):
  camera/scene/image_raw, camera/scene/camera_info   sensor_msgs Image / CameraInfo
  joint_states                                       sensor_msgs/JointState (arm_node, measured)
  arm/command                                        trajectory_msgs/JointTrajectory (policy/teleop -> arm)
  arm/safety                                         diagnostic_msgs/DiagnosticArray (every intervention)
  arm/stop, arm/home (Trigger), arm/enable (SetBool) services
  hw/joint_states, hw/joint_trajectory_controller/joint_trajectory   arm_node <-> sim_node/ros2_control
  observation/state                                  what the policy observes (JointState used as a stamped vector):
                                                     joints + ArUco marker poses seen by the scene camera --
                                                     observation_node's on a real cell and the wire-level twin,
                                                     sim_node's (observation:=markers, the default) on the twin;
                                                     joints, gripper, tool only with observation:=proprio (a real
                                                     cell without markers; the twin's image mode's state);
                                                     the twin's task vector with observation:=privileged
  operator/scene                                     twins unless observation:=privileged: the twin's task vector
                                                     (privileged), what the scripted operator sees of the cell;
                                                     nothing records it
  task/success                                       std_msgs/Bool (twin's success detector)
  episode/state                                      std_msgs/String JSON (episode manager, latched)
  episode/label                                      std_msgs/String JSON (operator / teleop labels)
  human_reset                                        std_srvs/Trigger (reset operator or twin)
  reset_scene                                        std_srvs/Trigger (wire_twin:=true: the twin's scene reset,
                                                     called by the scripted reset operator)
Global: /replay/transitions, /replay/stored, /replay/sync, /learner/weights, /learner/metrics.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from postbc_ros.core.twin_loop import OPERATOR_SCENE_TOPIC
from postbc_ros.drivers.arm import BACKENDS as ARM_BACKENDS
from postbc_ros.drivers.teleop import BACKENDS as TELEOP_DEVICES
from postbc_ros.graph.config import merged_parameters
from postbc_ros.graph.spec import (COMPLETE, HW_COMMAND, HW_LISTEN, IGNORE, RESTART, STOP_GRAPH, ExitPolicy,
                                   GraphSpec, LaunchArg, NodeSpec)
from postbc_ros.rl.registry import ALGORITHMS
from postbc_ros.robots import DEFAULT_ROBOT, get_robot, get_twin, robot_names
from postbc_ros.sim.task_params import DEFAULT_TWIN_OBSERVATION, TASKS, TWIN_OBSERVATIONS  # pure data, no mujoco
from postbc_ros.sim.wire.rtde_protocol import twin_host

BOOL = ("true", "false")
ROS2_CONTROL = "ros2_control"  # arm backend built by arm_node itself (postbc_ros.ros.ros2_control_arm)
TWIN_CONTROL_RATE = 20.0  # Hz: the twin runs at 10 Hz, 20 Hz setpoints suffice
# the learner trains as fast as the CPU lets it: niced, it yields the cores to the arm, the policy and the
# cameras (on a 2-core machine its torch steps starved arm_node's control loop for 1.9 s, which latches the arm)
LEARNER_NICE = 10
REAL_EPISODE_TIME_LIMIT = 60.0  # s: default episode limit on a real robot (no task horizon)
WIRE_TWIN_BACKENDS = ("widowx", "ur_rtde")  # arm backends with a wire-level twin (Dynamixel bus, RTDE controller)
# camera backends the wire twin serves: auto/sim, it publishes its renders itself; realsense, camera_node's RealSense
# driver streams them from a librealsense software device fed by the twin (sim.wire.camera_feed)
WIRE_TWIN_CAMERAS = ("auto", "sim", "realsense")

# What the supervisor does when a node exits on its own (docs/fault_policy.md; `postbc launch --print`).
EXIT_POLICIES: dict[str, ExitPolicy] = {
    "arm_node": ExitPolicy(STOP_GRAPH, "the hardware boundary: a new arm node would take over motion no operator "
                                       "re-enabled; the graph stops and the arm holds"),
    "sim_node": ExitPolicy(STOP_GRAPH, "the twin is the robot and the clock: a restarted twin jumps scene, arm and "
                                       "time under the running nodes"),
    "episode_manager_node": ExitPolicy(STOP_GRAPH, "it owns the episode limit and e-stop; the arm node latches on "
                                                   "losing its heartbeat anyway, and a fresh one would restart the "
                                                   "episode count"),
    "replay_buffer_node": ExitPolicy(RESTART, "its store is crash-safe (only a torn tail is cut) and reopens "
                                              "where it stopped"),
    "learner_node": ExitPolicy(RESTART, "it resumes from its work_dir checkpoint; without it finetuning "
                                        "silently stops learning, so a spent budget stops the graph"),
    "policy_node": ExitPolicy(RESTART, "it reloads its checkpoint and the latest weights; the arm holds on its "
                                       "watchdog meanwhile"),
    "camera_node": ExitPolicy(RESTART, "a driver hiccup (USB) should not end a session; frames resume after "
                                       "the restart"),
    "observation_node": ExitPolicy(RESTART, "it keeps no state an episode needs (markers are re-found in the next "
                                            "frame); the policy gets no observation and the arm holds meanwhile"),
    "reset_operator_node": ExitPolicy(RESTART, "the operator's prompt reopens the terminal; episodes wait for "
                                               "the human reset meanwhile"),
    "wire_twin_node": ExitPolicy(STOP_GRAPH, "it is the cell's hardware: a restarted twin puts a new bus and "
                                             "scene under the running driver"),
    "teleop_node": ExitPolicy(RESTART, "takeover is optional in a finetune graph: after a spent budget the "
                                       "policy runs on without it", exhausted=IGNORE),
}
# collect graph: the operator's input is what the graph exists for; it exits 0 once the episode manager
# finished `episodes:=N` and the N-th demonstration is saved, which ends the collect
COLLECT_TELEOP_POLICY = ExitPolicy(RESTART, "the operator's input is what a collect graph exists for: a "
                                            "spent budget stops the graph; its exit 0 (the last of episodes:=N "
                                            "demonstrations saved) completes the collect", on_done=COMPLETE)
# finetune graph: with episodes:=N the episode manager exits 0 once the N-th episode is labelled, which ends the run
FINETUNE_EPISODES_POLICY = ExitPolicy(STOP_GRAPH, EXIT_POLICIES["episode_manager_node"].reason + "; its exit 0 "
                                      "(episodes:=N labelled) completes the finetune", on_done=COMPLETE)
OPERATOR_SCENE = OPERATOR_SCENE_TOPIC  # twins: the privileged task vector, the scripted operator's view of the cell
HW_ACCESS = {"arm_node": HW_COMMAND, "sim_node": HW_LISTEN}  # nobody else may name the hardware topic

COMMON_ARGS = [
    LaunchArg("robot", DEFAULT_ROBOT, "arm model (postbc_ros.robots registry)", robot_names),
    LaunchArg("task", "reach", "twin task (sim:=true) or task label (real robot)", TASKS),
    LaunchArg("sim", "true", "true: MuJoCo twin (sim_node); false: real arm + camera + operator", BOOL),
    LaunchArg("wire_twin", "false", "with sim:=false: the real-robot graph against the wire-level twin (its "
              "Dynamixel bus on a pty under the real driver; camera, success and scripted resets from the twin)", BOOL),
    LaunchArg("observation", DEFAULT_TWIN_OBSERVATION, "what the policy and the recorder observe -- markers = "
              "joints + marker poses perceived in the (twin) camera's frames; proprio = joints, gripper, tool with the "
              "scene camera's images (sim:=false only: a cell without markers, image policies); privileged = the "
              "twin's object / goal positions (sim:=true only: simulation-only studies)",
              tuple(TWIN_OBSERVATIONS)),
    LaunchArg("namespaces", "robot1", "comma-separated robot namespaces; one set of robot nodes each"),
    LaunchArg("arm_backend", "auto",
              "arm backend; auto = ros2_control on the twin, the vendor driver on a real arm",
              ("auto", *ARM_BACKENDS, ROS2_CONTROL)),
    LaunchArg("camera_backend", "auto", "camera backend on a real robot; auto = realsense",
              ("auto", "realsense", "opencv", "sim")),
    LaunchArg("output_dir", "runs/postbc", "where replay data, checkpoints, datasets and logs go"),
    LaunchArg("episodes", "0", "stop after this many episodes (0 = run until shut down)"),
    LaunchArg("real_time_factor", "1.0", "twin speed relative to wall-clock time"),
    LaunchArg("seed", "0", "seed for the twin's scene randomisation"),
    LaunchArg("domain_id", "42", "ROS_DOMAIN_ID of every process"),
    LaunchArg("discovery_range", "LOCALHOST", "ROS_AUTOMATIC_DISCOVERY_RANGE (LOCALHOST keeps DDS on loopback)",
              ("LOCALHOST", "SUBNET", "SYSTEM_DEFAULT", "OFF")),
    LaunchArg("camera_size", "96", "twin camera image size in pixels (sim:=true); sim:=false: the side of the "
              "images collect records (the wire-level twin renders its calibration's resolution)"),
    LaunchArg("camera_rate", "10.0", "twin camera frame rate (Hz; 0 disables images)"),
]
FINETUNE_ARGS = [
    LaunchArg("checkpoint", "", "PostBC checkpoint directory (postbc pretrain --out)"),
    LaunchArg("mode", "dsrl", "pretrained: no learning; a finetuner (postbc_ros.rl.registry): online finetuning",
              ALGORITHMS),
    LaunchArg("demos", "", "demonstration dataset mixed into the learner's batches (optional)"),
    LaunchArg("publish_every", "1", "learner publishes new weights every N episodes"),
    LaunchArg("teleop", "none", "a teleop device per robot for human takeover (interventions)",
              ("none", "keyboard", "spacemouse", "gamepad")),
    LaunchArg("episode_time_limit", "0", "seconds before an episode ends as a failure "
              "(0 = the task horizon on the twin, 60 s on a real robot)"),
]
COLLECT_ARGS = [
    LaunchArg("device", "keyboard", "teleop device", TELEOP_DEVICES),
    LaunchArg("episode_time_limit", "60.0", "seconds before a demonstration is stopped"),
]

GRAPH_ARGS: dict[str, list[LaunchArg]] = {
    "finetune": COMMON_ARGS + FINETUNE_ARGS,
    "collect": COMMON_ARGS + COLLECT_ARGS,
    "sim": COMMON_ARGS,
}


def resolve_arguments(graph: str, given: dict[str, str]) -> dict[str, str]:
    """Defaults + given `name:=value` pairs, validated; unknown names raise with the known list."""
    if graph not in GRAPH_ARGS:
        raise KeyError(f"unknown graph {graph!r}: choose one of {sorted(GRAPH_ARGS)}")
    spec = {a.name: a for a in GRAPH_ARGS[graph]}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ValueError(f"graph {graph!r} has no launch argument(s) {unknown}; known: {sorted(spec)}")
    out = {a.name: a.default for a in GRAPH_ARGS[graph]}
    for k, v in given.items():
        out[k] = spec[k].validate(str(v))
    return out


def _ns_list(args: dict[str, str]) -> list[str]:
    names = [n.strip().strip("/") for n in args["namespaces"].split(",") if n.strip().strip("/")]
    if not names:
        raise ValueError("launch argument namespaces:= must name at least one robot namespace")
    if len(set(names)) != len(names):
        raise ValueError(f"launch argument namespaces:={args['namespaces']!r} repeats a namespace")
    return names


def _wire_twin(args: dict[str, str]) -> bool:
    """True for the real-robot graph against the wire-level twin; refuses what it cannot serve."""
    if args["wire_twin"] != "true":
        return False
    if args["sim"] == "true":
        raise ValueError("wire_twin:=true runs the real-robot graph through the real drivers: add sim:=false")
    if _arm_backend(args) not in WIRE_TWIN_BACKENDS:
        raise ValueError(f"wire_twin:=true: arm backend {_arm_backend(args)!r} has no wire-level twin yet; "
                         f"there is one for {list(WIRE_TWIN_BACKENDS)} (robot:=widowx, robot:=ur5e)")
    if args["camera_backend"] not in WIRE_TWIN_CAMERAS:
        raise ValueError(f"wire_twin:=true: camera_backend:={args['camera_backend']} cannot be fed by the twin; use one "
                         f"of {list(WIRE_TWIN_CAMERAS)} (auto/sim: the twin publishes its renders; realsense: through "
                         "the RealSense driver on a software device)")
    if args["camera_backend"] == "realsense" and float(args["camera_rate"]) <= 0:
        raise ValueError("wire_twin:=true camera_backend:=realsense: camera_rate:=0 renders no frames for the camera; "
                         "give a rate > 0 (Hz) or camera_backend:=auto")
    return True


def _twin_realsense(twin_rig: str, feed: str, args: dict[str, str]) -> dict[str, Any]:
    """camera_node's parameters for the wire twin's camera through the RealSense driver: the twin rig's
    calibration (its resolution and zero latency; nominal intrinsics, so the device's -- the twin
    camera's -- are used) and the feed's whole-number frame rate."""
    from postbc_ros.drivers.camera.calibration import load_camera_calibration
    from postbc_ros.sim.wire.camera_feed import feed_fps

    intr = load_camera_calibration(twin_rig, "scene").intrinsics
    return {"backend": "realsense", "serial": f"twin://{feed}", "rig": twin_rig, "width": intr.width,
            "height": intr.height, "fps": feed_fps(float(args["camera_rate"]))}


def _twin_judges(args: dict[str, str]) -> bool:
    """The twin's success detector ends episodes (the twin, or the wire-level twin's stand-in for a sensor)."""
    return args["sim"] == "true" or args["wire_twin"] == "true"


def _arm_backend(args: dict[str, str]) -> str:
    if args["arm_backend"] != "auto":
        return args["arm_backend"]
    if args["sim"] == "true":
        return ROS2_CONTROL
    return get_robot(args["robot"]).real_backend


def _node(executable: str, name: str, ns: str, args: dict[str, str], overrides: dict[str, Any],
          remappings: list[tuple[str, str]] | None = None, **kw) -> NodeSpec:
    overrides = dict(overrides)
    remappings = list(remappings or [])
    if args["sim"] == "true" and ns:
        # each twin is the clock of its own robot's nodes (it runs at real_time_factor); robots in
        # other namespaces have their own twin and clock, the shared learner/replay use wall time
        remappings.append(("/clock", f"/{ns}/clock"))
        if executable != "sim_node":
            overrides["use_sim_time"] = True
    params = merged_parameters(executable, name, args["robot"], overrides)
    kw.setdefault("on_exit", EXIT_POLICIES[executable])
    return NodeSpec(name=name, executable=executable, namespace=ns, parameters=params,
                    remappings=remappings, hw_access=HW_ACCESS.get(executable, ""), **kw)


def _robot_nodes(args: dict[str, str], ns: str, index: int, supervised: bool = False) -> list[NodeSpec]:
    """Hardware side of one robot: twin or real camera/operator, plus the arm controller (`supervised`:
    the graph has an episode manager, whose heartbeat the arm requires)."""
    robot = args["robot"]
    entry = get_robot(robot)
    sim, wire = args["sim"] == "true", _wire_twin(args)
    _observation(args)  # refuses an observation the cell cannot make
    port_link = f"{args['output_dir']}/wire_twin/{ns}.port"  # wire twin: the pty's link, arm_node's port
    hw_link = {"port": port_link}
    if wire and _arm_backend(args) == "ur_rtde":  # the RTDE controller's socket, arm_node's host twin://<abs path>
        port_link = f"{args['output_dir']}/wire_twin/{ns}.rtde"
        hw_link = {"host": twin_host(os.path.abspath(port_link))}
    nodes: list[NodeSpec] = []
    if sim:
        get_twin(robot)  # a robot without a twin: a clear error naming the robots that have one
        nodes.append(_node("sim_node", "sim", ns, args, {
            "robot": robot, "task": args["task"], "seed": int(args["seed"]) + 1000 * index,
            "real_time_factor": float(args["real_time_factor"]), "observation": args["observation"],
            "camera_size": int(args["camera_size"]), "camera_rate": float(args["camera_rate"]),
        }, remappings=[("joint_states", "hw/joint_states"),
                       ("joint_trajectory", "hw/joint_trajectory_controller/joint_trajectory"),
                       ("reset_scene", "human_reset")]))
    elif wire:  # the cell's hardware is the twin: bus on a pty, camera, success; a scripted operator resets
        feed = f"{args['output_dir']}/wire_twin/{ns}.camera" if args["camera_backend"] == "realsense" else ""
        nodes.append(_node("wire_twin_node", "wire_twin", ns, args, {
            "robot": robot, "task": args["task"], "seed": int(args["seed"]) + 1000 * index, "port_link": port_link,
            "camera_rate": float(args["camera_rate"]), "camera_feed": feed},
            remappings=[("observation/state", OPERATOR_SCENE)]))
        if feed:  # the twin's frames through the RealSense driver: a software device fed by the twin (twin:// serial)
            nodes.append(_node("camera_node", "camera", ns, args, _twin_realsense(entry.twin_rig, feed, args)))
        # what the policy and the recorder observe, as on a real cell; the twin camera's calibration files
        nodes.append(_node("observation_node", "observation", ns, args, {
            "robot": robot, "task": args["task"], "rig": entry.twin_rig, "layout": _observation(args)}))
        nodes.append(_node("reset_operator_node", "reset_operator", ns, args, {"input": "scripted"}))
    else:
        backend = "realsense" if args["camera_backend"] == "auto" else args["camera_backend"]
        nodes.append(_node("camera_node", "camera", ns, args, {"backend": backend, "rig": entry.rig}))
        # what the policy and the recorder observe on a real cell: joints + the markers the camera sees (or, with
        # observation:=proprio, joints, gripper and tool alone, paced by the camera whose images go with them)
        nodes.append(_node("observation_node", "observation", ns, args, {
            "robot": robot, "task": args["task"], "rig": entry.rig, "layout": _observation(args)}))
        nodes.append(_node("reset_operator_node", "reset_operator", ns, args, {}, interactive=True))
    nodes.append(_node("arm_node", "arm", ns, args, {
        "robot": robot, "backend": _arm_backend(args), "safety_rig": entry.twin_rig if sim else entry.rig,
        **(hw_link if wire else {}),  # the wire twin activates it, as an operator would
        # the twin walks itself to active; a real arm waits for `ros2 lifecycle set ... activate`
        "autostart": sim, **({"supervised": True} if supervised else {}),
        **({"control_rate": TWIN_CONTROL_RATE} if sim else {}),
    }, lifecycle=True))
    return nodes


def _observation(args: dict[str, str]) -> str:
    """What observation/state holds in this graph (`observation:=`): on the twin sim_node's (markers or
    privileged), on a real cell and the wire twin observation_node's layout (markers or proprio).
    Refuses, naming the fix, what the graph's cell cannot observe."""
    obs = args["observation"]
    if args["sim"] == "true" and obs == "proprio":
        raise ValueError("observation:=proprio is the observation of a real cell without markers (observation_node "
                         "layout proprio) and needs sim:=false (wire_twin:=true runs it against the twin); on the "
                         "twin use observation:=markers, or `postbc collect --obs-mode image` for its image mode")
    if args["sim"] != "true" and obs == "privileged":
        raise ValueError("observation:=privileged is the twin's object / goal positions read out of MuJoCo: a real "
                         "cell (sim:=false) has no such state; use observation:=markers (joints + marker poses) or "
                         "observation:=proprio (joints, gripper, tool + the scene camera's images), or sim:=true")
    return obs


def _time_limit(args: dict[str, str]) -> float:
    t = float(args["episode_time_limit"])
    if t > 0:
        return t
    if _twin_judges(args):
        from postbc_ros.sim.task_params import CONTROL_DT, HORIZONS

        return round(HORIZONS[args["task"]] * CONTROL_DT, 3)
    return REAL_EPISODE_TIME_LIMIT


def finetune_graph(args: dict[str, str]) -> list[NodeSpec]:
    nodes: list[NodeSpec] = []
    out, mode = args["output_dir"], args["mode"]
    for i, ns in enumerate(_ns_list(args)):
        nodes += _robot_nodes(args, ns, i, supervised=True)
        nodes.append(_node("policy_node", "policy", ns, args, {
            "checkpoint": args["checkpoint"], "mode": mode, "robot": args["robot"], "task": args["task"],
            "robot_id": ns, "seed": int(args["seed"]) + i,
            "observation": _observation(args),
        }, remappings=[("replay/transitions", "/replay/transitions"), ("policy/weights", "/learner/weights")]))
        nodes.append(_node("episode_manager_node", "episode_manager", ns, args, {
            "max_episodes": int(args["episodes"]), "time_limit": _time_limit(args),
            "success_source": "twin" if _twin_judges(args) else "operator",
            "log_path": f"{out}/episodes_{ns}.jsonl", "exit_when_finished": True,
        }, on_exit=FINETUNE_EPISODES_POLICY))
        if args["teleop"] != "none":
            nodes.append(_node("teleop_node", "teleop", ns, args, {
                "device": args["teleop"], "robot": args["robot"], "task": args["task"], "record": False,
                "takeover": True, "seed": int(args["seed"]) + i}, interactive=args["teleop"] == "keyboard"))
    nodes.append(_node("replay_buffer_node", "replay_buffer", "", args, {"store_dir": f"{out}/replay"}))
    if mode != "pretrained":
        nodes.append(_node("learner_node", "learner", "", args, {
            "checkpoint": args["checkpoint"], "algorithm": mode, "demos": args["demos"],
            "work_dir": f"{out}/learner", "publish_every": int(args["publish_every"]),
            "seed": int(args["seed"]),
        }, nice=LEARNER_NICE))
    return nodes


def collect_graph(args: dict[str, str]) -> list[NodeSpec]:
    nodes: list[NodeSpec] = []
    out = args["output_dir"]
    for i, ns in enumerate(_ns_list(args)):
        nodes += _robot_nodes(args, ns, i, supervised=True)
        real = args["sim"] != "true"  # a cell's observation (markers | proprio) and its scene camera's frames
        cell = _observation(args) != "privileged"  # the scripted operator plans from the twin's scene instead
        nodes.append(_node("teleop_node", "teleop", ns, args, {
            "device": args["device"], "robot": args["robot"], "task": args["task"],
            "dataset_dir": f"{out}/demos_{ns}", "seed": int(args["seed"]) + i,
            "observation": _observation(args) if cell else "twin",
            **({"camera": "scene", "image_size": int(args["camera_size"])} if real else {}),
            **({"scene_topic": OPERATOR_SCENE} if cell and _twin_judges(args) and args["device"] == "scripted"
               else {}),
        }, on_exit=COLLECT_TELEOP_POLICY))
        nodes.append(_node("episode_manager_node", "episode_manager", ns, args, {
            "max_episodes": int(args["episodes"]), "time_limit": _time_limit(args),
            "success_source": "twin" if _twin_judges(args) else "operator",
            "log_path": f"{out}/episodes_{ns}.jsonl", "ready_topic": "teleop/status",
            **({"after_success": _settle_seconds()} if _twin_judges(args) else {}),
        }))
    return nodes


def _settle_seconds() -> float:
    """How long a twin demonstration goes on after success: the settle steps `postbc collect` records."""
    from postbc_ros.data.collect import SETTLE_STEPS
    from postbc_ros.sim.task_params import CONTROL_DT

    return round(SETTLE_STEPS * CONTROL_DT, 3)


def sim_graph(args: dict[str, str]) -> list[NodeSpec]:
    nodes: list[NodeSpec] = []
    for i, ns in enumerate(_ns_list(args)):
        nodes += _robot_nodes(args, ns, i)
    return nodes


BUILDERS: dict[str, Callable[[dict[str, str]], list[NodeSpec]]] = {
    "finetune": finetune_graph,
    "collect": collect_graph,
    "sim": sim_graph,
}


def graph_env(args: dict[str, str]) -> dict[str, str]:
    """Environment every process of the graph gets."""
    return {
        "ROS_DOMAIN_ID": str(int(args["domain_id"])),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": args["discovery_range"],
        # Fast DDS: TCP + shared memory transports sized for images (cuts 640x480 latency ~3x)
        "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
    }


def build_graph(name: str, given: dict[str, str] | None = None) -> GraphSpec:
    args = resolve_arguments(name, dict(given or {}))
    return GraphSpec(name=name, arguments=args, nodes=BUILDERS[name](args), env=graph_env(args))
