"""hrlkit: hierarchical reinforcement learning on PyTorch and Gymnasium."""

from __future__ import annotations

__version__ = "0.1.0"

from hrlkit.algorithms import DDPG, SAC, TD3  # noqa: E402
from hrlkit.training.evaluate import evaluate  # noqa: E402

__all__ = ["DDPG", "SAC", "TD3", "__version__", "evaluate"]
