"""Mapping between a learner's normalised actions in [-1, 1] and an env's Box bounds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError


class ActionScaler:
    """a_env = low + (a + 1) / 2 * (high - low), elementwise; the inverse for storing env actions.

    Learners work in [-1, 1] so that noise scales, tanh squashing and learning rates mean the same thing on every env.
    Infinite bounds cannot be scaled and are refused.
    """

    def __init__(self, space: gym.spaces.Box) -> None:
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise HrlkitError(
                f"action space {space} has infinite bounds, and actions are scaled from [-1, 1] to its bounds: give "
                "the env finite bounds, the range it accepts (e.g. set env.action_space = gymnasium.spaces.Box(low, "
                "high) in a wrapper's __init__; gymnasium.wrappers.ClipAction would not do, its space is unbounded)"
            )
        self.low = space.low.astype(np.float64)
        self.high = space.high.astype(np.float64)
        self.dtype = space.dtype

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return (self.low + (np.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)).astype(self.dtype)

    def to_normalised(self, env_actions: np.ndarray) -> np.ndarray:
        return (2.0 * (env_actions - self.low) / (self.high - self.low) - 1.0).astype(np.float32)
