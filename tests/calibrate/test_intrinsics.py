"""Intrinsics from synthetic ChArUco renders with a KNOWN camera (tests/calibrate/synth.py), and
the CLI that writes them into a rig's camera YAML the camera loader reads back."""
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from synth import D_TRUE, H, K_TRUE, SPEC, W, intrinsics_views, looking_at, render_view  # noqa: E402

from postbc_ros.calibrate.board import BoardError, BoardSpec, detect  # noqa: E402
from postbc_ros.calibrate.intrinsics import IntrinsicsError, calibrate_intrinsics  # noqa: E402

FOCAL_TOL = 0.01  # fx, fy within 1 %
CENTRE_TOL_PX = 4.0  # cx, cy within 4 px
BOARD_ARGS = ["--squares", "7x5", "--square", "0.04", "--marker", "0.03", "--dictionary", "DICT_5X5_100"]


@pytest.fixture(scope="module")
def views():
    return [render_view(T) for T in intrinsics_views()]


@pytest.fixture(scope="module")
def view_dir(views, tmp_path_factory):
    import cv2

    d = tmp_path_factory.mktemp("views")
    for i, im in enumerate(views):
        cv2.imwrite(str(d / f"{i:03d}.png"), im)
    return d


def test_known_intrinsics_are_recovered(views):
    rep = calibrate_intrinsics(views, SPEC)
    i = rep.intrinsics
    assert (i.width, i.height) == (W, H)
    assert abs(i.fx / K_TRUE[0, 0] - 1) < FOCAL_TOL and abs(i.fy / K_TRUE[1, 1] - 1) < FOCAL_TOL, rep.summary()
    assert abs(i.cx - K_TRUE[0, 2]) < CENTRE_TOL_PX and abs(i.cy - K_TRUE[1, 2]) < CENTRE_TOL_PX, rep.summary()
    assert abs(i.D[0] - D_TRUE[0]) < 0.03, rep.summary()  # the dominant radial term
    assert rep.rms_px < 0.5 and len(rep.used) == len(views) and not rep.skipped
    assert rep.advice == []  # corners everywhere, tilted views


def test_coverage_advice_names_the_missing_regions():
    # the board only in the image centre, facing the camera
    ims = [render_view(looking_at([0.01 * k, 0.0, 0.9 + 0.02 * k], 0.03 * k, -0.02 * k)) for k in range(6)]
    rep = calibrate_intrinsics(ims, SPEC)
    text = " ".join(rep.advice)
    assert "top-left corner" in text and "bottom-right corner" in text and "tilt" in text


def test_too_few_views_and_wrong_board_are_refused(views):
    with pytest.raises(IntrinsicsError, match="found in 3 of 3 images; need 5"):
        calibrate_intrinsics(views[:3], SPEC)
    other = BoardSpec(7, 5, 0.04, 0.03, "DICT_6X6_100")  # not what was printed
    assert detect(views[0], other) is None
    with pytest.raises(IntrinsicsError, match="--dictionary"):
        calibrate_intrinsics(views, other)
    with pytest.raises(BoardError, match="marker"):
        BoardSpec(7, 5, 0.03, 0.04)


def test_cli_writes_measured_intrinsics_the_loader_reads(view_dir, tmp_path, capsys):
    from postbc_ros.cli.main import main
    from postbc_ros.drivers.camera.calibration import load_camera_calibration

    calib = tmp_path / "calibration"
    rig = calib / "myrig"
    rig.mkdir(parents=True)
    shipped = Path(__file__).resolve().parents[2] / "calibration" / "widowx" / "camera_scene.yaml"
    (rig / "camera_scene.yaml").write_text(shipped.read_text())  # nominal file with extrinsics/latency
    before = load_camera_calibration(rig / "camera_scene.yaml")

    args = ["calibrate", "intrinsics", "--rig", "myrig", "--camera", "scene", "--images", str(view_dir),
            "--calibration-dir", str(calib), *BOARD_ARGS]
    assert main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write" in out and "RMS reprojection error" in out
    assert load_camera_calibration(rig / "camera_scene.yaml").intrinsics.fx == before.intrinsics.fx  # untouched

    assert main(args) == 0
    d = yaml.safe_load((rig / "camera_scene.yaml").read_text())
    assert d["measured"] is True and len(d["measured_date"]) == 10 and d["reprojection_rms_px"] < 0.5
    assert "measured" not in d["extrinsics"] and "measured" not in d["latency"]  # still nominal
    cal = load_camera_calibration("myrig", "scene", calibration_dir=calib)
    assert abs(cal.intrinsics.fx / K_TRUE[0, 0] - 1) < FOCAL_TOL
    np.testing.assert_allclose(cal.extrinsics.translation, before.extrinsics.translation)  # kept


def test_board_png(tmp_path, capsys):
    import cv2

    from postbc_ros.cli.main import main

    out = tmp_path / "board.png"
    assert main(["calibrate", "board", "--out", str(out), *BOARD_ARGS, "--px-per-square", "100"]) == 0
    img = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert img.shape == (600, 800)
    det = detect(img, SPEC)
    assert det is not None and len(det) == SPEC.n_corners
    assert "100 %" in capsys.readouterr().out
