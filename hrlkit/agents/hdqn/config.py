"""h-DQN's configuration (Kulkarni, Narasimhan, Saeedi & Tenenbaum 2016, arXiv:1604.06057)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hrlkit.learners import DQNConfig


@dataclass
class HDQNLevelConfig:
    """One level's `DQNLearner` (the meta-controller's Q2 or the controller's Q1); exploration is the agent's."""

    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the Q network"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    lr: float = 1e-3
    """learning rate (Adam)"""
    gamma: float = 0.99
    """discount factor (per env step for the controller, per subgoal for the meta-controller)"""
    batch_size: int = 32
    """transitions per gradient step"""
    target_update_interval: int = 500
    """gradient updates between target-network updates (0: no target network)"""
    tau: float = 1.0
    """target update: target <- (1 - tau) target + tau online; 1.0 is a hard copy"""
    double: bool = False
    """Double DQN targets"""
    dueling: bool = False
    """dueling head: Q = V + A - mean(A)"""
    loss: str = "huber"
    """TD loss: huber or mse"""
    max_grad_norm: float = 10.0
    """clip gradients to this global norm (0: no clipping)"""

    def learner_config(self) -> DQNConfig:
        names = {f.name for f in dataclasses.fields(DQNConfig)}
        return DQNConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})


@dataclass
class HDQNConfig:
    """h-DQN: a meta-controller choosing subgoals among the observation's states, a controller reaching them."""

    meta: HDQNLevelConfig = field(default_factory=HDQNLevelConfig)
    """the meta-controller Q2(s, g): picks a subgoal, learns from the extrinsic reward summed while it was pursued"""
    controller: HDQNLevelConfig = field(default_factory=HDQNLevelConfig)
    """the controller Q1([s, g], a): acts every env step, learns from the intrinsic reward (1 on reaching g)"""
    subgoals: tuple[int, ...] = ()
    """the subgoal set: state indices of the Discrete observation the meta-controller may pick; empty: every state"""
    intrinsic_reward: float = 1.0
    """the intrinsic critic's reward for reaching the subgoal (0 on every other step)"""
    subgoal_max_env_steps: int = 0
    """give up a subgoal after this many env steps without reaching it (0: pursue it until reached or the episode
    ends, as in the paper)"""
    meta_buffer_size: int = 50_000
    """meta-controller replay capacity in subgoal transitions (the controller's is the run's buffer_size)"""
    meta_learning_starts: int = 32
    """subgoal transitions stored before the meta-controller's first update"""
    meta_exploration_initial: float = 1.0
    """epsilon_2 of the meta-controller at the first step"""
    meta_exploration_final: float = 0.1
    """epsilon_2 after meta_exploration_env_steps (the paper anneals 1 -> 0.1)"""
    meta_exploration_env_steps: int = 50_000
    """env steps over which epsilon_2 falls linearly from meta_exploration_initial to meta_exploration_final"""
    controller_exploration_initial: float = 1.0
    """epsilon_1,g of the controller for every subgoal g at the first step"""
    controller_exploration_final: float = 0.1
    """epsilon_1,g after controller_exploration_env_steps, and for a subgoal reached often enough"""
    controller_exploration_env_steps: int = 50_000
    """env steps over which epsilon_1,g falls linearly from controller_exploration_initial to
    controller_exploration_final while g is not yet mastered"""
    controller_success_threshold: float = 0.9
    """a subgoal counts as mastered when the controller reached it in more than this fraction of its last
    controller_success_window attempts; its epsilon_1,g is then controller_exploration_final (the paper: 90%)"""
    controller_success_window: int = 100
    """attempts per subgoal the success rate is measured over (fewer attempts count as failures, so a subgoal is
    mastered only after more than threshold x window successes)"""
