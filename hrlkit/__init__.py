"""hrlkit: hierarchical reinforcement learning on PyTorch and Gymnasium."""

from __future__ import annotations

import os

__version__ = "0.1.0"

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame (classic-control rendering) greets on stdout

from hrlkit.envs import toy as _toy  # noqa: E402,F401  (registers the bundled envs with Gymnasium)

# The algorithms (and torch behind them) are imported on first use, so that `hrlkit --help`, usage errors and
# `import hrlkit` for the bundled envs start in a fraction of a second.
_LAZY = {
    **dict.fromkeys(
        ["DAC", "DDPG", "DQN", "HDQN", "HIRO", "NPG", "PPO", "PPOC", "SAC", "TD3", "TRPO", "VPG", "Algorithm",
         "OptionCritic", "QLearning", "SACDiscrete"],
        "hrlkit.algorithms",
    ),
    "evaluate": "hrlkit.training.evaluate",
}  # fmt: skip


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hrlkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DAC", "DDPG", "DQN", "HDQN", "HIRO", "NPG", "PPO", "PPOC", "SAC", "TD3", "TRPO", "VPG", "Algorithm",
    "OptionCritic", "QLearning", "SACDiscrete", "__version__", "evaluate",
]  # fmt: skip
