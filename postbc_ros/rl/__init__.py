"""Online RL finetuning over a frozen diffusion policy (ROS-free; no env, no device).

- `DSRLAgent`: SAC in the policy's initial-noise space (DSRL).
- `DSRLNAAgent`: action-space critic distilled into the noise space (DSRL-NA).
- `BestOfNAgent`: N samples from the policy, execute argmax of an IQL Q-function.
- `ReplayBuffer` / `sample_mixed`: chunk-level replay with demonstration mixing.
- `rollout.episode_to_transitions`: demonstrations → chunk transitions.
- `registry`: THE list of finetuners and the agent factory.
All agents: `.act(obs) -> (chunk, noise)`, `.observe(tr)`, `.update()`, `.save(dir)`/`.load(dir)`.
Running them in envs is `postbc_ros.benchmarks`' (and the nodes') business.

The agents pull in torch, so they are imported on first use: `rl.registry` (the CLI's finetuner
choices) stays light.
"""
from __future__ import annotations

__all__ = [
    "AgentCheckpointError", "BestOfNAgent", "BestOfNConfig", "DSRLAgent", "DSRLConfig", "DSRLNAAgent",
    "DSRLNAConfig", "IQLConfig", "ObsHistory", "ReplayBuffer", "expectile_loss", "sample_mixed",
]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .best_of_n import BestOfNAgent, BestOfNConfig
    from .dsrl import DSRLAgent, DSRLConfig
    from .dsrl_na import DSRLNAAgent, DSRLNAConfig
    from .iql import IQLConfig, expectile_loss
    from .policy_adapter import ObsHistory
    from .replay_buffer import ReplayBuffer, sample_mixed
    from .state_io import AgentCheckpointError

    return {
        "AgentCheckpointError": AgentCheckpointError, "BestOfNAgent": BestOfNAgent, "BestOfNConfig": BestOfNConfig,
        "DSRLAgent": DSRLAgent, "DSRLConfig": DSRLConfig, "DSRLNAAgent": DSRLNAAgent, "DSRLNAConfig": DSRLNAConfig,
        "IQLConfig": IQLConfig, "ObsHistory": ObsHistory, "ReplayBuffer": ReplayBuffer,
        "expectile_loss": expectile_loss, "sample_mixed": sample_mixed,
    }[name]
