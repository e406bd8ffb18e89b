"""ArmLoop (ROS-free arm_node): decisions executed on a kinematic fake arm with a fake clock --
only filtered setpoints reach it, stop holds and latches until an operator reset, arm/home waits for
the arm, close always holds and disconnects. A faulty fake (frozen, blocked, glitching, dead)
shows the hardware-boundary faults; a scripted heartbeat and supervisor the supervision."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from postbc_ros.core.arm_boundary import FROZEN_PERIODS
from postbc_ros.core.arm_controller import (FOLLOWING_ERROR_TIME_S, MAX_FOLLOWING_ERROR_RAD, STATE_TIMEOUT_S,
                                            ArmController)
from postbc_ros.core.arm_supervision import (EPISODE_OVERRUN_MARGIN_S, SUPERVISOR_CHECK_S, Heartbeat,
                                             SupervisorWatch)
from postbc_ros.core.arm_loop import HOME_POLL_S, HOME_TOLERANCE, ArmLoop, home_deadline
from postbc_ros.core.safety import SafetyResult, load_safety_limits
from postbc_ros.drivers.arm.base import ArmState
from postbc_ros.drivers.arm.fake import FakeArm

PERIOD = 0.05


class FaultyArm(FakeArm):
    """The kinematic fake with the hardware's failure modes (`mode`):
    frozen: values and stamp stop changing (a dead controller); frozen_values: values stop, the
    stamp keeps advancing (a driver republishing its last reading); blocked: the arm does not move
    but its readings jitter (an obstacle); glitch: one joint reads 1e6 rad; dead: read_state raises."""

    JITTER_RAD = 1e-4  # encoder noise of the blocked mode

    def __init__(self, robot="widowx", **kw):
        super().__init__(robot, **kw)
        self.mode = None
        self.reads = 0
        self._frozen = None

    def read_state(self):
        st = super().read_state()
        self.reads += 1
        if self.mode == "dead":
            raise RuntimeError("no joint state received yet")
        if self.mode in ("frozen", "frozen_values", "blocked"):
            if self._frozen is None:
                self._frozen = st
            q = self._frozen.q.copy()
            if self.mode == "blocked":
                q = q + self.JITTER_RAD * np.sin(self.reads)  # differs on every read
            return ArmState(q=q, dq=np.zeros_like(q), gripper=self._frozen.gripper,
                            stamp=self._frozen.stamp if self.mode == "frozen" else st.stamp)
        self._frozen = None
        if self.mode == "glitch":
            q = st.q.copy()
            q[1] = 1e6
            return ArmState(q=q, dq=st.dq, gripper=st.gripper, stamp=st.stamp)
        return st


class Rig:
    def __init__(self, initial_q=None, logger=logging.getLogger("arm_loop_test"), arm_cls=FakeArm, **ctl_kw):
        self.t = 100.0
        self.limits = load_safety_limits("widowx_twin")
        self.arm = arm_cls("widowx", clock=self.now, initial_q=initial_q)
        self.reports = []
        ctl = ArmController(self.limits, "gripper", PERIOD, 0.5, clock=self.now, **ctl_kw)
        self.loop = ArmLoop(ctl, self.arm.spec.home, self.reports.append, logger, clock=self.now, sleep=self.sleep)
        self.names = list(self.limits.joint_names) + ["gripper"]

    def now(self):
        return self.t

    def sleep(self, dt):  # the control timer keeps running while arm/home waits
        self.t += dt
        self.loop.control(self.now)

    def periods(self, n):
        for _ in range(n):
            self.t += PERIOD
            self.loop.control(self.now)


def test_nothing_happens_without_a_backend():
    rig = Rig()
    rig.loop.command(rig.t, rig.names, [np.zeros(7)], np.array([rig.t + 1]), rig.t)
    assert rig.loop.control(rig.now) is None
    assert rig.loop.home(rig.t, 0.3) == (False, "arm not active (configure + activate first)")
    assert rig.loop.ctl.dropped == {"before_first_state": 1}


def test_only_filtered_setpoints_reach_the_backend_and_stop_holds():
    rig = Rig()
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    q0 = rig.arm.read_state().q
    far = np.append(q0, 0.0)
    far[0] = rig.limits.upper[0] + 3.0
    far[6] = 5.0
    rig.loop.command(rig.t, rig.names, [far], np.array([rig.t + 0.5]), rig.t)
    rig.periods(8)
    sent = np.array([np.append(q, g) for q, g in rig.arm.commands])
    assert len(sent) == 8
    assert np.all(sent[:, :6] <= rig.limits.upper + 1e-9) and np.all(sent[:, 6] <= 1.0)
    assert np.all(np.abs(np.diff(sent[:, :6], axis=0)) <= rig.limits.step_bound(PERIOD) + 1e-9)
    assert {iv.kind for d in rig.reports for iv in d.interventions} >= {"joint_limit", "gripper_limit"}
    assert rig.loop.enable(False) == (True, "disabled: holding; call arm/enable true to resume")
    rig.periods(3)
    assert len(rig.arm.commands) == 8  # holding: nothing sent
    t, names, position = rig.loop.control(rig.now)
    assert t == rig.t and names == rig.names and position.shape == (7,)


def test_home_waits_until_the_arm_is_within_the_tolerance():
    rig = Rig(initial_q=FakeArm("widowx").spec.home + 0.3)
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    t0 = rig.t
    assert rig.loop.home(rig.t, 0.5) == (True, "home")
    assert np.max(np.abs(rig.arm.read_state().q - rig.arm.spec.home)) < HOME_TOLERANCE
    assert rig.t - t0 < home_deadline(0.0)


def test_home_fails_after_the_deadline_when_the_arm_does_not_move():
    rig = Rig(initial_q=FakeArm("widowx").spec.home + 0.3, arm_cls=FaultyArm)
    rig.arm.mode = "blocked"  # a stuck arm whose encoders still show noise (bit-identical values are a fault)
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    t0 = rig.t
    ok, message = rig.loop.home(rig.t, 0.5)
    assert not ok and message.startswith("did not reach home within")
    timeout = float(message.split()[-2])
    assert timeout > home_deadline(0.0) and rig.t - t0 == pytest.approx(timeout, abs=HOME_POLL_S + 1e-6)


def test_close_holds_and_disconnects():
    rig = Rig()
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    rig.loop.close()
    assert not rig.arm.is_connected() and rig.loop.backend is None


class _Warnings(list):
    def info(self, _message):
        pass

    def warning(self, message):
        self.append(message)


def test_close_finishes_when_the_backend_fails_to_disconnect():
    warnings = _Warnings()
    rig = Rig(logger=warnings)
    rig.loop.connect(rig.arm)

    def fail():
        raise RuntimeError("bus error")

    rig.arm.disconnect = fail
    rig.loop.close()
    assert rig.loop.backend is None and warnings == ["disconnect: bus error"]


# ------------------------------------------------------------------ latch, hardware boundary, supervision
def _moving_rig(arm_cls=FaultyArm, **kw):
    """Connected, active, following a 2 s trajectory 1 rad away on joint 0 (waist)."""
    rig = Rig(arm_cls=arm_cls, **kw)
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    return rig


def _command(rig, offset=1.0, duration=2.0):
    q = rig.arm.read_state().q
    target = np.append(q, 0.0)
    target[0] += offset
    rig.loop.command(rig.t, rig.names, [target], np.array([rig.t + duration]), rig.t)


def _stream(rig, periods, offset=1.0):
    """Command every period (a live policy: the watchdog stays fresh)."""
    for _ in range(periods):
        _command(rig, offset)
        rig.periods(1)


def test_stop_latches_until_an_operator_reset_and_the_next_enable():
    rig = _moving_rig(FakeArm)
    _stream(rig, 3)
    assert len(rig.arm.commands) == 3
    assert rig.loop.stop().startswith("stopped: holding, latched (operator stop (arm/stop))")
    ok, msg = rig.loop.enable(True)  # the episode manager's enable at the next episode start
    assert not ok and msg == ("arm latched: operator stop (arm/stop); an operator must run `postbc arm reset` "
                              "(service arm/operator_reset)")
    _stream(rig, 5)
    assert len(rig.arm.commands) == 3 and rig.loop.ctl.dropped["latched"] == 5
    st = rig.loop.ctl.status(rig.t)
    assert st["latched"] and not st["enabled"] and st["holding"] and st["reason"] == "operator stop (arm/stop)"
    assert st["faults"] == {}  # a stop is not a fault
    assert rig.loop.operator_reset()[1].startswith("latch cleared (was: operator stop (arm/stop))")
    _stream(rig, 3)
    assert len(rig.arm.commands) == 3  # reset alone does not move the arm: disabled until enable
    assert rig.loop.enable(True) == (True, "enabled")
    _stream(rig, 3)
    assert len(rig.arm.commands) == 6


@pytest.mark.parametrize("mode", ["frozen", "frozen_values"])
def test_frozen_measured_state_while_commanding_motion_is_a_fault(mode):
    rig = _moving_rig()
    _stream(rig, 3)
    rig.arm.mode = mode  # the controller died; "frozen_values": the driver republishes with fresh stamps
    _stream(rig, 40)
    ctl = rig.loop.ctl
    assert ctl.latched and ctl.latched.startswith("measured state frozen: controller not responding")
    assert ctl.faults == {"frozen_state": 1}
    n_sent = len(rig.arm.commands)
    assert n_sent <= 3 + FROZEN_PERIODS + 2  # latched within the frozen window, nothing sent since
    _stream(rig, 5)
    assert len(rig.arm.commands) == n_sent


def test_frozen_values_at_rest_are_no_fault_but_a_stamp_that_stops_is():
    rig = _moving_rig()
    rig.arm.mode = "frozen_values"  # an arm at rest reads the same values: fine while nothing is asked
    rig.periods(40)
    assert rig.loop.ctl.latched is None
    rig.arm.mode = "frozen"  # the state's stamp stops advancing: the controller is not responding
    rig.periods(int(STATE_TIMEOUT_S / PERIOD) + 2)
    assert "state stamp" in rig.loop.ctl.latched and rig.loop.ctl.faults == {"frozen_state": 1}


def test_a_blocked_arm_latches_on_the_following_error_instead_of_drifting():
    rig = _moving_rig()
    rig.arm.mode = "blocked"
    q_blocked = rig.arm.read_state().q
    _stream(rig, 200, offset=3.0)  # 10 s of a policy pushing the waist 3 rad away
    ctl = rig.loop.ctl
    assert ctl.latched and ctl.latched.startswith("following error on waist") and ctl.faults == {"following_error": 1}
    drift = max(abs(q[0] - q_blocked[0]) for q, _g in rig.arm.commands)
    # at most the bound plus what the rate limits allow within following_error_time (was 2.8 rad)
    assert drift <= MAX_FOLLOWING_ERROR_RAD + rig.limits.max_velocity[0] * (FOLLOWING_ERROR_TIME_S + 2 * PERIOD)
    assert len(rig.arm.commands) < 40


def test_a_measured_position_outside_the_limits_is_a_fault_never_a_recovery():
    rig = _moving_rig()
    _stream(rig, 2)
    rig.arm.mode = "glitch"  # shoulder reads 1e6 rad
    _stream(rig, 2)
    ctl = rig.loop.ctl
    assert ctl.latched.startswith("joint shoulder measured at 1e+06 rad, outside [-1.885, 1.99]: move it back by "
                                  "hand / check calibration, then postbc arm reset")
    assert len(rig.arm.commands) == 2 and all(np.all(np.abs(q) < 4) for q, _g in rig.arm.commands)
    rig.loop.operator_reset()  # still outside: latched again at once
    rig.periods(1)
    assert ctl.latched and ctl.faults == {"measured_out_of_limits": 2}
    rig.arm.mode = None
    rig.loop.operator_reset()
    assert rig.loop.enable(True)[0]
    _stream(rig, 2)
    assert len(rig.arm.commands) == 4


def test_a_command_before_the_first_state_is_dropped_and_a_state_lost_later_is_a_fault():
    rig = _moving_rig()
    rig.arm.mode = "dead"
    rig.loop.command(rig.t, rig.names, [np.zeros(7)], np.array([rig.t + 1]), rig.t)
    assert rig.loop.control(rig.now) is None
    ctl = rig.loop.ctl
    assert ctl.dropped == {"before_first_state": 1} and ctl.latched is None
    rig.periods(40)  # no state yet: nothing to judge
    assert ctl.latched is None
    rig.arm.mode = None
    _stream(rig, 3)
    assert len(rig.arm.commands) == 3
    rig.arm.mode = "dead"
    rig.periods(2)
    assert ctl.latched is None and ctl.holding  # holds at once, a fault once it lasts
    rig.periods(int(STATE_TIMEOUT_S / PERIOD))
    assert ctl.latched.startswith("measured state unavailable for") and ctl.faults == {"stale_state": 1}


def test_a_filter_that_raises_or_returns_garbage_is_a_hold(monkeypatch):
    import postbc_ros.core.arm_controller as ac

    rig = _moving_rig(FakeArm)
    _stream(rig, 2)
    for bad in (RuntimeError("tensor on the wrong device"), "not a result",
                SafetyResult(np.array([np.nan] * 7), False, [])):
        def fake(*_a, bad=bad, **_k):
            if isinstance(bad, Exception):
                raise bad
            return bad

        monkeypatch.setattr(ac, "filter_command", fake)
        rig.loop.enable(True)
        _stream(rig, 2)  # received (rejected on receipt) and stepped: never an exception
        assert rig.loop.ctl.holding and rig.loop.ctl.counts.get("filter_error", 0) > 0
    assert len(rig.arm.commands) == 2


def test_close_holds_even_when_already_holding():
    rig = _moving_rig(FakeArm)
    holds = []
    rig.arm.hold = lambda: holds.append(rig.t)
    rig.loop.close()
    assert holds == [rig.t]


class Beats:
    """An episode manager's heartbeat stream into the loop."""

    def __init__(self, rig, time_limit=5.0):
        self.rig, self.time_limit, self.episode, self.start = rig, time_limit, 0, None

    def send(self, running=True):
        if running and self.start is None:
            self.start = self.rig.t
        hb = Heartbeat(stamp=self.rig.t, episode=self.episode, running=running, time_limit_s=self.time_limit,
                       elapsed_s=(self.rig.t - self.start) if running else 0.0)
        self.rig.loop.heartbeat(hb.to_json(), self.rig.t)


