"""`postbc calibrate ...`: measure a real rig and write calibration/<rig>/ with `measured: true`.

  board           print the ChArUco board as a PNG
  intrinsics      camera intrinsics from board views (a folder of images or a live camera)
  hand-eye-capture  record arm poses + board images into a capture folder (live arm + camera)
  hand-eye        solve the camera pose (eye_in_hand / eye_to_hand) from a capture folder
  latency         arm / camera latency by cross-correlation (a recording, or --record live)
  widowx-offsets  WidowX joint zero offsets and gripper ticks over the Dynamixel bus

Every command prints numbered steps for the operator; --dry-run prints the file instead of
writing it. The logic lives in postbc_ros.calibrate (docs/calibration.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from postbc_ros.robots.widowx import NAME as WIDOWX

EXIT_FAILED = 2  # calibration refused (bad input, too few views, implausible result): nothing written


def _params(items: list[str] | None, flag: str) -> dict:
    import yaml

    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit(f"{flag} {it!r}: expected KEY=VALUE")
        k, v = it.split("=", 1)
        out[k] = yaml.safe_load(v)
    return out


def _board_args(p: argparse.ArgumentParser) -> None:
    from postbc_ros.calibrate import board as b

    g = p.add_argument_group("board (must match the print)")
    g.add_argument("--squares", default=f"{b.DEFAULT_SQUARES[0]}x{b.DEFAULT_SQUARES[1]}", help="squares COLSxROWS (default %(default)s)")
    g.add_argument("--square", type=float, default=b.DEFAULT_SQUARE_M, help="square side in m as PRINTED: measure it (default %(default)s)")
    g.add_argument("--marker", type=float, default=b.DEFAULT_MARKER_M, help="marker side in m (default %(default)s)")
    g.add_argument("--dictionary", default=b.DEFAULT_DICTIONARY, help="OpenCV ArUco dictionary (default %(default)s)")


def _spec(args):
    from postbc_ros.calibrate.board import BoardSpec, parse_squares

    sx, sy = parse_squares(args.squares)
    return BoardSpec(sx, sy, args.square, args.marker, args.dictionary)


def _rig_args(p: argparse.ArgumentParser, camera: bool = True) -> None:
    p.add_argument("--rig", required=True, help="calibration/<rig>/ to write (e.g. widowx, ur5e)")
    if camera:
        p.add_argument("--camera", required=True, help="camera name: writes calibration/<rig>/camera_<name>.yaml")
    p.add_argument("--calibration-dir", default=None, help="calibration root (default: the package's, or $POSTBC_CALIBRATION_DIR)")
    p.add_argument("--dry-run", action="store_true", help="print the file instead of writing it")


def _device_args(p: argparse.ArgumentParser, arm: bool, camera: bool) -> None:
    if arm:
        p.add_argument("--arm-backend", default=None, help="drivers.arm backend (widowx, ur_rtde, fake, ...)")
        p.add_argument("--arm-param", action="append", metavar="KEY=VALUE", help="backend parameter (repeatable), e.g. host=10.0.0.2")
    if camera:
        p.add_argument("--camera-backend", default=None, help="drivers.camera backend (realsense, opencv, sim)")
        p.add_argument("--camera-param", action="append", metavar="KEY=VALUE", help="camera parameter (repeatable), e.g. source=0")


def _robot(args) -> str:
    from postbc_ros.calibrate.frames import robot_for_rig

    robot = getattr(args, "robot", None) or robot_for_rig(args.rig)
    if robot is None:
        raise SystemExit(f"--rig {args.rig}: no registered robot uses this rig; pass --robot")
    return robot


def _open_camera(args):
    from postbc_ros.drivers.camera import make_camera

    if not args.camera_backend:
        raise SystemExit("live capture needs --camera-backend (realsense, opencv, sim) and its --camera-param")
    cam = make_camera(args.camera_backend, **_params(args.camera_param, "--camera-param"))
    cam.start()
    return cam


def _open_arm(args, robot: str):
    from postbc_ros.drivers.arm import make_arm

    if not args.arm_backend:
        raise SystemExit("live capture needs --arm-backend (widowx, ur_rtde, ...) and its --arm-param")
    arm = make_arm(args.arm_backend, robot, **_params(args.arm_param, "--arm-param"))
    arm.connect()
    return arm


# ------------------------------------------------------------------------------------ commands

def cmd_board(args) -> int:
    import cv2

    from postbc_ros.calibrate.board import render_board

    spec = _spec(args)
    img = render_board(spec, args.px_per_square)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise SystemExit(f"cannot write {out}")
    w_mm, h_mm = (spec.squares_x + 1) * spec.square_m * 1000, (spec.squares_y + 1) * spec.square_m * 1000
    print(f"wrote {out}: {spec.describe()}, {img.shape[1]}x{img.shape[0]} px\n"
          f"1. Print it at 100 % scale (no 'fit to page'): the board with its margin is {w_mm:.0f} x {h_mm:.0f} mm.\n"
          "2. Glue it FLAT on a rigid plate (glass, aluminium, foam board).\n"
          f"3. Measure one square with a caliper; pass that size as --square (now {spec.square_m} m) and the marker as --marker.")
    return 0


def cmd_intrinsics(args) -> int:
    import cv2

    from postbc_ros.calibrate.capture import capture_board_images
    from postbc_ros.calibrate.intrinsics import IntrinsicsError, calibrate_intrinsics
    from postbc_ros.calibrate.rig_files import camera_file, update_camera_yaml, write_or_print

    spec = _spec(args)
    print(f"Intrinsics of camera '{args.camera}' on rig {args.rig} with the {spec.describe()}.")
    if args.images:
        folder = Path(args.images)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")) if folder.is_dir() else []
        if not files:
            raise SystemExit(f"--images {folder}: no .png/.jpg images there")
        images = []
        for f in files:
            im = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if im is None:
                raise SystemExit(f"{f}: cannot read as an image")
            images.append(im)
        names = [f.name for f in files]
    else:
        cam = _open_camera(args)
        try:
            images = capture_board_images(cam, args.capture, spec, input, print, args.save_images)
        finally:
            cam.stop()
        names = [f"view {i + 1}" for i in range(len(images))]
    try:
        rep = calibrate_intrinsics(images, spec, names)
    except IntrinsicsError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(rep.summary())
    for n, e in rep.per_view_rms_px.items():
        print(f"  {n}: {e:.3f} px")
    if rep.skipped:
        print(f"  no board found in: {', '.join(rep.skipped)}")
    print("Next:" if rep.advice else "Coverage: every image region reached, views tilted: good.")
    for k, a in enumerate(rep.advice, 1):
        print(f"  {k}. {a}")
    path = camera_file(args.rig, args.camera, args.calibration_dir)
    text = update_camera_yaml(path, args.camera, intrinsics=rep.intrinsics, rms_px=rep.rms_px, tool="postbc calibrate intrinsics")
    write_or_print(path, text, args.dry_run)
    print(f"Then: postbc calibrate hand-eye --rig {args.rig} --camera {args.camera} ... (docs/calibration.md)")
    return 0


def _free_drive_confirmed(args, arm, ask) -> bool:
    """Release the arm between samples? Where the driver can (WidowX: torque off; UR: teach mode) and
    the operator confirmed: --free-drive, or 'yes' to the question."""
    if args.free_drive == "no" or not getattr(arm, "can_free_drive", False):
        if args.free_drive == "yes":
            raise SystemExit(f"--free-drive yes: the {arm.name} backend cannot release the arm to be moved by hand")
        return False
    if args.free_drive == "yes":
        return True
    ans = ask(f"Free drive: the {arm.name} arm is released before each pose so you can move it by hand"
              + (f" -- {arm.free_drive_hazard}" if getattr(arm, "free_drive_hazard", "") else "")
              + ". Type 'yes' to confirm (anything else: you move it some other way): ")
    return ans.strip().lower() == "yes"


def cmd_hand_eye_capture(args) -> int:
    from postbc_ros.calibrate.capture import capture_hand_eye

    robot = _robot(args)
    arm = _open_arm(args, robot)
    try:
        cam = _open_camera(args)
        try:
            p = capture_hand_eye(arm, cam, args.out, args.samples, robot, args.mode, _spec(args), input, print,
                                 free_drive=_free_drive_confirmed(args, arm, input))
        finally:
            cam.stop()
    finally:
        arm.disconnect()
    print(f"wrote {p}\nNext: postbc calibrate hand-eye --rig {args.rig} --camera {args.camera} --mode {args.mode} --capture-dir {args.out}")
    return 0


def cmd_hand_eye(args) -> int:
    from postbc_ros.calibrate.board import BoardSpec
    from postbc_ros.calibrate.frames import BASE_FRAME, wrist_link
    from postbc_ros.calibrate.hand_eye import HandEyeError, read_capture, samples_from_capture, solve_hand_eye
    from postbc_ros.calibrate.rig_files import camera_file, update_camera_yaml, write_or_print
    from postbc_ros.drivers.camera.calibration import load_camera_calibration
    from postbc_ros.robots import get_robot_spec

    path = camera_file(args.rig, args.camera, args.calibration_dir)
    cal = load_camera_calibration(path)
    print(f"1. Intrinsics from {path} ({'measured' if _measured(path) else 'NOT measured: run postbc calibrate intrinsics first for a good result'}).")
    try:
        doc = read_capture(args.capture_dir)
        robot = args.robot or doc.get("robot") or _robot(args)
        spec = BoardSpec.from_dict(doc.get("board"), doc["_path"]) if doc.get("board") else _spec(args)
        samples, skipped = samples_from_capture(args.capture_dir, cal.intrinsics.K, cal.intrinsics.D, get_robot_spec(robot).fk, spec)
        for s in skipped:
            print(f"   {s}")
        print(f"2. {len(samples)} samples with the board in view ({robot} forward kinematics for the tool poses).")
        res = solve_hand_eye(samples, args.mode, args.method)
    except HandEyeError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(f"3. {res.summary()}")
    worst = sorted(res.per_sample_mm.items(), key=lambda kv: -kv[1])[:3]
    print("   largest per-sample deviation: " + ", ".join(f"{k} {v:.1f} mm" for k, v in worst))
    if args.mode == "eye_in_hand":
        parent, T_link_tool = wrist_link(robot)
        T = T_link_tool @ res.X
    else:
        parent, T = BASE_FRAME, res.X
    text = update_camera_yaml(path, args.camera, extrinsics=(parent, T, f"{res.method}, {args.mode}, {res.n_samples} samples"),
                              residual=(res.residual_mm, res.residual_deg), tool="postbc calibrate hand-eye")
    write_or_print(path, text, args.dry_run)
    print(f"4. Next: postbc calibrate latency --rig {args.rig} --camera {args.camera} ...")
    return 0


def _measured(path: Path) -> bool:
    import yaml

    try:
        return bool((yaml.safe_load(path.read_text()) or {}).get("measured"))
    except (OSError, yaml.YAMLError):
        return False


def cmd_latency(args) -> int:
    from postbc_ros.calibrate.latency import LatencyError, estimate_delay, image_signal, load_recording, record_motion, save_recording
    from postbc_ros.calibrate.rig_files import camera_file, update_camera_yaml, write_or_print

    if args.record:
        from postbc_ros.core.safety import load_safety_limits

        robot = _robot(args)
        ans = input(f"1. The {robot} will step joint {args.joint} by +-{args.amplitude} rad about its present pose for "
                    f"{args.duration:g} s (through the rig's safety limits). Clear the workspace; keep the board in the camera's "
                    "view. Type 'yes' to start: ")
        if ans.strip().lower() not in ("y", "yes"):
            print("stopped: nothing moved")
            return EXIT_FAILED
        limits = load_safety_limits(args.rig, args.calibration_dir)
        arm = _open_arm(args, robot)
        cam = None
        try:
            spec = _spec(args)
            cam = _open_camera(args) if args.camera_backend else None
            rec = record_motion(arm, args.joint, args.duration, limits, args.amplitude, camera=cam,
                                image_fn=lambda im: image_signal(im, spec, args.signal))
        finally:
            if cam is not None:
                cam.stop()
            arm.disconnect()
        out = Path(args.recording)
        save_recording(out.with_name(out.stem + "_arm" + out.suffix), "arm", rec["t_cmd"], rec["x_cmd"], rec["t_meas"], rec["x_meas"])
        recordings = [load_recording(out.with_name(out.stem + "_arm" + out.suffix))]
        if cam is not None:
            save_recording(out.with_name(out.stem + "_camera" + out.suffix), "camera", rec["t_meas"], rec["x_meas"], rec["t_img"], rec["x_img"])
            recordings.append(load_recording(out.with_name(out.stem + "_camera" + out.suffix)))
        print(f"2. recorded {len(rec['t_cmd'])} commands, {len(rec['t_meas'])} joint reads, {len(rec['t_img'])} frames")
    else:
        try:
            recordings = [load_recording(args.recording)]
        except LatencyError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_FAILED
    cam_est = None
    for r in recordings:
        try:
            est = estimate_delay(r["t_ref"], r["x_ref"], r["t_sig"], r["x_sig"], args.max_lag)
        except LatencyError as e:
            print(f"error ({r['kind']} recording): {e}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{r['kind']} latency: {est.summary()}")
        if r["kind"] == "camera":
            cam_est = est
    if cam_est is None:
        print("Arm latency is reported, not written (the arm has no latency field); a camera recording writes the camera's.")
        return 0
    if cam_est.delay_s < 0:
        print(f"error: the camera signal leads the joint motion by {-cam_est.delay_s * 1000:.1f} ms: the stamps are not on one "
              "clock, or the wrong joint was recorded. Nothing written.", file=sys.stderr)
        return EXIT_FAILED
    path = camera_file(args.rig, args.camera, args.calibration_dir)
    text = update_camera_yaml(path, args.camera, latency=(cam_est.delay_s, cam_est.std_s,
                              f"cross-correlation of the image signal with the joint motion, corr {cam_est.correlation:.2f}"),
                              tool="postbc calibrate latency")
    write_or_print(path, text, args.dry_run)
    return 0


def cmd_widowx_offsets(args, ask=input) -> int:
    from postbc_ros.calibrate.rig_files import rig_dir, today, write_or_print
    from postbc_ros.calibrate.widowx_offsets import OffsetsError, measure_widowx_offsets, update_motors_yaml
    from postbc_ros.drivers.arm.dynamixel_config import load_widowx_calibration
    from postbc_ros.robots import get_robot_spec

    path = rig_dir(args.rig, args.calibration_dir) / "motors.yaml"
    names = get_robot_spec(WIDOWX).joint_names
    cal = load_widowx_calibration(path, names, args.rig)
    print(f"WidowX offsets for {path}. Stop every program using the arm (postbc launch, xs_sdk) first: this opens "
          f"{args.port or cal.port} itself.")
    try:
        res = measure_widowx_offsets(cal, ask, print, port=args.port)
        text = update_motors_yaml(path, res, names, today())
    except OffsetsError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    write_or_print(path, text, args.dry_run)
    return 0


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="measure a real rig: intrinsics, hand-eye, latency, WidowX offsets",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cs = p.add_subparsers(dest="calibrate_command", metavar="WHAT", required=True)

    b = cs.add_parser("board", help="write the ChArUco board as a PNG to print")
    b.add_argument("--out", required=True, help="PNG path")
    b.add_argument("--px-per-square", type=int, default=200, help="resolution (default %(default)s px per square)")
    _board_args(b)
    b.set_defaults(func=cmd_board)

    i = cs.add_parser("intrinsics", help="camera intrinsics from ChArUco views")
    _rig_args(i)
    src = i.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="folder of board images (.png/.jpg)")
    src.add_argument("--capture", type=int, metavar="N", help="take N views from a live camera (--camera-backend)")
    i.add_argument("--save-images", default=None, help="with --capture: also save the views to this folder")
    _device_args(i, arm=False, camera=True)
    _board_args(i)
    i.set_defaults(func=cmd_intrinsics)

    hc = cs.add_parser("hand-eye-capture", help="record arm poses + board images into a capture folder")
    _rig_args(hc)
    hc.add_argument("--mode", choices=("eye_in_hand", "eye_to_hand"), required=True)
    hc.add_argument("--out", required=True, help="capture folder to write (poses.json + images)")
    hc.add_argument("--samples", type=int, default=15, help="arm poses to record (default %(default)s)")
    hc.add_argument("--robot", default=None, help="robot (default: the one whose rig is --rig)")
    hc.add_argument("--free-drive", choices=("ask", "yes", "no"), default="ask",
                    help="release the arm between samples to move it by hand (WidowX: torque off, support it; UR: teach "
                    "mode); 'yes' is the operator's confirmation (default: %(default)s)")
    _device_args(hc, arm=True, camera=True)
    _board_args(hc)
    hc.set_defaults(func=cmd_hand_eye_capture)

    h = cs.add_parser("hand-eye", help="camera pose from a capture folder (cv2.calibrateHandEye)")
    _rig_args(h)
    h.add_argument("--mode", choices=("eye_in_hand", "eye_to_hand"), required=True)
    h.add_argument("--capture-dir", required=True, help="folder with poses.json + images (hand-eye-capture)")
    h.add_argument("--method", default="PARK", choices=("PARK", "TSAI", "HORAUD", "ANDREFF", "DANIILIDIS"))
    h.add_argument("--robot", default=None, help="robot for the FK (default: poses.json's, else the one whose rig is --rig)")
    _board_args(h)
    h.set_defaults(func=cmd_hand_eye)

    la = cs.add_parser("latency", help="arm / camera latency by cross-correlation")
    _rig_args(la)
    la.add_argument("--recording", required=True, help=".npz/.json recording to read (or, with --record, to write)")
    la.add_argument("--record", action="store_true", help="record live first: step a joint, read the arm (and the camera)")
    la.add_argument("--joint", type=int, default=0, help="with --record: joint index to step (default 0, the base)")
    la.add_argument("--amplitude", type=float, default=0.08, help="with --record: step size in rad (default %(default)s)")
    la.add_argument("--duration", type=float, default=10.0, help="with --record: seconds (default %(default)s)")
    la.add_argument("--signal", default="board_u", choices=("board_u", "board_v", "intensity"), help="image signal")
    la.add_argument("--max-lag", type=float, default=0.5, help="largest latency searched [s] (default %(default)s)")
    la.add_argument("--robot", default=None)
    _device_args(la, arm=True, camera=True)
    _board_args(la)
    la.set_defaults(func=cmd_latency)

    w = cs.add_parser("widowx-offsets", help="WidowX joint zero offsets + gripper ticks into motors.yaml")
    w.add_argument("--rig", default=WIDOWX)
    w.add_argument("--port", default=None, help="serial port (default: motors.yaml's)")
    w.add_argument("--calibration-dir", default=None)
    w.add_argument("--dry-run", action="store_true", help="print the new motors.yaml instead of writing it")
    w.set_defaults(func=cmd_widowx_offsets)
