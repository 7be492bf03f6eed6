"""hrlkit: hierarchical reinforcement learning on PyTorch and Gymnasium."""

from __future__ import annotations

import os

__version__ = "0.1.0"

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame (classic-control rendering) greets on stdout

from hrlkit.algorithms import (  # noqa: E402
    DDPG,
    DQN,
    HDQN,
    HIRO,
    NPG,
    PPO,
    SAC,
    TD3,
    TRPO,
    VPG,
    Algorithm,
    OptionCritic,
    QLearning,
    SACDiscrete,
)
from hrlkit.envs import toy as _toy  # noqa: E402,F401  (registers the bundled envs with Gymnasium)
from hrlkit.training.evaluate import evaluate  # noqa: E402

__all__ = [
    "DDPG", "DQN", "HDQN", "HIRO", "NPG", "PPO", "SAC", "TD3", "TRPO", "VPG", "Algorithm", "OptionCritic", "QLearning",
    "SACDiscrete", "__version__", "evaluate",
]  # fmt: skip
