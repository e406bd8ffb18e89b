#!/usr/bin/env python3
"""Generate the MuJoCo twins' MJCF files in models/ (the generated XML is committed).

Why a script: the UR5e bodies are placed from the published DH table and the WidowX bodies
from the Interbotix URDF offsets, both read from postbc_ros.robots (the single source of
truth for kinematics and limits), so the MJCF cannot drift from the numpy FK. Run
    python models/generate_models.py
after changing postbc_ros/robots/ and commit the result.

Files written
- scene/table.xml            shared options, visual settings (shadows off), materials, table,
                             floor, light
- <arm_model>.xml            complete twin: table scene + arm + gripper + scene/wrist cameras
- <prefix>_<task>.xml        twin + the task's objects (reach/push/pick_place; reach_obstacle where
                             the arm's TaskParams has an obstacle: docs/coverage_tasks.md), each
                             object labelled with its ArUco marker card (TwinData.markers(task))
- markers/<dict>_<id>.png    the marker textures, drawn here by cv2.aruco.generateImageMarker
                             (no downloaded assets; docs/perception.md)
(file names and task geometry: each robot module's `TWIN`, named by its registry entry)

Collision groups: arm geoms contype=2 conaffinity=1 (no arm self-collision), world and object
geoms contype=1 conaffinity=3, visual-only geoms contype=conaffinity=0.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from postbc_ros.robots import TaskParams, TwinData, ur5e, widowx  # noqa: E402
from postbc_ros.robots.twin_data import (  # noqa: E402
    ARUCO_DICTIONARY, MARKER_CELLS, MARKER_MARGIN_CELLS, MARKER_THICKNESS, MarkerSpec,
)
from postbc_ros.sim.task_params import TASKS  # noqa: E402

ARM = 'contype="2" conaffinity="1"'
WORLD = 'contype="1" conaffinity="3"'
VISUAL = 'contype="0" conaffinity="0"'
MARKER_PX_PER_CELL = 16  # texture pixels per marker cell (8 cells with the quiet zone: 128 px)


def f(*xs) -> str:
    """Format numbers for MJCF attributes."""
    return " ".join(f"{x:.6g}" for x in xs)


def look_at_xyaxes(eye, target) -> str:
    """MJCF camera xyaxes for a camera at `eye` looking at `target` with world z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    x = np.cross(fwd, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(x, fwd)
    return f(*x, *y)


def table_scene() -> str:
    """Shared scene pieces: options, visual quality (no shadows), materials, floor, light."""
    return """<mujoco model="postbc_table_scene">
  <!-- Shared by every twin. Shadows and reflections are off: they dominate render time. -->
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.004" integrator="implicitfast" cone="elliptic" impratio="10">
    <!-- several contact points per convex pair: cylinders stand still on boxes -->
    <flag multiccd="enable"/>
  </option>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="640" offheight="480"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <asset>
    <material name="table" rgba="0.72 0.58 0.42 1" reflectance="0"/>
    <material name="floor" rgba="0.35 0.35 0.38 1" reflectance="0"/>
    <material name="arm_dark" rgba="0.15 0.15 0.17 1"/>
    <material name="arm_light" rgba="0.75 0.78 0.82 1"/>
    <material name="arm_blue" rgba="0.2 0.45 0.75 1"/>
    <material name="finger" rgba="0.25 0.25 0.28 1"/>
  </asset>
  <default>
    <geom friction="1.0 0.005 0.0001" solref="0.01 1" solimp="0.95 0.99 0.001"/>
  </default>
  <worldbody>
    <light name="key" directional="true" castshadow="false" pos="0 0 3" dir="0.2 0.1 -1"
           diffuse="0.6 0.6 0.6" specular="0 0 0"/>
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 -0.75" material="floor" """ + VISUAL + """/>
  </worldbody>
</mujoco>
"""


def table_geom(cx: float, cy: float, hx: float, hy: float) -> str:
    """Table whose top surface is the plane z = 0 (the robot base stands on it). Collision is a
    plane (analytic, stable contacts); the box below it only draws the table's thickness."""
    return (
        f'    <geom name="table" type="plane" size="{f(hx, hy, 0.01)}" pos="{f(cx, cy, 0)}" '
        f'material="table" {WORLD}/>\n'
        f'    <geom name="table_body" type="box" size="{f(hx, hy, 0.02)}" pos="{f(cx, cy, -0.0201)}" '
        f'material="table" {VISUAL}/>\n'
    )


# --------------------------------------------------------------------------- WidowX 250 6DOF
def widowx_xml() -> str:
    """WidowX 250 6-DOF twin: bodies at the URDF joint origins, capsule collision geometry."""
    p = widowx.TASK
    off = widowx.JOINT_OFFSETS
    lo, hi = widowx.LOWER, widowx.UPPER
    fl, fo = widowx.FINGER_RANGE
    tool = widowx.TOOL_OFFSET[0]
    cx, cy = p.workspace_center
    eye = (cx + 0.34, cy - 0.04, 0.36)
    cam = look_at_xyaxes(eye, (cx - 0.04, cy, 0.0))
    axes = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}
    names = widowx.JOINT_NAMES
    rng = lambda i: f(lo[i], hi[i])  # noqa: E731
    return f"""<mujoco model="widowx250">
  <!-- Generated by models/generate_models.py from postbc_ros/robots/widowx.py
       (Interbotix wx250s.urdf.xacro link offsets and joint limits). Do not edit by hand. -->
  <include file="scene/table.xml"/>
  <default>
    <default class="wx_joint">
      <joint damping="0.5" armature="0.01" frictionloss="0.01"/>
    </default>
  </default>
  <worldbody>
{table_geom(cx, cy, 0.45, 0.45)}    <camera name="scene" pos="{f(*eye)}" xyaxes="{cam}" fovy="50"/>
    <body name="base_link" pos="0 0 0">
      <geom name="base" type="cylinder" size="0.05 0.036" pos="0 0 0.036" material="arm_dark" {ARM}/>
      <body name="shoulder_link" pos="{f(*off[0])}" gravcomp="1">
        <joint name="{names[0]}" class="wx_joint" axis="{axes['z']}" range="{rng(0)}"/>
        <geom type="cylinder" size="0.035 0.02" pos="0 0 0.02" mass="0.48" material="arm_dark" {ARM}/>
        <body name="upper_arm_link" pos="{f(*off[1])}" gravcomp="1">
          <joint name="{names[1]}" class="wx_joint" axis="{axes['y']}" range="{rng(1)}"/>
          <geom type="capsule" size="0.022" fromto="0 0 0 {f(*off[2])}" mass="0.43" material="arm_dark" {ARM}/>
          <body name="upper_forearm_link" pos="{f(*off[2])}" gravcomp="1">
            <joint name="{names[2]}" class="wx_joint" axis="{axes['y']}" range="{rng(2)}"/>
            <geom type="capsule" size="0.02" fromto="0 0 0 {f(*off[3])}" mass="0.23" material="arm_dark" {ARM}/>
            <body name="lower_forearm_link" pos="{f(*off[3])}" gravcomp="1">
              <joint name="{names[3]}" class="wx_joint" axis="{axes['x']}" range="{rng(3)}"/>
              <geom type="capsule" size="0.018" fromto="0 0 0 {f(*off[4])}" mass="0.22" material="arm_dark" {ARM}/>
              <body name="wrist_link" pos="{f(*off[4])}" gravcomp="1">
                <joint name="{names[4]}" class="wx_joint" axis="{axes['y']}" range="{rng(4)}"/>
                <geom type="capsule" size="0.017" fromto="0 0 0 {f(*off[5])}" mass="0.085" material="arm_dark" {ARM}/>
                <body name="gripper_link" pos="{f(*off[5])}" gravcomp="1">
                  <joint name="{names[5]}" class="wx_joint" axis="{axes['x']}" range="{rng(5)}"/>
                  <geom name="gripper_body" type="box" size="0.022 0.03 0.018" pos="0.03 0 0" mass="0.11" material="arm_dark" {ARM}/>
                  <site name="flange" pos="0 0 0" size="0.005" rgba="1 0 0 0"/>
                  <site name="tool" pos="{f(tool, 0, 0)}" size="0.006" rgba="1 0 0 0"/>
                  <camera name="wrist" pos="0.045 0 0.05" xyaxes="0 -1 0 0.34 0 0.94" fovy="75"/>
                  <body name="left_finger_link" pos="{f(0.066, 0, 0)}" gravcomp="1">
                    <joint name="left_finger" type="slide" axis="0 1 0" range="{f(fl, fo)}" damping="2" armature="0.01"/>
                    <geom name="left_pad" type="box" size="0.02 0.005 0.011" pos="0.018 -0.009 0" mass="0.016" material="finger" friction="1.5 0.01 0.001" condim="4" {ARM}/>
                  </body>
                  <body name="right_finger_link" pos="{f(0.066, 0, 0)}" gravcomp="1">
                    <joint name="right_finger" type="slide" axis="0 1 0" range="{f(-fo, -fl)}" damping="2" armature="0.01"/>
                    <geom name="right_pad" type="box" size="0.02 0.005 0.011" pos="0.018 0.009 0" mass="0.016" material="finger" friction="1.5 0.01 0.001" condim="4" {ARM}/>
                  </body>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <!-- Position servos. ctrlrange = the joint range; the velocity limit (pi rad/s, URDF) is
         enforced by the Twin, which moves each setpoint at most v_max * dt per physics step. -->
{_position_actuators(names, lo, hi, kp=120.0, force=20.0)}    <position name="left_finger" joint="left_finger" kp="300" dampratio="1" ctrlrange="{f(fl, fo)}" forcerange="-6 6"/>
    <position name="right_finger" joint="right_finger" kp="300" dampratio="1" ctrlrange="{f(-fo, -fl)}" forcerange="-6 6"/>
  </actuator>
</mujoco>
"""


