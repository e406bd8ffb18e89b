"""Recorder process for test_dataset_crash.py (killed with SIGKILL by the test).

python crash_recorder.py ROOT --hang-at K : saves episodes 0..K-1, adds frames of episode K, prints
    "MID K" and sleeps (the test kills it mid-episode).
python crash_recorder.py ROOT --forever   : reopens ROOT (resume) and saves episodes until killed.
Episode i always holds dataset_synth.make_episode(i, 2 + i % 5), so the test can check content.
"""
import argparse
import sys
import time

from dataset_synth import features, make_episode

from postbc_ros.data import DatasetWriter


def length(i: int) -> int:
    return 2 + i % 5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--hang-at", type=int, default=None)
    ap.add_argument("--forever", action="store_true")
    a = ap.parse_args()
    w = DatasetWriter(a.root, features(), fps=10, robot_type="widowx")
    print(f"READY {w.num_episodes}", flush=True)
    while True:
        i = w.num_episodes
        for f in make_episode(i, length(i)):
            w.add_frame(f)
        if a.hang_at is not None and i == a.hang_at:
            print(f"MID {i}", flush=True)
            time.sleep(60)
            sys.exit(3)
        w.save_episode("pick" if i % 3 else "place", success=i % 2 == 0)
        print(f"SAVED {i}", flush=True)


if __name__ == "__main__":
    main()
