"""h-DQN (Kulkarni et al. 2016, arXiv:1604.06057): a meta-controller over subgoal states and a goal-conditioned
controller, two `DQNLearner`s with their own replays and epsilon schedules."""

from hrlkit.agents.hdqn.agent import HDQNAgent
from hrlkit.agents.hdqn.config import HDQNConfig, HDQNLevelConfig

__all__ = ["HDQNAgent", "HDQNConfig", "HDQNLevelConfig"]