def _position_actuators(names, lo, hi, kp: float, force: float) -> str:
    return "".join(
        f'    <position name="{n}" joint="{n}" kp="{kp:g}" dampratio="1" ctrlrange="{f(lo[i], hi[i])}" '
        f'forcerange="{f(-force, force)}"/>\n'
        for i, n in enumerate(names)
    )


# ------------------------------------------------------------------------------------ UR5e
def _quat_rx(alpha: float) -> str:
    return f(math.cos(alpha / 2), math.sin(alpha / 2), 0.0, 0.0)


def ur5e_xml() -> str:
    """UR5e twin: body i+1 placed at the static part of DH link i (Tz(d) Tx(a) Rx(alpha)), every
    hinge about the body's z axis, so the MuJoCo FK is the DH FK by construction."""
    p = ur5e.TASK
    d, a, al = ur5e.DH_D, ur5e.DH_A, ur5e.DH_ALPHA
    lo, hi = ur5e.LOWER, ur5e.UPPER
    names = ur5e.JOINT_NAMES
    masses = [3.761, 8.058, 2.846, 1.37, 1.3, 0.365]  # UR5e published link masses [kg]
    radii = [0.06, 0.055, 0.045, 0.04, 0.04, 0.038]
    mats = ["arm_blue", "arm_light", "arm_light", "arm_blue", "arm_blue", "arm_dark"]
    cx, cy = p.workspace_center
    eye = (cx + 0.52, cy - 0.05, 0.55)
    cam = look_at_xyaxes(eye, (cx - 0.06, cy, 0.0))
    tool = ur5e.TOOL_OFFSET
    # nested bodies
    body_xml = []
    indent = "    "
    for i in range(6):
        ind = indent + "  " * (i + 1)
        if i == 0:
            pos, quat = f(0, 0, 0), f(1, 0, 0, 0)
        else:
            pos, quat = f(a[i - 1], 0, d[i - 1]), _quat_rx(al[i - 1])
        seg = f(0, 0, 0, a[i], 0, d[i]) if i < 5 else f(0, 0, 0, 0, 0, d[5] - 0.01)
        if i == 0:  # keep the shoulder housing above the table plane
            seg = f(0, 0, 0.07, 0, 0, d[0])
        body_xml.append(
            f'{ind}<body name="link{i + 1}" pos="{pos}" quat="{quat}" gravcomp="1">\n'
            f'{ind}  <joint name="{names[i]}" class="ur_joint" axis="0 0 1" range="{f(lo[i], hi[i])}"/>\n'
            f'{ind}  <geom type="capsule" size="{radii[i]:g}" fromto="{seg}" mass="{masses[i]:g}" '
            f'material="{mats[i]}" {ARM}/>\n'
        )
    ind = indent + "  " * 7
    z0 = d[5]  # flange plane in link6 frame
    gripper = f"""{ind}<site name="flange" pos="{f(0, 0, z0)}" size="0.005" rgba="1 0 0 0"/>
{ind}<site name="tool" pos="{f(0, 0, z0 + tool)}" size="0.006" rgba="1 0 0 0"/>
{ind}<geom name="gripper_body" type="box" size="0.05 0.025 0.04" pos="{f(0, 0, z0 + 0.045)}" mass="0.6" material="arm_dark" {ARM}/>
{ind}<camera name="wrist" pos="{f(0, 0.06, z0 + 0.09)}" xyaxes="1 0 0 0 -0.94 -0.34" fovy="65"/>
{ind}<body name="left_finger_link" pos="{f(0, 0, z0 + 0.1)}" gravcomp="1">
{ind}  <joint name="left_finger" type="slide" axis="1 0 0" range="0 0.0425" damping="5" armature="0.05"/>
{ind}  <geom name="left_stem" type="box" size="0.006 0.011 0.012" pos="0.006 0 -0.005" mass="0.05" material="finger" {ARM}/>
{ind}  <geom name="left_pad" type="box" size="0.006 0.011 0.025" pos="0.006 0 0.04" mass="0.05" material="finger" friction="1.5 0.01 0.001" condim="4" {ARM}/>
{ind}</body>
{ind}<body name="right_finger_link" pos="{f(0, 0, z0 + 0.1)}" gravcomp="1">
{ind}  <joint name="right_finger" type="slide" axis="1 0 0" range="-0.0425 0" damping="5" armature="0.05"/>
{ind}  <geom name="right_stem" type="box" size="0.006 0.011 0.012" pos="-0.006 0 -0.005" mass="0.05" material="finger" {ARM}/>
{ind}  <geom name="right_pad" type="box" size="0.006 0.011 0.025" pos="-0.006 0 0.04" mass="0.05" material="finger" friction="1.5 0.01 0.001" condim="4" {ARM}/>
{ind}</body>
"""
    closing = "".join(f'{indent + "  " * (i + 1)}</body>\n' for i in reversed(range(6)))
    return f"""<mujoco model="ur5e">
  <!-- Generated by models/generate_models.py from postbc_ros/robots/ur5e.py (UR5e DH table,
       datasheet limits; elbow +-pi as in ur_description). Simple 2-finger parallel gripper
       (85 mm stroke); tool site = grasp point {tool} m from the flange. Do not edit by hand. -->
  <include file="scene/table.xml"/>
  <default>
    <default class="ur_joint">
      <joint damping="5" armature="0.1" frictionloss="0.1"/>
    </default>
  </default>
  <worldbody>
{table_geom(cx - 0.05, cy, 0.6, 0.6)}    <camera name="scene" pos="{f(*eye)}" xyaxes="{cam}" fovy="50"/>
    <body name="base_link" pos="0 0 0">
      <geom name="base" type="cylinder" size="0.075 0.04" pos="0 0 0.04" material="arm_blue" {ARM}/>
{''.join(body_xml)}{gripper}{closing}    </body>
  </worldbody>
  <actuator>
    <!-- Position servos; the 180 deg/s velocity limit is enforced by the Twin's setpoint
         rate limiter (v_max * dt per physics step). -->
{_position_actuators(names, lo, hi, kp=3000.0, force=150.0)}    <position name="left_finger" joint="left_finger" kp="1500" dampratio="1" ctrlrange="0 0.0425" forcerange="-40 40"/>
    <position name="right_finger" joint="right_finger" kp="1500" dampratio="1" ctrlrange="-0.0425 0" forcerange="-40 40"/>
  </actuator>
</mujoco>
"""


