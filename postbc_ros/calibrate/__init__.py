"""Calibration capture and solving for a real rig, ROS-free (`postbc calibrate ...`, docs/calibration.md).

- `board`: the ChArUco target (spec, printable image, detection with OpenCV's CharucoDetector);
- `intrinsics`: camera intrinsics from board views (cv2.calibrateCamera), with coverage advice;
- `hand_eye`: the capture folder (poses.json + images) and its solve (cv2.calibrateHandEye),
  eye-in-hand and eye-to-hand, with the residual of the board pose across samples;
- `latency`: arm and camera latency by cross-correlation of recorded signals;
- `widowx_offsets`: the WidowX joint zero offsets and gripper ticks read over the Dynamixel bus;
- `rig_files`: writing calibration/<rig>/ files with a `measured: true` stamp and the date.
"""