def test_supervised_arm_moves_only_with_a_running_episode_and_latches_when_the_heartbeat_is_lost():
    rig = _moving_rig(FakeArm, supervised=True, heartbeat_timeout=0.5)
    beats = Beats(rig)
    _stream(rig, 5)
    assert rig.arm.commands == [] and rig.loop.ctl.dropped["no_heartbeat"] == 5
    beats.send(running=False)  # between episodes: hold, not latched
    _stream(rig, 3)
    assert rig.arm.commands == [] and rig.loop.ctl.latched is None and rig.loop.ctl.dropped["not_running"] == 3
    for _ in range(10):
        beats.send()
        _stream(rig, 1)
    assert len(rig.arm.commands) >= 8
    n = len(rig.arm.commands)
    # the episode manager is killed: the policy keeps commanding, the heartbeat stops
    _stream(rig, 20)
    ctl = rig.loop.ctl
    assert ctl.latched.startswith("episode manager heartbeat lost") and ctl.faults == {"heartbeat_lost": 1}
    assert len(rig.arm.commands) <= n + int(0.5 / PERIOD) + 1  # held within the heartbeat timeout
    beats.send()  # it comes back: still latched until the operator
    assert not rig.loop.enable(True)[0]


def test_supervised_arm_enforces_the_episode_time_limit_itself():
    rig = _moving_rig(FakeArm, supervised=True)
    beats = Beats(rig, time_limit=1.0)
    limit_periods = int((1.0 + EPISODE_OVERRUN_MARGIN_S) / PERIOD)
    for _ in range(limit_periods + 5):  # a manager that never ends the episode
        beats.send()
        _stream(rig, 1)
    ctl = rig.loop.ctl
    assert ctl.latched.startswith("episode 0 has run") and ctl.faults == {"episode_overrun": 1}
    assert len(rig.arm.commands) <= limit_periods + 1


