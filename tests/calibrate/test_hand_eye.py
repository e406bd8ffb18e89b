"""Hand-eye with a KNOWN camera pose: synthetic arm poses (the WidowX FK), board observations
synthesised from them (projected corners + noise -> solvePnP), eye-in-hand and eye-to-hand; the
CLI on a capture folder of rendered images; the wrist-link transforms against the MuJoCo twins."""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from synth import D_TRUE, K_TRUE, SPEC, board_centre, pose, render_view, rot  # noqa: E402

from postbc_ros.calibrate.board import Detection, board_pose  # noqa: E402
from postbc_ros.calibrate.hand_eye import HandEyeError, Sample, solve_hand_eye  # noqa: E402
from postbc_ros.robots import get_robot_spec  # noqa: E402

ROT_TOL_DEG = 1.0
TRANS_TOL_M = 0.005
PIXEL_NOISE = 0.15  # px, like the ChArUco corner noise measured on the renders


def fk4(q, robot="widowx"):
    p, R = get_robot_spec(robot).fk(q)
    return pose(R, p)


def arm_poses(n=12, seed=0, scale=1.0):
    """Random joint poses about home: the tool turns by up to ~30 deg about every axis (x scale)."""
    rng = np.random.default_rng(seed)
    home = get_robot_spec("widowx").home
    return [home + scale * rng.uniform(-1, 1, 6) * np.array([0.35, 0.2, 0.2, 0.5, 0.35, 0.6]) for _ in range(n)]


def observe(T_cam_board, rng):
    """Board corners projected with the known camera + noise -> the board pose solvePnP finds."""
    import cv2

    obj = SPEC.board().getChessboardCorners().astype(np.float64)
    img = cv2.projectPoints(obj, cv2.Rodrigues(T_cam_board[:3, :3])[0], T_cam_board[:3, 3], K_TRUE, D_TRUE)[0].reshape(-1, 2)
    seen = (img[:, 0] >= 0) & (img[:, 0] < 640) & (img[:, 1] >= 0) & (img[:, 1] < 480)  # only corners in the image
    assert seen.sum() >= 6
    det = Detection(np.flatnonzero(seen), img[seen] + rng.normal(0, PIXEL_NOISE, (seen.sum(), 2)), obj[seen])
    return board_pose(det, K_TRUE, D_TRUE)[0]


def rot_err_deg(A, B):
    R = A[:3, :3].T @ B[:3, :3]
    return np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))


def look_at(eye, target, up=(0.0, 0.0, 1.0)):
    """base <- camera optical frame (z forward, y down) at `eye` looking at `target`."""
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    return pose(np.column_stack([x, np.cross(z, x), z]), eye)


HOME = fk4(get_robot_spec("widowx").home)  # tool straight down, ~0.16 m above the table
BOARD_ON_TABLE = pose(rot(0, 0, 0.3) @ rot(np.pi, 0, 0), [0.30, 0.0, 0.0]) @ pose(np.eye(3), -board_centre())  # printed side up
# wrist camera (on a mast): 30 cm above, 5 cm behind the tool point, looking at the board under the tool at home
X_WRIST = np.linalg.inv(HOME) @ look_at(HOME[:3, 3] + [-0.05, 0.03, 0.30], [0.30, 0.0, 0.0])
# fixed camera in front of the arm, looking back at the tool; the board held 3 cm in front of the tool,
# facing that camera at home
X_FIXED = look_at(np.array([0.75, 0.05, 0.40]), HOME[:3, 3])
Y_BOARD = np.linalg.inv(HOME) @ pose(X_FIXED[:3, :3], HOME[:3, 3] + [0.03, 0, 0]) @ pose(np.eye(3), -board_centre())


