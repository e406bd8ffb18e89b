"""Gymnasium tasks: registration, spaces, success detectors, seeding, scripted demonstrators."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import postbc_ros.sim as sim
from postbc_ros.sim import make_env, make_env_from_id, make_scripted_policy

COMBOS = [(r, t) for r in ("widowx", "ur5e") for t in ("reach", "push", "pick_place")]


def test_all_ids_registered_and_buildable():
    ids = sim.env_ids()
    assert len(ids) == 8  # 2 arms x (3 natural tasks + the coverage variant reach_obstacle)
    for env_id, (robot, task) in ids.items():
        assert env_id in gym.registry
        assert sim.env_id(robot, task) == env_id
    env = gym.make("postbc/WidowXPickPlace-v0")
    assert env.unwrapped.robot == "widowx" and env.unwrapped.task == "pick_place"
    assert hasattr(env.unwrapped, "twin")
    env.close()
    env = make_env_from_id("postbc/UR5eReach-v0", control="joint_delta")
    assert env.action_space.shape == (7,)
    with pytest.raises(ValueError, match="unknown env id"):
        make_env_from_id("postbc/Panda-v0")
    with pytest.raises(ValueError, match="unknown task"):
        make_env("widowx", "stack")
    with pytest.raises(ValueError, match="unknown obs_mode"):
        make_env("widowx", "reach", obs_mode="depth")
    with pytest.raises(ValueError, match="make_env: unknown robot 'panda'"):
        make_env("panda", "reach")
    assert make_env("WX250S", "reach").unwrapped.robot == "widowx"  # aliases from the registry entry


@pytest.mark.filterwarnings("ignore:.*infinity")
def test_gymnasium_env_checker_passes():
    from gymnasium.utils.env_checker import check_env

    check_env(make_env("widowx", "pick_place"), skip_render_check=True)
    check_env(make_env_from_id("postbc/UR5ePush-v0", obs_mode="image", image_size=64, render_mode="rgb_array").unwrapped,
              skip_render_check=True)


def test_metaworld_ids_delegate_to_rl_module():
    pytest.importorskip("metaworld")
    env = make_env_from_id("metaworld/reach-v3", seed=3)
    obs, info = env.reset(seed=0)
    assert "state" in obs
    env.close()


@pytest.mark.parametrize("robot,task", COMBOS)
def test_spaces_and_step_contract(robot, task):
    env = make_env(robot, task, seed=0)
    obs, info = env.reset(seed=0)
    assert info == {"success": False}
    assert env.observation_space.contains(obs)
    assert obs["state"].shape == (16 if task == "reach" else 22,)
    assert len(env.unwrapped.state_names) == obs["state"].shape[0]
    assert env.action_space.shape == (4,)
    obs, r, term, trunc, info = env.step(np.zeros(4, np.float32))
    assert r in (0.0, 1.0) and isinstance(info["success"], bool)
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0, 0, 0], np.float32))


def test_ee_delta_moves_the_tool_by_the_commanded_step():
    env = make_env("widowx", "reach", seed=0)
    env.reset(seed=0)
    tw = env.unwrapped.twin
    p0 = tw.ee_pose()[0]
    for _ in range(3):
        env.step(np.array([1.0, 0.0, 0.0, -1.0], np.float32))
    for _ in range(3):
        env.step(np.array([0.0, 0.0, 0.0, -1.0], np.float32))
    moved = tw.ee_pose()[0] - p0
    step = env.unwrapped.params.max_step
    assert moved[0] == pytest.approx(3 * step, abs=2e-3)
    assert abs(moved[1]) < 2e-3 and abs(moved[2]) < 2e-3
    # the gripper stays pointing down
    assert np.dot(tw.ee_pose()[1][:, 0], [0, 0, -1]) > 0.99


def test_joint_delta_moves_joints():
    env = make_env("ur5e", "reach", control="joint_delta", seed=0)
    env.reset(seed=0)
    tw = env.unwrapped.twin
    q0 = tw.joint_positions()
    a = np.zeros(7, np.float32)
    a[0] = 1.0
    for _ in range(4):
        env.step(a)
    for _ in range(3):  # let the servos settle
        env.step(np.zeros(7, np.float32))
    dq = tw.joint_positions() - q0
    assert dq[0] == pytest.approx(4 * env.unwrapped.params.max_joint_step, abs=0.02)
    assert np.all(np.abs(dq[1:]) < 0.01)


@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_reach_success_detector(robot):
    env = make_env(robot, "reach", seed=0).unwrapped
    env.reset(seed=0)
    tw = env.twin
    tw.set_goal(tw.ee_pose()[0] + [0.0, 0.0, 0.5 * env.params.reach_tol])
    tw.forward()
    assert env.is_success()
    tw.set_goal(tw.ee_pose()[0] + [0.0, 2 * env.params.reach_tol, 0.0])
    tw.forward()
    assert not env.is_success()


@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_push_success_detector(robot):
    env = make_env(robot, "push", seed=0).unwrapped
    env.reset(seed=0)
    tw, p = env.twin, env.params
    goal = tw.goal_position()
    tw.set_object_position([goal[0] + 0.5 * p.push_tol, goal[1], p.puck_half_height])
    tw.forward()
    assert env.is_success()
    tw.set_object_position([goal[0] + 1.5 * p.push_tol, goal[1], p.puck_half_height])
    tw.forward()
    assert not env.is_success()
    # success terminates the episode with reward 1
    tw.set_object_position([goal[0], goal[1], p.puck_half_height])
    _, r, term, trunc, info = env.step(np.array([0, 0, 0.5, 1], np.float32))
    assert (r, term, trunc, info["success"]) == (1.0, True, False, True)


@pytest.mark.parametrize("robot", ["widowx", "ur5e"])
def test_pick_place_success_detector(robot):
    env = make_env(robot, "pick_place", seed=0).unwrapped
    env.reset(seed=0)
    tw, p = env.twin, env.params
    bowl = tw.goal_position()
    # dropped into the bowl: lands on the bowl's bottom and stays there
    tw.set_object_position([bowl[0] + 0.01, bowl[1], p.obj_half_height + 0.03])
    for _ in range(5):
        tw.step()
    assert env.is_success()
    # next to the bowl, on the table
    tw.set_object_position([bowl[0] + p.bowl_radius + 0.04, bowl[1], p.obj_half_height])
    tw.forward()
    assert not env.is_success()
    # above the bowl but not in it
    tw.set_object_position([bowl[0], bowl[1], p.bowl_height + p.obj_half_height + 0.08])
    tw.forward()
    assert not env.is_success()


def test_truncation_at_horizon():
    env = make_env("widowx", "reach", seed=0, horizon=5)
    env.reset(seed=0)
    for t in range(5):
        _, r, term, trunc, _ = env.step(np.array([0, 0, 1, -1], np.float32))
    assert trunc and not term and r == 0.0


@pytest.mark.parametrize("robot,task", [("widowx", "push"), ("ur5e", "pick_place")])
def test_seeded_reset_is_deterministic(robot, task):
    e1, e2 = make_env(robot, task), make_env(robot, task)
    o1, _ = e1.reset(seed=42)
    o2, _ = e2.reset(seed=42)
    np.testing.assert_array_equal(o1["state"], o2["state"])
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = rng.uniform(-1, 1, 4).astype(np.float32)
        o1, *_ = e1.step(a)
        o2, *_ = e2.step(a)
    np.testing.assert_array_equal(o1["state"], o2["state"])
    o3, _ = e1.reset(seed=43)
    o4, _ = e2.reset(seed=42)
    assert not np.allclose(o3["state"][-6:], o4["state"][-6:])
    # construction seed drives unseeded resets
    a, b = make_env(robot, task, seed=5), make_env(robot, task, seed=5)
    np.testing.assert_array_equal(a.reset()[0]["state"], b.reset()[0]["state"])
    np.testing.assert_array_equal(a.reset()[0]["state"], b.reset()[0]["state"])


def _run_episode(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    policy.reset()
    traj = [env.unwrapped.twin.ee_pose()[0]]
    info = {"success": False}
    for _ in range(env.unwrapped.horizon):
        obs, _r, term, trunc, info = env.step(policy(obs))
        traj.append(env.unwrapped.twin.ee_pose()[0])
        if term or trunc:
            break
    return info["success"], np.array(traj)


@pytest.mark.parametrize("robot,task", COMBOS)
def test_scripted_demonstrator_succeeds(robot, task):
    env = make_env(robot, task, seed=0)
    policy = make_scripted_policy(env, seed=0)
    results = [_run_episode(env, policy, seed)[0] for seed in range(3)]
    assert sum(results) >= 3
    env.close()


def test_scripted_demonstrator_works_through_joint_delta():
    env = make_env("widowx", "pick_place", control="joint_delta", seed=0)
    policy = make_scripted_policy(env, seed=0)
    assert _run_episode(env, policy, 0)[0]


def test_demonstrator_is_multimodal():
    env = make_env("widowx", "push", seed=0)
    policy = make_scripted_policy(env, seed=0)
    modes = []
    for _ in range(400):
        policy.reset()
        modes.append(policy.mode)
    frac_left = modes.count("left") / len(modes)
    assert 0.6 < frac_left < 0.8 and set(modes) == {"left", "right"}
    # same layout, the two modes go round the puck on opposite sides: where the gripper first
    # comes down to pushing height it is on the mode's side of the object->goal line
    lateral = {}
    p = env.unwrapped.params
    for _ in range(40):
        if len(lateral) == 2:
            break
        ok, traj = _run_episode(env, policy, 7)
        assert ok
        o = env.unwrapped.layout["object"]
        g = env.unwrapped.layout["goal"]
        u = (g - o)[:2] / np.linalg.norm((g - o)[:2])
        n = np.array([-u[1], u[0]])
        low = np.flatnonzero(traj[:, 2] < 2 * p.puck_half_height + 0.005)[0]
        lateral.setdefault(policy.mode, float((traj[low, :2] - o[:2]) @ n))
    assert lateral["left"] > 0.02 and lateral["right"] < -0.02


def test_apply_action_matches_step_and_reset_options():
    e1, e2 = make_env("widowx", "pick_place"), make_env("widowx", "pick_place")
    opts = {"object": [0.3, 0.05, 0.025], "goal": [0.3, -0.1, 0.0]}
    e1.reset(seed=0, options=opts)
    e2.reset(seed=0, options=opts)
    np.testing.assert_allclose(e1.unwrapped.twin.object_position(), opts["object"])
    np.testing.assert_allclose(e1.unwrapped.layout["goal"], opts["goal"])
    a = np.array([0.5, -0.3, -0.8, 1.0], np.float32)
    q, g = e1.unwrapped.apply_action(a)
    e1.unwrapped.twin.step()
    e2.step(a)
    assert g == pytest.approx(1.0)
    np.testing.assert_allclose(e1.unwrapped.twin.joint_positions(), e2.unwrapped.twin.joint_positions())
    np.testing.assert_allclose(q, e2.unwrapped.commanded_joints)


def test_tool_target_is_clipped_into_the_workspace_box():
    env = make_env("widowx", "reach", seed=0)
    env.reset(seed=0)
    for _ in range(30):
        env.step(np.array([0.0, 0.0, -1.0, -1.0], np.float32))
    low = env.unwrapped.params.ee_low
    assert env.unwrapped.commanded_position[2] == pytest.approx(low[2])
    assert env.unwrapped.twin.ee_pose()[0][2] > low[2] - 0.005  # never driven into the table
