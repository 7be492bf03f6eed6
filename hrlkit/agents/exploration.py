"""Epsilon-greedy exploration, one implementation for every agent that explores that way: DQN and tabular Q-learning
over actions, Option-Critic's policy over options, h-DQN's meta-controller over subgoals and its controller over
actions. The schedule is `hrlkit.learners.common.linear_schedule`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hrlkit.learners.common import linear_schedule


def epsilon_greedy(
    greedy: np.ndarray, epsilon: np.ndarray | float, n_choices: int, rng: np.random.Generator
) -> np.ndarray:
    """Per row: a uniform choice in [0, n_choices) with probability epsilon (one for all rows, or one per row), else
    the greedy choice.

    Both draws are made for every row, so the generator advances by the same amount whatever the outcome (a resumed
    run draws what an uninterrupted one does).

    Shapes:
        greedy: (k,) int; epsilon: () or (k,) -> (k,) int64
    """
    k = len(greedy)
    explore = rng.random(k) < epsilon  # (k,)
    uniform = rng.integers(0, n_choices, size=k)  # (k,)
    return np.where(explore, uniform, greedy).astype(np.int64)


def epsilon_schedule(initial: float, final: float, env_steps: int) -> Callable[[int], float]:
    """epsilon(t): `initial` -> `final` linearly over `env_steps` env steps, then `final` (the values' range, [0, 1],
    is checked with every config field's in `hrlkit.config.check_values`)."""
    return lambda t: linear_schedule(initial, final, env_steps, t)
