"""Doctor's UR checks against a tiny dashboard server on loopback speaking the UR dashboard text
protocol (welcome line, one reply line per command), read through ur_rtde's own DashboardClient."""
from __future__ import annotations

import socket
import threading

import pytest

from postbc_ros.doctor.ur import check_ur

WELCOME = "Connected: Universal Robots Dashboard Server"


class Dashboard:
    """Loopback dashboard server (and a listener standing in for the RTDE port); `commands` logs."""

    def __init__(self, remote="true", robotmode="RUNNING", safety="NORMAL", polyscope="URSoftware 5.11.1.108318 (Mar 22 2021)"):
        self.replies = {"is in remote control": remote, "robotmode": f"Robotmode: {robotmode}",
                        "safetystatus": f"Safetystatus: {safety}", "PolyscopeVersion": polyscope}
        self.commands: list[str] = []
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.rtde = socket.create_server(("127.0.0.1", 0))
        self.port, self.rtde_port = self.srv.getsockname()[1], self.rtde.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:  # the controller serves several clients (doctor's reachability probe is one)
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        try:
            self._talk(conn)
        except OSError:  # the client went away (doctor's TCP probe closes at once)
            pass

    def _talk(self, conn):
        with conn:
            conn.sendall((WELCOME + "\n").encode())
            buf = b""
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = line.decode().strip()
                    self.commands.append(cmd)
                    conn.sendall((self.replies.get(cmd, f"could not understand: '{cmd}'") + "\n").encode())

    def close(self):
        self.srv.close()
        self.rtde.close()


@pytest.fixture
def dashboard(request):
    d = Dashboard(**getattr(request, "param", {}))
    yield d
    d.close()


def run(d):
    return {c.name: c for c in check_ur("ur5e", host="127.0.0.1", rtde_port=d.rtde_port, dashboard_port=d.port)}


def test_a_ready_robot_passes(dashboard):
    c = run(dashboard)
    assert all(x.ok for x in c.values()), [x.line() for x in c.values()]
    assert c["ur5e: robot mode"].detail == "RUNNING" and c["ur5e: safety"].detail == "NORMAL"
    assert {"is in remote control", "robotmode", "safetystatus"} <= set(dashboard.commands)
    assert not set(dashboard.commands) - {"is in remote control", "robotmode", "safetystatus", "PolyscopeVersion"}, \
        "doctor sends read-only queries only"


@pytest.mark.parametrize("dashboard", [dict(remote="false", robotmode="POWER_OFF", safety="PROTECTIVE_STOP")], indirect=True)
def test_local_control_power_off_and_protective_stop_are_named_with_fixes(dashboard):
    c = run(dashboard)
    assert c["ur5e: controller reachable"].ok
    r, m, s = c["ur5e: remote control"], c["ur5e: robot mode"], c["ur5e: safety"]
    assert not r.ok and "Local Control" in r.detail and "Remote Control" in r.fix
    assert not m.ok and m.detail == "POWER_OFF" and "Power the arm on" in m.fix
    assert not s.ok and s.detail == "PROTECTIVE_STOP" and "teach pendant" in s.fix


def test_an_unreachable_controller_is_named_and_the_rest_not_checked():
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now: connection refused
    c = {x.name: x for x in check_ur("ur5e", host="127.0.0.1", rtde_port=port, dashboard_port=port)}
    assert not c["ur5e: controller reachable"].ok and f"127.0.0.1:{port}" in c["ur5e: controller reachable"].detail
    assert "Ethernet" in c["ur5e: controller reachable"].fix
    assert all(not c[n].ok and c[n].detail.startswith("not checked") for n in ("ur5e: remote control", "ur5e: safety"))


def test_the_placeholder_host_points_at_rtde_yaml(tmp_path):
    (tmp_path / "ur5e").mkdir()
    (tmp_path / "ur5e" / "rtde.yaml").write_text("host: SET_ME\n")
    c = check_ur("ur5e", calibration_dir=tmp_path)
    assert [x.fix for x in c] == ["fix 'ur5e: rtde.yaml' first"] * 4