# ----------------------------------------------------------------------------------- tasks
def marker_texture_file(marker_id: int) -> str:
    """Texture file (under models/) of one marker."""
    return f"markers/{ARUCO_DICTIONARY.lower()}_{marker_id}.png"


def marker_textures() -> dict[str, bytes]:
    """File name under models/ -> PNG of every marker id the twins use: the black square drawn by
    cv2.aruco.generateImageMarker with a white quiet zone of MARKER_MARGIN_CELLS cells."""
    import cv2

    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICTIONARY))
    ids = sorted({m.marker_id for robot in (widowx, ur5e) for task in TASKS
                  if task != "reach_obstacle" or robot.TWIN.task.obstacle is not None
                  for m in robot.TWIN.markers(task)})
    out = {}
    for i in ids:
        img = cv2.aruco.generateImageMarker(dictionary, i, MARKER_CELLS * MARKER_PX_PER_CELL, borderBits=1)
        pad = MARKER_MARGIN_CELLS * MARKER_PX_PER_CELL
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        ok, png = cv2.imencode(".png", img)
        assert ok, f"cv2.imencode failed for marker {i}"
        out[marker_texture_file(i)] = png.tobytes()
    return out


def marker_assets(markers: tuple[MarkerSpec, ...]) -> str:
    """<asset> entries: one texture + material per marker id of a task."""
    return "".join(
        f'    <texture name="aruco_{i}" type="2d" file="{marker_texture_file(i)}"/>\n'
        f'    <material name="aruco_{i}" texture="aruco_{i}" specular="0" reflectance="0"/>\n'
        for i in sorted({m.marker_id for m in markers}))