@pytest.mark.parametrize("mode", ["eye_in_hand", "eye_to_hand"])
def test_known_hand_eye_is_recovered(mode):
    rng = np.random.default_rng(1)
    qs = arm_poses(scale=0.6 if mode == "eye_in_hand" else 1.0)  # the wrist camera keeps the board in view
    samples = []
    if mode == "eye_in_hand":  # board fixed on the table, under the tool's path
        X = X_WRIST
        Cs = [np.linalg.inv(fk4(q) @ X) @ BOARD_ON_TABLE for q in qs]
    else:  # camera fixed in front of the arm looking back at it; the board held by the gripper
        X = X_FIXED
        Cs = [np.linalg.inv(X) @ fk4(q) @ Y_BOARD for q in qs]
    for i, (q, C) in enumerate(zip(qs, Cs)):
        assert (C @ np.append(board_centre(), 1))[2] > 0.1, "the board must be in front of the camera"
        samples.append(Sample(fk4(q), observe(C, rng), f"s{i}"))
    res = solve_hand_eye(samples, mode)
    assert rot_err_deg(res.X, X) < ROT_TOL_DEG, res.summary()
    assert np.linalg.norm(res.X[:3, 3] - X[:3, 3]) < TRANS_TOL_M, res.summary()
    assert res.residual_mm < 3.0 and res.residual_deg < 0.5, res.summary()


def test_degenerate_and_short_captures_are_refused():
    rng = np.random.default_rng(2)
    q = get_robot_spec("widowx").home
    same = [Sample(fk4(q + [0, 0, 0, 0, 0, 0.001 * k]), observe(np.linalg.inv(fk4(q) @ X_WRIST) @ BOARD_ON_TABLE, rng))
            for k in range(6)]
    with pytest.raises(HandEyeError, match="rotates only"):
        solve_hand_eye(same, "eye_in_hand")
    with pytest.raises(HandEyeError, match="need >= 5"):
        solve_hand_eye(same[:3], "eye_in_hand")


def test_wrist_links_match_the_twins():
    import mujoco

    from postbc_ros.calibrate.frames import WRIST_LINKS
    from postbc_ros.resources import resource_dir

    files = {"widowx": "widowx250.xml", "ur5e": "ur5e.xml"}
    for robot, (link, T_link_tool) in WRIST_LINKS.items():
        m = mujoco.MjModel.from_xml_path(str(resource_dir("models") / files[robot]))
        d = mujoco.MjData(m)
        q = np.random.default_rng(3).uniform(-1, 1, 6)
        d.qpos[:6] = q
        mujoco.mj_kinematics(m, d)
        b = m.body(link).id
        T_link = pose(d.xmat[b].reshape(3, 3), d.xpos[b])
        np.testing.assert_allclose(T_link @ T_link_tool, fk4(q, robot), atol=1e-4)


