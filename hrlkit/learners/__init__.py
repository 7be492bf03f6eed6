"""Flat learners: batch in, stats out. Hierarchical agents compose them (HIRO holds two of the same class)."""

from hrlkit.learners.base import Learner
from hrlkit.learners.dqn import DQNConfig, DQNLearner
from hrlkit.learners.sac import SACConfig, SACLearner
from hrlkit.learners.sac_discrete import SACDiscreteConfig, SACDiscreteLearner
from hrlkit.learners.td3 import DDPGConfig, TD3Config, TD3Learner

__all__ = [
    "DDPGConfig", "DQNConfig", "DQNLearner", "Learner", "SACConfig", "SACDiscreteConfig", "SACDiscreteLearner",
    "SACLearner", "TD3Config", "TD3Learner",
]  # fmt: skip