def marker_geoms(markers: tuple[MarkerSpec, ...], body: str) -> str:
    """The marker cards carried by `body`: a thin textured box whose top face is the printed
    marker (visual only, massless) and a site at the centre of that face (the ground truth of the
    marker's position), in a child body welded to `body` at that face: a massless geom in `body`
    itself would change the order of its principal axes of inertia, and with it the rounding of
    the physics; in a child body the scene's physics stays bit-identical."""
    out = []
    for m in markers:
        if m.body != body:
            continue
        c, t = m.card_side / 2, MARKER_THICKNESS / 2
        out.append(
            f'      <body name="marker_{m.name}" pos="{f(*m.face)}" xyaxes="{f(*m.xyaxes)}">\n'
            f'        <geom name="marker_{m.name}" type="box" size="{f(c, c, t)}" pos="{f(0, 0, -t)}" '
            f'material="aruco_{m.marker_id}" mass="0" {VISUAL}/>\n'
            f'        <site name="marker_{m.name}" pos="0 0 0" size="0.002" rgba="0 0 0 0"/>\n'
            f'      </body>\n')
    return "".join(out)


def task_objects(p: TaskParams, task: str, markers: tuple[MarkerSpec, ...] = ()) -> str:
    """Worldbody of the task's objects, sized by one arm's task geometry `p`, with `markers`."""
    mk = lambda body: marker_geoms(markers, body)  # noqa: E731
    if task == "reach":
        return f"""    <body name="goal" mocap="true" pos="{f(*p.workspace_center, 0.1)}">
      <geom name="goal_marker" type="sphere" size="{p.reach_tol:g}" rgba="0.1 0.85 0.2 0.6" {VISUAL}/>
{mk("goal")}    </body>
"""
    if task == "reach_obstacle":
        # a fixed post (mocap: moved per layout, never by contact) that collides with the arm;
        # drawn translucent so that the scene camera still sees the arm behind it
        ob = p.obstacle
        return task_objects(p, "reach", markers) + f"""    <body name="obstacle" mocap="true" pos="{f(*p.obstacle.low, 0.0)}">
      <geom name="obstacle" type="cylinder" size="{f(ob.radius, ob.height / 2)}" pos="{f(0, 0, ob.height / 2)}" rgba="0.45 0.45 0.5 0.45" {WORLD}/>
{mk("obstacle")}    </body>
"""
    if task == "push":
        r, h = p.puck_radius, p.puck_half_height
        return f"""    <body name="goal" mocap="true" pos="{f(*p.workspace_center, 0.0005)}">
      <geom name="goal_marker" type="cylinder" size="{f(p.push_tol, 0.0005)}" rgba="0.1 0.85 0.2 0.8" {VISUAL}/>
{mk("goal")}    </body>
    <body name="object" pos="{f(*p.workspace_center, h)}">
      <freejoint name="object_joint"/>
      <geom name="object" type="cylinder" size="{f(r, h)}" mass="{p.puck_mass:g}" rgba="0.9 0.15 0.1 1" friction="0.6 0.005 0.0001" condim="4" {WORLD}/>
{mk("object")}    </body>
"""
    if task == "pick_place":
        r, h = p.obj_radius, p.obj_half_height
        br, bh, wall = p.bowl_radius, p.bowl_height, 0.006
        walls = []
        n = 12
        seg = 2 * (br + wall) * math.tan(math.pi / n) / 2 + 0.002
        for k in range(n):
            th = 2 * math.pi * k / n
            walls.append(
                f'      <geom type="box" size="{f(wall, seg, bh / 2)}" pos="{f((br + wall) * math.cos(th), (br + wall) * math.sin(th), bh / 2)}" '
                f'euler="0 0 {th:.6g}" rgba="0.2 0.35 0.8 1" {WORLD}/>\n'
            )
        return f"""    <body name="goal" mocap="true" pos="{f(*p.workspace_center, 0.0)}">
      <geom name="bowl_bottom" type="cylinder" size="{f(br + wall, 0.003)}" pos="0 0 0.003" rgba="0.2 0.35 0.8 1" {WORLD}/>
{''.join(walls)}{mk("goal")}    </body>
    <body name="object" pos="{f(*p.workspace_center, h)}">
      <freejoint name="object_joint"/>
      <geom name="object" type="cylinder" size="{f(r, h)}" mass="{p.obj_mass:g}" rgba="0.95 0.8 0.1 1" friction="1.5 0.01 0.001" condim="4" {WORLD}/>
{mk("object")}    </body>
"""
    raise ValueError(task)