def test_cli_solves_a_capture_folder_and_writes_measured_extrinsics(tmp_path, capsys):
    import cv2

    from postbc_ros.calibrate.frames import WRIST_LINKS
    from postbc_ros.calibrate.hand_eye import write_capture
    from postbc_ros.calibrate.rig_files import update_camera_yaml
    from postbc_ros.cli.main import main
    from postbc_ros.drivers.camera.base import CameraIntrinsics
    from postbc_ros.drivers.camera.calibration import load_camera_calibration

    calib, cap = tmp_path / "calibration", tmp_path / "capture"
    path = calib / "widowx" / "camera_wrist.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(update_camera_yaml(path, "wrist", intrinsics=CameraIntrinsics(640, 480, K_TRUE, D_TRUE), rms_px=0.2))
    cap.mkdir()
    samples = []
    for i, q in enumerate(arm_poses(10, seed=4, scale=0.5)):
        cv2.imwrite(str(cap / f"{i:03d}.png"), render_view(np.linalg.inv(fk4(q) @ X_WRIST) @ BOARD_ON_TABLE))
        samples.append({"image": f"{i:03d}.png", "q": q.tolist()})
    write_capture(cap, "widowx", "eye_in_hand", SPEC, samples)
    assert json.loads((cap / "poses.json").read_text())["format"] == "postbc-hand-eye-capture"

    assert main(["calibrate", "hand-eye", "--rig", "widowx", "--camera", "wrist", "--mode", "eye_in_hand",
                 "--capture-dir", str(cap), "--calibration-dir", str(calib)]) == 0
    out = capsys.readouterr().out
    assert "residual" in out and "wrote" in out
    d = yaml.safe_load(path.read_text())
    assert d["extrinsics"]["measured"] is True and d["extrinsics"]["parent_frame"] == "gripper_link"
    assert d["measured"] is True  # intrinsics were measured before, still marked
    cal = load_camera_calibration(path)
    expect = WRIST_LINKS["widowx"][1] @ X_WRIST
    assert rot_err_deg(cal.extrinsics.matrix(), expect) < ROT_TOL_DEG
    assert np.linalg.norm(cal.extrinsics.translation - expect[:3, 3]) < TRANS_TOL_M

    (cap / "poses.json").write_text(json.dumps({"format": "postbc-hand-eye-capture", "version": 1, "samples": [{"image": "nope.png"}]}))
    assert main(["calibrate", "hand-eye", "--rig", "widowx", "--camera", "wrist", "--mode", "eye_in_hand",
                 "--capture-dir", str(cap), "--calibration-dir", str(calib)]) == 2
    assert "samples[0].image" in capsys.readouterr().err


def wrist_board_camera(arm):
    """A camera on the wrist (X_WRIST) rendering the board on the table from `arm`'s measured pose."""
    from postbc_ros.drivers.camera.base import Camera, Frame

    class BoardCamera(Camera):
        def _start(self):
            pass

        def stop(self):
            pass

        @property
        def intrinsics(self):
            return None

        def _read(self, timeout):
            T = np.linalg.inv(fk4(arm.read_state().q) @ X_WRIST) @ BOARD_ON_TABLE
            return Frame(np.repeat(render_view(T)[:, :, None], 3, axis=2), 0.0, None)

    return BoardCamera()


def test_live_capture_records_joint_states_and_frames(tmp_path):
    """hand-eye-capture through the driver interfaces: a fake arm and a camera rendering the board
    from the arm's pose; the folder it writes solves to the known X."""
    from postbc_ros.calibrate.capture import capture_hand_eye
    from postbc_ros.calibrate.hand_eye import read_capture, samples_from_capture
    from postbc_ros.drivers.arm import make_arm

    arm = make_arm("fake", "widowx", tau=1e-4)
    arm.connect()

    poses = iter(arm_poses(7, seed=5, scale=0.5))
    answers = []

    def operator(prompt):  # the operator moves the arm, then presses Enter
        answers.append(prompt)
        if "ends early" in prompt and len(answers) <= 6:
            q = next(poses)
            arm.command(q)
            time.sleep(0.01)
            return ""
        return "q"

    p = capture_hand_eye(arm, wrist_board_camera(arm), tmp_path, 10, "widowx", "eye_in_hand", SPEC, operator, lambda s: None)
    doc = read_capture(tmp_path)
    assert p.name == "poses.json" and len(doc["samples"]) == 6 and answers[0].startswith("Step 1/10")
    samples, skipped = samples_from_capture(tmp_path, K_TRUE, D_TRUE, get_robot_spec("widowx").fk)
    res = solve_hand_eye(samples, "eye_in_hand")
    assert not skipped and rot_err_deg(res.X, X_WRIST) < ROT_TOL_DEG and np.linalg.norm(res.X[:3, 3] - X_WRIST[:3, 3]) < TRANS_TOL_M


