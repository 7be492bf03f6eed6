"""Replay storage: a preallocated numpy ring for transitions (flat or Dict observations, several envs at once)."""

from hrlkit.buffers.replay import ReplayBuffer

__all__ = ["ReplayBuffer"]
