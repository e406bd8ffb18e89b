"""Recorder process for test_dataset_crash.py (killed with SIGKILL by the test).

python crash_recorder.py ROOT --hang-at K : saves episodes 0..K-1, adds frames of episode K, prints
    "MID K" and sleeps (the test kills it mid-episode).
python crash_recorder.py ROOT --forever   : reopens ROOT (resume) and saves episodes until killed.
python crash_recorder.py ROOT --full-disk-at K --limit BYTES : one data file per episode; the OS
    lets no file grow past BYTES (RLIMIT_FSIZE, as a full disk) while episode K is saved: prints
    "FAILED <message>", lifts the limit, saves K again and one more episode, then exits.
Episode i always holds dataset_synth.make_episode(i, 2 + i % 5), so the test can check content.
"""
import argparse
import resource
import signal
import sys
import time

from dataset_synth import features, make_episode

from postbc_ros.data import DatasetError, DatasetWriter


def length(i: int) -> int:
    return 2 + i % 5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--hang-at", type=int, default=None)
    ap.add_argument("--forever", action="store_true")
    ap.add_argument("--full-disk-at", type=int, default=None)
    ap.add_argument("--limit", type=int, default=1)
    a = ap.parse_args()
    small = {} if a.full_disk_at is None else {"data_files_size_in_mb": 1e-4}  # roll over every episode
    w = DatasetWriter(a.root, features(), fps=10, robot_type="widowx", **small)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write fails with EFBIG instead of killing us
    print(f"READY {w.num_episodes}", flush=True)
    while True:
        i = w.num_episodes
        for f in make_episode(i, length(i)):
            w.add_frame(f)
        if a.hang_at is not None and i == a.hang_at:
            print(f"MID {i}", flush=True)
            time.sleep(60)
            sys.exit(3)
        if i == a.full_disk_at:
            resource.setrlimit(resource.RLIMIT_FSIZE, (a.limit, resource.RLIM_INFINITY))
            try:
                w.save_episode("pick" if i % 3 else "place", success=i % 2 == 0)
                print(f"SAVED {i} despite the limit", flush=True)
            except DatasetError as e:
                print(f"FAILED {e}", flush=True)
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        w.save_episode("pick" if i % 3 else "place", success=i % 2 == 0)
        print(f"SAVED {i}", flush=True)
        if a.full_disk_at is not None and i == a.full_disk_at + 1:
            return


if __name__ == "__main__":
    main()
