"""Coverage task reach_obstacle (docs/coverage_tasks.md): ids, the obstacle in the observation, the
layout rule, and the post physically blocking the operator's common mode (MuJoCo contact)."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import postbc_ros.sim as sim
from postbc_ros.robots import get_twin
from postbc_ros.sim import make_env, make_env_from_id, make_scripted_policy
from postbc_ros.sim.layout import mode_is_clear, obstacle_blocks, sample_layout

ROBOTS = ("widowx", "ur5e")
COMMON, RARE = (1.0, 0.0), (0.0, 1.0)  # mode_probs forcing the operator's left / right mode


def _episode(env, policy, seed=None, options=None):
    """Run one scripted episode; (success, the arm touched the post)."""
    u = env.unwrapped
    if seed is not None or options is not None:
        obs, _ = env.reset(seed=seed, options=options)
    else:
        obs = u.observation()
    policy.reset()
    touched, info = False, {"success": False}
    for _ in range(u.horizon):
        obs, _r, term, trunc, info = env.step(policy(obs))
        touched |= u.twin.arm_touches_obstacle()
        if term or trunc:
            break
    return bool(info["success"]), touched


def _seed_with(env, blocked: bool, start: int = 0) -> int:
    for seed in range(start, start + 200):
        env.reset(seed=seed)
        if bool(env.unwrapped.layout["blocked"]) == blocked:
            return seed
    raise AssertionError("no such layout in 200 seeds")


def test_coverage_ids_registered_next_to_the_natural_ones():
    ids = sim.env_ids()
    for robot, title in (("widowx", "WidowX"), ("ur5e", "UR5e")):
        cid = f"postbc/{title}ReachObstacle-v0"
        assert ids[cid] == (robot, "reach_obstacle") and cid in gym.registry
        assert sim.env_id(robot, "reach_obstacle") == cid
        for task, t_id in (("reach", "Reach"), ("push", "Push"), ("pick_place", "PickPlace")):
            assert ids[f"postbc/{title}{t_id}-v0"] == (robot, task)
    env = make_env_from_id("postbc/WidowXReachObstacle-v0", seed=0)
    assert env.unwrapped.task == "reach_obstacle" and env.unwrapped.base_task == "reach"
    assert env.unwrapped.horizon == make_env("widowx", "reach").unwrapped.horizon
    env.close()


def test_natural_observations_unchanged():
    joints = [f"q_{n}" for n in make_env("widowx", "reach").unwrapped.twin.joint_names]
    proprio = joints + ["gripper", "ee_x", "ee_y", "ee_z"]
    xyz = lambda p: [f"{p}_{a}" for a in "xyz"]  # noqa: E731
    rel = lambda p: [f"{p}_rel_{a}" for a in "xyz"]  # noqa: E731
    assert make_env("widowx", "reach").unwrapped.state_names == proprio + xyz("goal") + rel("goal")
    for task in ("push", "pick_place"):
        names = make_env("widowx", task).unwrapped.state_names
        assert names == proprio + xyz("obj") + xyz("goal") + rel("obj") + rel("goal")
    env = make_env("ur5e", "reach", seed=0)
    obs, _ = env.reset(seed=3)
    assert "obstacle" not in env.unwrapped.layout and not env.unwrapped.twin.has_obstacle
    assert obs["state"].shape == (16,)


@pytest.mark.parametrize("robot", ROBOTS)
def test_obstacle_is_in_the_observation(robot):
    env = make_env(robot, "reach_obstacle", seed=0)
    u = env.unwrapped
    obs, _ = env.reset(seed=1)
    names = u.state_names
    assert env.observation_space.contains(obs) and obs["state"].shape == (22,) and len(names) == 22
    s = dict(zip(names, obs["state"]))
    obst = np.array([s["obst_x"], s["obst_y"], s["obst_z"]])
    np.testing.assert_allclose(obst, u.layout["obstacle"], atol=1e-6)
    np.testing.assert_allclose(obst, u.twin.obstacle_position(), atol=1e-6)
    ee = np.array([s["ee_x"], s["ee_y"], s["ee_z"]])
    np.testing.assert_allclose([s["obst_rel_x"], s["obst_rel_y"], s["obst_rel_z"]], obst - ee, atol=1e-5)
    # moving the post moves its entries and nothing else of the layout
    moved = u.layout["obstacle"] + np.array([0.05, -0.03, 0.0])
    obs2, _ = env.reset(seed=1, options={"obstacle": moved})
    s2 = dict(zip(names, obs2["state"]))
    np.testing.assert_allclose([s2["obst_x"], s2["obst_y"]], moved[:2], atol=1e-6)
    assert s2["goal_x"] == s["goal_x"] and s2["goal_y"] == s["goal_y"]


@pytest.mark.parametrize("robot", ROBOTS)
def test_layout_rule(robot):
    """Each layout is what its flag says: blocked -> the rule blocks the common mode and the straight
    line and leaves the rare one clear; clear -> both clear. About block_prob of the layouts are blocked."""
    twin = get_twin(robot)
    p, k = twin.task, twin.operator_scale
    env = make_env(robot, "reach_obstacle")
    start = env.unwrapped.twin.ee_pose()[0]
    rng = np.random.default_rng(0)
    flags = []
    for _ in range(150):
        lay = sample_layout(p, "reach_obstacle", rng, start=start, scale=k)
        blocked = bool(lay["blocked"])
        flags.append(blocked)
        g, o = lay["goal"], lay["obstacle"]
        assert obstacle_blocks(p, start, g, o, k) == blocked
        if blocked:  # the straight start -> goal line is blocked too, not only the left detours
            mid = 0.5 * (np.asarray(start)[:2] + np.asarray(g)[:2])
            assert np.linalg.norm(mid - np.asarray(o)[:2]) < p.obstacle.radius + p.obstacle.tool_clearance
        assert mode_is_clear(p, start, g, o, "right", k)
        assert mode_is_clear(p, start, g, o, "left", k) == (not blocked)
    assert abs(np.mean(flags) - p.obstacle.block_prob) < 0.15


@pytest.mark.parametrize("robot", ROBOTS)
def test_post_blocks_the_common_mode_by_contact(robot):
    env = make_env(robot, "reach_obstacle", seed=0)
    u = env.unwrapped
    seed = _seed_with(env, blocked=True)
    common = make_scripted_policy(env, seed=0, mode_probs=COMMON)
    rare = make_scripted_policy(env, seed=0, mode_probs=RARE)
    ok, touched = _episode(env, common, seed)
    assert not ok and touched and common.mode == "left"  # the common detour runs into the post
    ok, touched = _episode(env, rare, seed)
    assert ok and not touched and rare.mode == "right"
    # the same layout with the post's collision switched off: the common mode succeeds, so what
    # stopped it was the contact, not a rule
    env.reset(seed=seed)
    u.twin.model.geom_contype[u.twin.obstacle_geom] = 0
    u.twin.model.geom_conaffinity[u.twin.obstacle_geom] = 0
    ok, _ = _episode(env, common)
    assert ok
    # a clear layout: both modes succeed, neither touches the post
    env = make_env(robot, "reach_obstacle", seed=0)
    seed = _seed_with(env, blocked=False)
    for probs in (COMMON, RARE):
        assert _episode(env, make_scripted_policy(env, seed=0, mode_probs=probs), seed) == (True, False)


def test_reset_options_recompute_the_blocked_flag():
    env = make_env("widowx", "reach_obstacle", seed=0)
    u = env.unwrapped
    seed = _seed_with(env, blocked=True)
    env.reset(seed=seed)
    goal, post = u.layout["goal"], u.layout["obstacle"]
    env.reset(seed=seed, options={"obstacle": [0.12, -0.27, 0.0]})
    assert not u.layout["blocked"]
    env.reset(seed=seed + 1000, options={"goal": goal, "obstacle": post})
    assert u.layout["blocked"]


def test_demonstrator_split_is_unchanged_on_the_coverage_task():
    env = make_env("widowx", "reach_obstacle", seed=0)
    policy = make_scripted_policy(env, seed=0)
    modes = []
    for _ in range(400):
        policy.reset()
        modes.append(policy.mode)
    assert 0.6 < modes.count("left") / len(modes) < 0.8
