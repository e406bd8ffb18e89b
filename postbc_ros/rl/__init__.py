"""Online RL finetuning over a frozen diffusion policy (ROS-free).

- `DSRLAgent`: SAC in the policy's initial-noise space (DSRL).
- `DSRLNAAgent`: action-space critic distilled into the noise space (DSRL-NA).
- `BestOfNAgent`: N samples from the policy, execute argmax of an IQL Q-function.
- `ReplayBuffer` / `sample_mixed`: chunk-level replay with demonstration mixing.
- `rollout`: chunk execution, episodes, demonstrations → chunk transitions.
- `metaworld_env.make_metaworld_env`: Meta-World v3 tasks with our env conventions.
All agents: `.act(obs) -> (chunk, noise)`, `.observe(tr)`, `.update()`, `.save(dir)`/`.load(dir)`.
"""
from .best_of_n import BestOfNAgent, BestOfNConfig
from .dsrl import DSRLAgent, DSRLConfig
from .dsrl_na import DSRLNAAgent, DSRLNAConfig
from .iql import IQLConfig, expectile_loss
from .policy_adapter import ObsHistory
from .replay_buffer import ReplayBuffer, sample_mixed
from .state_io import AgentCheckpointError

__all__ = [
    "AgentCheckpointError", "BestOfNAgent", "BestOfNConfig", "DSRLAgent", "DSRLConfig", "DSRLNAAgent",
    "DSRLNAConfig", "IQLConfig", "ObsHistory", "ReplayBuffer", "expectile_loss", "sample_mixed",
]
