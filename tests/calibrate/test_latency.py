"""Latency by cross-correlation: a synthetic delayed signal is recovered within one sample (arm
steps, a camera signal running against the joint, uneven sampling), the CLI writes the camera's
`latency` with measured: true, and the live recorder steps a (fake) arm through the safety filter."""
import numpy as np
import pytest
import yaml

from postbc_ros.calibrate.latency import LatencyError, estimate_delay, load_recording, record_motion, save_recording, step_profile

DT = 0.002  # 500 Hz joint reads


def servo(t, x, tau=0.03):
    """First-order tracking of x(t) (a servo following its goal)."""
    y = np.zeros_like(x)
    for i in range(1, len(t)):
        y[i] = y[i - 1] + (x[i - 1] - y[i - 1]) * (1 - np.exp(-(t[i] - t[i - 1]) / tau))
    return y


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.047, 0.120])
def test_synthetic_delay_is_recovered_within_one_sample(delay):
    rng = np.random.default_rng(0)
    t = np.arange(0, 8, DT)
    x = step_profile(t, 0.08, 0.4)
    t_sig = np.arange(0, 8, DT) + rng.uniform(-0.3, 0.3, len(t)) * DT  # jittered stamps
    x_sig = np.interp(t_sig - delay, t, x) + rng.normal(0, 1e-4, len(t))
    est = estimate_delay(t, x, t_sig, x_sig)
    assert abs(est.delay_s - delay) <= DT, est.summary()
    assert est.correlation > 0.8 and est.sign == 1


def test_camera_signal_against_the_joint_at_frame_rate():
    """30 fps image signal (pixels, running against the joint) vs 500 Hz joint reads."""
    t = np.arange(0, 10, DT)
    q = servo(t, step_profile(t, 0.08))
    frame_dt, latency = 1 / 30, 0.071
    t_arrival = np.arange(0.0, 10, frame_dt)
    u = 320 - 900 * np.interp(t_arrival - latency, t, q)  # board column moves opposite to the joint
    u[::17] = np.nan  # frames without a detection
    est = estimate_delay(t, q, t_arrival, u)
    assert abs(est.delay_s - latency) <= frame_dt, est.summary()
    assert est.sign == -1


def test_unrelated_signals_and_bad_files_are_refused(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(0, 5, DT)
    with pytest.raises(LatencyError, match="do not show the same motion"):
        estimate_delay(t, step_profile(t, 0.1), t, np.cumsum(rng.normal(size=len(t))))
    with pytest.raises(LatencyError, match="never changes"):
        estimate_delay(t, np.zeros_like(t), t, step_profile(t, 0.1))
    bad = tmp_path / "r.json"
    bad.write_text('{"t_ref": [1, 2], "x_ref": [1, 2]}')
    with pytest.raises(LatencyError, match="key 't_sig' missing"):
        load_recording(bad)


def test_cli_writes_measured_camera_latency(tmp_path, capsys):
    from postbc_ros.calibrate.rig_files import update_camera_yaml
    from postbc_ros.cli.main import main
    from postbc_ros.drivers.camera.base import CameraIntrinsics
    from postbc_ros.drivers.camera.calibration import load_camera_calibration

    calib = tmp_path / "calibration"
    path = calib / "r1" / "camera_scene.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(update_camera_yaml(path, "scene", intrinsics=CameraIntrinsics.from_pinhole(640, 480, 600, 600, 320, 240)))
    t = np.arange(0, 10, DT)
    q = servo(t, step_profile(t, 0.08))
    t_img = np.arange(0, 10, 1 / 30)
    rec = save_recording(tmp_path / "cam.npz", "camera", t, q, t_img, 300 + 800 * np.interp(t_img - 0.055, t, q))
    args = ["calibrate", "latency", "--rig", "r1", "--camera", "scene", "--recording", str(rec), "--calibration-dir", str(calib)]
    assert main(args) == 0
    assert "camera latency: delay" in capsys.readouterr().out
    d = yaml.safe_load(path.read_text())
    assert d["latency"]["measured"] is True and "measured" not in (d.get("extrinsics") or {})
    cal = load_camera_calibration(path)
    assert abs(cal.latency.mean_s - 0.055) <= 1 / 30

    arm_rec = save_recording(tmp_path / "arm.json", "arm", t, step_profile(t, 0.08), t + 0.02, step_profile(t, 0.08))
    assert main(args[:6] + ["--recording", str(arm_rec), "--calibration-dir", str(calib)]) == 0
    assert "arm latency: delay 20.0 ms" in capsys.readouterr().out


def test_live_recorder_steps_a_fake_arm_through_the_safety_filter():
    from postbc_ros.core.safety import load_safety_limits
    from postbc_ros.drivers.arm import make_arm

    arm = make_arm("fake", "widowx", initial_q=[0.0, -0.2, 0.55, 0.0, 1.22, 0.0])
    arm.connect()
    limits = load_safety_limits("widowx")
    rec = record_motion(arm, 0, 2.0, limits, amplitude=0.04, control_dt=0.01)
    arm.disconnect()
    assert len(rec["t_cmd"]) > 50 and np.ptp(rec["x_cmd"]) == pytest.approx(0.08, abs=1e-6)
    assert np.max(np.abs(np.diff(rec["x_cmd"]))) <= limits.step_bound(0.01)[0] + 1e-9  # through the filter
    est = estimate_delay(rec["t_cmd"], rec["x_cmd"], rec["t_meas"], rec["x_meas"])
    assert 0.0 <= est.delay_s < 0.2 and est.correlation > 0.7, est.summary()
