"""A stand-in node program for the supervisor tests (plain Python, no ROS).

Started as `fake_node.py -u -m postbc_ros.nodes.X --ros-args -r __node:=NAME ...` (the supervisor's
command line with this file as the "python"). Its behaviour comes from the env var
FAKE_NODE_<NAME> = "run" (until SIGINT/SIGTERM, then exit 0 after FAKE_EXIT_DELAY s) or
"exit:CODE:AFTER" (exit with CODE after AFTER s). Each start appends its pid and
POSTBC_SUPERVISOR_PID to FAKE_DIR/NAME.starts; a signal appends "SIG time_monotonic" to
FAKE_DIR/NAME.signals, and the exit time to FAKE_DIR/NAME.exits.
"""
import os
import signal
import sys
import time
from pathlib import Path

name = next(a.split(":=", 1)[1] for a in sys.argv if a.startswith("__node:="))
out = Path(os.environ["FAKE_DIR"])
with open(out / f"{name}.starts", "a") as f:
    f.write(f"{os.getpid()} {os.environ.get('POSTBC_SUPERVISOR_PID', '')}\n")
mode = os.environ.get(f"FAKE_NODE_{name.upper()}", "run")
delay = float(os.environ.get("FAKE_EXIT_DELAY", "0"))


def _on_signal(sig, _frame):
    with open(out / f"{name}.signals", "a") as f:
        f.write(f"{signal.Signals(sig).name} {time.monotonic():.6f}\n")
    time.sleep(delay)
    with open(out / f"{name}.exits", "a") as f:
        f.write(f"{time.monotonic():.6f}\n")
    sys.exit(0)


signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)
print(f"{name} up", flush=True)
if mode == "run":
    while True:
        time.sleep(0.05)
_, code, after = mode.split(":")
time.sleep(float(after))
print(f"{name} exiting with {code}", flush=True)
sys.exit(int(code))
