"""Replay storage: a preallocated numpy ring for transitions (flat or Dict observations, several envs at once),
HIRO's segment buffer, and proportional prioritized sampling (sum and min trees) for either. On-policy storage: the
rollout buffer with GAE, and running observation/reward normalisers."""

from hrlkit.buffers.normalize import ObsNormalizer, RewardNormalizer, RunningMeanStd
from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.buffers.replay import ReplayBuffer
from hrlkit.buffers.rollout import RolloutBuffer, gae
from hrlkit.buffers.segment_tree import MinTree, SumTree

__all__ = [
    "MinTree",
    "ObsNormalizer",
    "PrioritizedSampler",
    "ReplayBuffer",
    "RewardNormalizer",
    "RolloutBuffer",
    "RunningMeanStd",
    "SumTree",
    "gae",
]
