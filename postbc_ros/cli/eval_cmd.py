"""`postbc eval`: roll a checkpoint out in a simulated env and report the success rate."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a policy checkpoint in a sim env (success rate, mean episode length)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (postbc pretrain --out)")
    p.add_argument("--env", required=True, help="env id, e.g. postbc/WidowXPickPlace-v0 or metaworld/<task>-v3")
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


def run(args) -> int:
    import json
    import sys

    from postbc_ros.cli.torch_threads import set_cpu_threads
    from postbc_ros.learning.checkpoint import CheckpointError
    from postbc_ros.learning.evaluate import env_kwargs_for, evaluate_policy
    from postbc_ros.learning.policy_io import load_policy
    from postbc_ros.learning.runner import check_noise_scale
    from postbc_ros.sim import make_env_from_id

    try:
        check_noise_scale(args.noise_scale, "--noise-scale")
    except ValueError as e:
        print(f"postbc eval: {e}", file=sys.stderr)
        return 2
    set_cpu_threads()
    try:
        policy = load_policy(args.checkpoint, device=args.device, use_ema=not args.no_ema)
    except CheckpointError as e:
        print(f"postbc eval: {e}", file=sys.stderr)
        return 2
    kw = env_kwargs_for(policy) if args.env.startswith("postbc/") else {}
    env = make_env_from_id(args.env, **kw)
    try:
        res = evaluate_policy(policy, env, args.episodes, seed=args.seed, device=args.device,
                              progress=not args.quiet, max_steps=args.max_steps, noise_scale=args.noise_scale)
    finally:
        env.close()
    res.update(checkpoint=args.checkpoint, env=args.env, method=getattr(policy, "method", None))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{args.env}: success {res['success_rate']:.3f} over {res['episodes']} episodes, "
              f"mean length {res['mean_length']:.1f}")
    return 0