def test_a_malformed_heartbeat_is_dropped_and_counted():
    rig = _moving_rig(FakeArm, supervised=True)
    rig.loop.heartbeat("not json", rig.t)
    rig.loop.heartbeat('{"running": "yes"}', rig.t)
    assert rig.loop.ctl.dropped == {"bad_heartbeat": 2} and rig.loop.ctl.episode.last is None


def test_the_supervisor_gone_latches():
    alive = {"yes": True}
    watch = SupervisorWatch(4242, alive=lambda pid: alive["yes"], getppid=lambda: 4242)
    rig = _moving_rig(FakeArm, supervisor=watch)
    _stream(rig, 3)
    alive["yes"] = False  # kill -9 of postbc launch
    _stream(rig, 10)
    ctl = rig.loop.ctl
    assert ctl.latched.startswith("supervisor (postbc launch) gone") and ctl.faults == {"supervisor_gone": 1}
    assert len(rig.arm.commands) <= 3 + int(SUPERVISOR_CHECK_S / PERIOD) + 1


def test_status_is_due_on_every_change_and_every_second():
    rig = _moving_rig(FakeArm)
    first = rig.loop.status_due(rig.t)
    assert set(first) == {"stamp", "enabled", "holding", "latched", "reason", "faults", "dropped"}
    assert rig.loop.status_due(rig.t + 0.1) is None
    rig.loop.stop()
    st = rig.loop.status_due(rig.t + 0.2)
    assert st["latched"] and st["reason"] == "operator stop (arm/stop)"
    assert rig.loop.status_due(rig.t + 0.3) is None and rig.loop.status_due(rig.t + 1.3) is not None


