"""Option-Critic (Bacon, Harb & Precup 2017, arXiv:1609.05140): options learned end to end by policy gradients."""

from hrlkit.agents.option_critic.agent import OptionCriticAgent
from hrlkit.agents.option_critic.config import OptionCriticConfig
from hrlkit.agents.option_critic.learner import (
    ActorWindow,
    OptionBatch,
    OptionCriticLearner,
    OptionUpdate,
    critic_loss_fn,
    intra_option_policy_loss,
    option_critic_target,
    option_n_step_returns,
    termination_loss_fn,
)
from hrlkit.agents.option_critic.networks import OptionCriticNetwork

__all__ = [
    "ActorWindow",
    "OptionBatch",
    "OptionCriticAgent",
    "OptionCriticConfig",
    "OptionCriticLearner",
    "OptionCriticNetwork",
    "OptionUpdate",
    "critic_loss_fn",
    "intra_option_policy_loss",
    "option_critic_target",
    "option_n_step_returns",
    "termination_loss_fn",
]