def task_xml(twin: TwinData, task: str) -> str:
    markers = twin.markers(task)
    return f"""<mujoco model="{twin.task_model_prefix}_{task}">
  <!-- Generated by models/generate_models.py. Do not edit by hand. -->
  <include file="{twin.model_file()}"/>
  <asset>
{marker_assets(markers)}  </asset>
  <worldbody>
{task_objects(twin.task, task, markers)}  </worldbody>
</mujoco>
"""


def model_files() -> dict[str, str]:
    """File name under models/ -> MJCF text, for every arm generated here."""
    out = {"scene/table.xml": table_scene()}
    for robot, arm_xml in ((widowx, widowx_xml), (ur5e, ur5e_xml)):
        out[robot.TWIN.model_file()] = arm_xml()
        for task in TASKS:
            if task == "reach_obstacle" and robot.TWIN.task.obstacle is None:
                continue
            out[robot.TWIN.model_file(task)] = task_xml(robot.TWIN, task)
    return out


def main() -> None:
    (HERE / "scene").mkdir(exist_ok=True)
    out = model_files()
    for name, text in out.items():
        (HERE / name).write_text(text)
        print("wrote", HERE / name)
    (HERE / "markers").mkdir(exist_ok=True)
    for name, png in marker_textures().items():
        (HERE / name).write_bytes(png)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
