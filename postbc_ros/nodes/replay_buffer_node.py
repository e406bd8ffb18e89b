"""replay_buffer_node: the persistent replay store (postbc_ros.core.replay_store) over ROS 2.

Every robot's policy publishes chunk transitions (wire "transition" records) on
/replay/transitions; this node appends each one durably (fsync per step) to one ReplayStore per
robot under `store_dir` -- a killed process loses at most the step in flight -- and only then
republishes it, with a sequence number, on /replay/stored for the learner (so the learner
never trains on data that is not on disk). `/replay/sync` (std_srvs/Trigger) republishes
everything stored, for a learner that (re)starts on any machine of the ROS domain. Statistics go
out on /replay/stats (std_msgs/String JSON, latched). When the disk is full the node stays up: a
transition it cannot store is logged with the reason and the fix, counted as `not_stored`, and not
forwarded; storing resumes once there is room (postbc_ros.core.episode_stream).

Store layout per chunk transition (one store "step"): obs/<key> = observation history,
action = executed actions [k, A], extra/noise, extra/next_obs/<key>, reward, terminated = done,
intervention, info = the transition's scalars (discount, steps, versions, stamps).
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from postbc_ros.ros.bootstrap import ensure_rclpy
from postbc_ros.ros.params import Param

PARAMS = [
    Param("store_dir", "runs/postbc/replay", "directory of the replay stores (one per robot)"),
    Param("fsync", "step", "durability: step (fsync every transition) | batch | none",
          choices=("step", "batch", "none")),
]

_INFO_KEYS = ("discount", "steps", "robot", "episode", "policy_version", "t_obs", "t_first", "inference_s",
              "dropped", "mode", "episode_end", "success")


def to_store_step(tr: dict) -> dict:
    """Transition -> ReplayStore.add_step kwargs."""
    extra = {f"next_obs/{k}": v for k, v in tr["next_obs"].items()}
    if tr.get("noise") is not None:
        extra["noise"] = tr["noise"]
    info = {k: tr[k] for k in _INFO_KEYS if k in tr}
    return dict(obs=tr["obs"], action=tr["action"], reward=float(tr["reward"]), terminated=bool(tr["done"]),
                intervention=bool(tr.get("intervention", False)), extra=extra, stamp=tr.get("t_obs"), info=info)


def from_store_step(meta: dict, arrays: dict) -> dict:
    """ReplayStore step (scalars, arrays) -> transition."""
    tr = dict(meta.get("info", {}))
    tr["obs"] = {k[4:]: v for k, v in arrays.items() if k.startswith("obs/")}
    tr["next_obs"] = {k[len("extra/next_obs/"):]: v for k, v in arrays.items() if k.startswith("extra/next_obs/")}
    tr["action"] = arrays["action"]
    tr["noise"] = arrays.get("extra/noise")
    tr["reward"], tr["done"] = float(meta["reward"]), bool(meta["terminated"])
    tr["intervention"] = bool(meta.get("intervention", False))
    return tr


def main(argv: list[str] | None = None) -> int:
    ensure_rclpy()
    from rclpy.node import Node
    from std_msgs.msg import String, UInt8MultiArray
    from std_srvs.srv import Trigger

    from postbc_ros.core.episode_stream import EpisodeStreamWriter
    from postbc_ros.core.replay_store import ReplayStore, ReplayStoreError
    from postbc_ros.ros import conversions as cv
    from postbc_ros.core import wire
    from postbc_ros.ros import qos
    from postbc_ros.core.chunk_transitions import transition_arrays, transition_from_arrays
    from postbc_ros.ros.node_main import run_node
    from postbc_ros.ros.params import declare_params

    class ReplayBufferNode(Node):
        def __init__(self):
            super().__init__("replay_buffer")
            self.p = declare_params(self, PARAMS)
            self.root = Path(self.p["store_dir"])
            self.root.mkdir(parents=True, exist_ok=True)
            self.lock = threading.Lock()
            self.writers: dict[str, EpisodeStreamWriter] = {}  # robot -> its store, written episode by episode
            self.seq = 0
            # not_stored: transitions that could not be written (disk full ...); the node goes on
            self.counts = {"transitions": 0, "interventions": 0, "rejected": 0, "not_stored": 0}
            for d in sorted(self.root.iterdir()):  # resume: existing stores (crash recovery on open)
                if (d / "STORE.json").exists():
                    self._writer(d.name)
            self.pub = self.create_publisher(UInt8MultiArray, "/replay/stored", qos.STREAM)
            self.pub_stats = self.create_publisher(String, "/replay/stats", qos.LATCHED)
            self.create_subscription(UInt8MultiArray, "/replay/transitions", self._on_transition, qos.STREAM)
            self.create_service(Trigger, "/replay/sync", self._on_sync)
            self._stats()
            self.get_logger().info(f"replay stores in {self.root} ({len(self.writers)} existing)")

        def _writer(self, robot: str) -> EpisodeStreamWriter:
            if robot not in self.writers:
                st = ReplayStore(self.root / robot, mode="a", fsync=self.p["fsync"])
                for r in st.recovered:
                    self.get_logger().warn(f"{robot}: recovered {r}")
                self.writers[robot] = EpisodeStreamWriter(st, {"robot": robot})
            return self.writers[robot]

        def _stats(self):
            episodes = sum(w.episodes_begun for w in self.writers.values())  # begun by this run
            self.pub_stats.publish(String(data=json.dumps({**self.counts, "episodes": episodes,
                                                           "robots": sorted(self.writers)})))

        def _on_transition(self, msg):
            try:
                header, arrays = wire.unpack_transition(cv.msg_bytes(msg))
                tr = transition_from_arrays(header, arrays)
                robot = str(tr.get("robot", "robot"))
                if not robot.replace("_", "").replace("-", "").isalnum():
                    raise wire.WireError(f"robot id {robot!r} must be alphanumeric (it names a directory)")
            except Exception as e:
                self.counts["rejected"] += 1
                self.get_logger().error(f"transition rejected: {e}")
                return
            with self.lock:
                try:
                    # durable when this returns (fsync=step)
                    i = self._writer(robot).write(int(tr.get("episode", 0)), to_store_step(tr), bool(tr.get("episode_end")),
                                tr.get("success"))
                except (ReplayStoreError, OSError) as e:  # the message says why and what to free
                    self.counts["not_stored"] += 1
                    self.get_logger().error(f"{robot}: transition not stored ({self.counts['not_stored']} so far): {e}",
                                            throttle_duration_sec=5.0)
                    self._stats()
                    return
                self.counts["transitions"] += 1
                self.counts["interventions"] += int(bool(tr.get("intervention")))
                self.seq += 1
                head, arr = transition_arrays(tr)
                head.update(seq=self.seq, store_step=i)
            self.pub.publish(cv.bytes_msg(wire.pack_transition(head, arr)))
            if self.seq % 10 == 0 or tr.get("episode_end"):
                self._stats()

        def _on_sync(self, _req, res):
            n = 0
            with self.lock:
                for st in (w.store for w in self.writers.values()):
                    st.refresh()
                    for info in st.episodes():
                        for i in range(info.num_steps):
                            meta, arrays = st.read_step(info.episode, i)
                            head, arr = transition_arrays(from_store_step(meta, arrays))
                            head.update(replayed=True)
                            self.pub.publish(cv.bytes_msg(wire.pack_transition(head, arr)))
                            n += 1
            res.success, res.message = True, json.dumps({"republished": n})
            return res

        def close(self):
            with self.lock:
                for w in self.writers.values():
                    w.store.close()

    return run_node(ReplayBufferNode, argv, threads=2)


if __name__ == "__main__":
    sys.exit(main())
