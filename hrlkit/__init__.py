"""hrlkit: hierarchical reinforcement learning on PyTorch and Gymnasium."""

from __future__ import annotations

import os

__version__ = "0.1.0"

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame (classic-control rendering) greets on stdout

from hrlkit.algorithms import DDPG, DQN, HDQN, HIRO, SAC, TD3, Algorithm, OptionCritic, QLearning  # noqa: E402
from hrlkit.training.evaluate import evaluate  # noqa: E402

__all__ = [
    "Algorithm",
    "DDPG",
    "DQN",
    "HDQN",
    "HIRO",
    "SAC",
    "TD3",
    "OptionCritic",
    "QLearning",
    "__version__",
    "evaluate",
]
