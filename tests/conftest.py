"""Suite-wide settings: headless rendering, DDS on loopback, small thread pools (2-core CI)."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # keep training tests from oversubscribing the 2 cores
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