def test_control_periods_that_stop_coming_latch_the_arm():
    """On a twin the control timer runs on the twin's /clock: a hung simulator stops it. The node's
    wall-clock check (arm_node's steady timer) makes that a fault instead of silence."""
    from postbc_ros.core.arm_loop import CONTROL_STALL_S

    rig = _moving_rig()
    _stream(rig, 2)
    rig.loop.stalled()  # periods come: nothing
    assert rig.loop.ctl.latched is None
    rig.t += CONTROL_STALL_S * 0.8
    rig.loop.stalled()
    assert rig.loop.ctl.latched is None
    rig.t += CONTROL_STALL_S * 0.4  # no control period for 1.2 x the bound
    rig.loop.stalled()
    assert rig.loop.ctl.latched.startswith("no control period for") and rig.loop.ctl.faults == {"control_stalled": 1}
    n = len(rig.arm.commands)
    _stream(rig, 3)
    assert len(rig.arm.commands) == n  # latched: nothing sent until the operator resets


def test_no_stall_before_the_first_control_period():
    rig = Rig(arm_cls=FaultyArm)
    rig.loop.connect(rig.arm)
    rig.loop.activate(True)
    rig.t += 10.0
    rig.loop.stalled()
    assert rig.loop.ctl.latched is None


def test_a_heartbeat_before_the_simulated_clock_starts_is_not_a_heartbeat_from_1970():
    """On a twin the arm runs on the twin's /clock: a heartbeat that arrives before the first clock
    message reads time 0. Stamped with it, it would be 'lost 1.8e9 s ago' once the clock runs."""
    rig = _moving_rig(FakeArm, supervised=True, heartbeat_timeout=0.5)
    hb = Heartbeat(stamp=0.0, episode=0, running=True, time_limit_s=5.0, elapsed_s=0.0)
    rig.loop.heartbeat(hb.to_json(), 0.0)
    assert rig.loop.ctl.dropped["clock_not_started"] == 1
    _stream(rig, 2)  # the clock runs (rig.t = 100): waiting for a heartbeat, not "lost" and latched
    assert rig.loop.ctl.latched is None and rig.arm.commands == []
    Beats(rig).send()  # the first real heartbeat
    _stream(rig, 3)
    assert rig.loop.ctl.latched is None and len(rig.arm.commands) == 3


def test_stall_bound_is_the_configured_one_or_the_clock_default():
    from postbc_ros.core.arm_loop import CONTROL_STALL_S, SIM_CLOCK_STALL_S, stall_bound

    assert stall_bound(0.0, sim_clock=False) == CONTROL_STALL_S
    assert stall_bound(0.0, sim_clock=True) == SIM_CLOCK_STALL_S
    assert stall_bound(7.5, sim_clock=True) == stall_bound(7.5, sim_clock=False) == 7.5
