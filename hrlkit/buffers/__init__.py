"""Replay storage: a preallocated numpy ring for transitions (flat or Dict observations, several envs at once),
HIRO's segment buffer, and proportional prioritized sampling (sum and min trees) for either."""

from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.buffers.replay import ReplayBuffer
from hrlkit.buffers.segment_tree import MinTree, SumTree

__all__ = ["MinTree", "PrioritizedSampler", "ReplayBuffer", "SumTree"]