def test_live_capture_on_the_widowx_driver_in_free_drive(tmp_path):
    """hand-eye-capture with the WidowX driver on the simulated Dynamixel bus: before each pose the
    arm is released (torque off), the operator moves the servo shafts by hand, the arm is locked
    where they left it (torque on) and the sample read; the capture solves to the known X and
    ends with the arm holding."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "drivers"))
    from dxl_sim import widowx_bus

    from postbc_ros.calibrate.capture import capture_hand_eye
    from postbc_ros.calibrate.hand_eye import samples_from_capture
    from postbc_ros.drivers.arm import make_arm
    from postbc_ros.sim.wire.dynamixel_bus import REVERSE_PIVOT
    from postbc_ros.sim.wire.widowx_chain import ASSEMBLY_OFFSET, SHADOWS

    with widowx_bus() as bus:
        arm = make_arm("widowx", "widowx", port=bus.port)
        arm.connect()
        arm_ids = [*arm.cal.primary_ids, *arm.cal.shadow_ids]

        def move_by_hand(q):
            assert not any(bus.servos[i].torque for i in arm_ids), "the arm was not released for the operator"
            with bus.lock:
                for pid, reg in arm.q_to_ticks(q).items():
                    s = bus.servos[pid]
                    s.native = float(REVERSE_PIVOT - reg) if s.get(10, 1) & 1 else float(reg)  # Drive Mode bit 0
                for sid, pid in SHADOWS.items():  # a shadow's horn turns with its primary's
                    bus.servos[sid].native = REVERSE_PIVOT - bus.servos[pid].native + ASSEMBLY_OFFSET[sid]


        poses = iter(arm_poses(7, seed=5, scale=0.5))
        locked_at = []

        def operator(prompt):
            if "ends early" not in prompt:
                return ""
            locked_at.append(all(bus.servos[i].torque for i in arm_ids))
            q = next(poses, None)
            if q is None:
                return "q"
            move_by_hand(q)
            return ""

        try:
            capture_hand_eye(arm, wrist_board_camera(arm), tmp_path, 10, "widowx", "eye_in_hand", SPEC, operator, lambda s: None,
                             free_drive=True, settle_s=0.0)
            assert all(bus.servos[i].torque for i in arm_ids), "the capture ended with the arm released"
            assert not any(locked_at), "a pose was asked for while the arm was locked"
        finally:
            arm.disconnect()
    samples, skipped = samples_from_capture(tmp_path, K_TRUE, D_TRUE, get_robot_spec("widowx").fk)
    assert len(samples) == 7 and not skipped
    res = solve_hand_eye(samples, "eye_in_hand")
    assert rot_err_deg(res.X, X_WRIST) < ROT_TOL_DEG and np.linalg.norm(res.X[:3, 3] - X_WRIST[:3, 3]) < TRANS_TOL_M


def test_free_drive_needs_the_operators_yes_and_a_driver_that_can():
    from argparse import Namespace

    from postbc_ros.cli.calibrate_cmd import _free_drive_confirmed
    from postbc_ros.drivers.arm import make_arm
    from postbc_ros.drivers.arm.widowx import WidowXArm

    fake = make_arm("fake", "widowx")

    class Releasable:
        name, can_free_drive = "widowx", True
        free_drive_hazard = WidowXArm.free_drive_hazard

    asked = []
    assert _free_drive_confirmed(Namespace(free_drive="ask"), Releasable(), lambda p: asked.append(p) or "yes")
    assert "FALLS unless you support it" in asked[0]
    assert not _free_drive_confirmed(Namespace(free_drive="ask"), Releasable(), lambda p: "")
    assert _free_drive_confirmed(Namespace(free_drive="yes"), Releasable(), lambda p: pytest.fail("asked"))
    assert not _free_drive_confirmed(Namespace(free_drive="no"), Releasable(), lambda p: pytest.fail("asked"))
    assert not _free_drive_confirmed(Namespace(free_drive="ask"), fake, lambda p: pytest.fail("asked"))
    with pytest.raises(SystemExit, match="cannot release the arm"):
        _free_drive_confirmed(Namespace(free_drive="yes"), fake, lambda p: "")
