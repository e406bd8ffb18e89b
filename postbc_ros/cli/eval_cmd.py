"""`postbc eval`: roll a checkpoint out in a simulated env and report the success rate.

The env is named by id (--env postbc/UR5ePush-v0) or by robot and task (--robot ur5e --task push).
Before any episode the checkpoint's observation contract is checked against the env's: a
checkpoint trained on another robot, action space or observation is refused (exit 2) with a
message naming each field that differs, both values and the fix; a checkpoint saved before the
contract existed is evaluated with a warning that its contract was derived.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from postbc_ros.robots import robot_names
    from postbc_ros.sim.task_params import TASKS

    p = subparsers.add_parser(
        "eval",
        help="evaluate a policy checkpoint in a sim env (success rate, mean episode length)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (postbc pretrain --out)")
    p.add_argument("--env", default=None,
                   help="env id, e.g. postbc/WidowXPickPlace-v0 or metaworld/<task>-v3 (or give --robot and --task)")
    p.add_argument("--robot", default=None, choices=robot_names(with_twin=True), help="twin robot (with --task)")
    p.add_argument("--task", default=None, choices=list(TASKS), help="twin task (with --robot)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA weights")
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="scale of the initial DDIM noise w ~ N(0, I): 1 samples the policy, 0 evaluates its "
                        "deterministic w = 0 chunks (where DSRL's actor starts)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per episode (default: env's)")
    p.add_argument("--json", dest="json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _env_id(args) -> str | None:
    """The env id from --env, or from --robot/--task; None when they are given wrongly."""
    from postbc_ros.sim import env_id

    if args.env is not None:
        return None if (args.robot or args.task) else args.env
    if not (args.robot and args.task):
        return None
    return env_id(args.robot, args.task)


def run(args) -> int:
    import json
    import sys

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.core.observation_contract import ContractMismatch
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.learning.evaluate import check_policy_env, control_for, env_kwargs_for, evaluate_policy
    from postbc_ros.learning.policy_io import load_policy
    from postbc_ros.learning.runner import check_noise_scale
    from postbc_ros.sim import make_env_from_id

    try:
        check_noise_scale(args.noise_scale, "--noise-scale")
        env_name = _env_id(args)
    except ValueError as e:
        print(f"postbc eval: {e}", file=sys.stderr)
        return 2
    if env_name is None:
        print("postbc eval: name the env either with --env ID or with --robot ROBOT --task TASK (not both)",
              file=sys.stderr)
        return 2
    set_cpu_threads()
    try:
        policy = load_policy(args.checkpoint, device=args.device, use_ema=not args.no_ema)
    except CheckpointError as e:
        print(f"postbc eval: {e}", file=sys.stderr)
        return 2
    kw = env_kwargs_for(policy) if env_name.startswith("postbc/") else {}
    if env_name.startswith("postbc/") and control_for(policy):
        kw["control"] = control_for(policy)  # the action space the checkpoint was trained with
    env = make_env_from_id(env_name, **kw)
    try:
        try:
            warnings = check_policy_env(policy, env)
        except ContractMismatch as e:
            print(f"postbc eval: {e}", file=sys.stderr)
            return 2
        for w in warnings:
            print(f"postbc eval: warning: observation contract {w}", file=sys.stderr)
        res = evaluate_policy(policy, env, args.episodes, seed=args.seed, device=args.device,
                              progress=not args.quiet, max_steps=args.max_steps, noise_scale=args.noise_scale,
                              check_contract=False)
    finally:
        env.close()
    res.update(checkpoint=args.checkpoint, env=env_name, method=getattr(policy, "method", None))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{env_name}: success {res['success_rate']:.3f} over {res['episodes']} episodes, "
              f"mean length {res['mean_length']:.1f}")
    return 0
