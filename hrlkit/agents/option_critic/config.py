"""Option-Critic's configuration. Defaults follow Bacon et al. 2017 (arXiv:1609.05140) and its reference code
(jeanharb/option_critic): termination_reg 0.01, entropy_coef 0.01, gamma 0.99, Huber loss, a hard-copied target."""

from __future__ import annotations

from dataclasses import dataclass

from hrlkit.errors import HrlkitError


@dataclass
class OptionCriticConfig:
    """Option-Critic (Bacon, Harb & Precup 2017, arXiv:1609.05140)."""

    # ---- networks
    n_options: int = 4
    """number of options; each has an intra-option policy and a termination function"""
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the shared feature network phi(s); every head is one linear layer on top of it"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    shared_features: bool = True
    """one phi(s) under every head (Bacon et al.'s network); false: two towers of `hidden`, phi_Q(s) under the critic
    and phi_pi(s) under the terminations and the policies, so the critic's and the actor's losses train apart"""
    temperature: float = 1.0
    """Discrete actions: softmax temperature of the intra-option policies, pi(a|s, w) ~ exp(logits / temperature)"""
    log_std_init: float = 0.0
    """Box actions: initial log std of every option's Gaussian (normalised action units, a state-independent
    parameter per option and action dimension)"""

    # ---- optimisation
    lr: float = 1e-3
    """learning rate (Adam) of all parameters: critic, intra-option policies and terminations share phi(s) and take
    one optimizer step on the sum of their losses"""
    gamma: float = 0.99
    """discount factor"""
    batch_size: int = 32
    """replay transitions per critic gradient step"""
    critic_loss: str = "huber"
    """critic loss on Q_Omega(s, w) - y: huber (delta 1, the reference code's clipped TD error) or mse"""
    target_update_interval: int = 200
    """gradient steps between hard copies of the online network into the target network"""
    max_grad_norm: float = 10.0
    """clip of the global gradient norm per step (0: no clipping)"""

    # ---- the actor: intra-option policy gradient and termination gradient
    entropy_coef: float = 0.01
    """weight of the entropy bonus of the intra-option policies (the reference code's entropy regulariser)"""
    termination_reg: float = 0.01
    """xi, added to the termination advantage Q_Omega(s', w) - V(s'): a margin that keeps options from ending too
    quickly (Bacon et al. 2017, section 5, the Arcade Learning Environment experiments: xi = 0.01)"""
    deliberation_cost: float = 0.0
    """eta, the deliberation cost of Harb et al. 2018 (arXiv:1709.04571), in the units of the reward: paid each time an
    option ends, both in the critic's target (U(w, s') = (1 - beta) Q(s', w) + beta (V(s') - eta), so Q_Omega prices
    switching) and in the termination advantage (Q_Omega(s', w) - V(s') + termination_reg + eta). 0: Bacon et al.'s
    option-critic"""
    actor_n_step: int = 1
    """vector steps per actor step: the intra-option policies and terminations learn every actor_n_step vector steps
    from the transitions of those steps, the policies weighting log pi by n-step returns along them (A2OC's t_max,
    Harb et al. 2018) instead of the one-step target. 1: Bacon et al.'s one-step actor on every update"""
    policy_loss_coef: float = 1.0
    """weight of the intra-option policy loss in the summed loss"""
    termination_loss_coef: float = 1.0
    """weight of the termination loss in the summed loss"""

    # ---- the policy over options: epsilon-greedy over Q_Omega(s, .)
    option_epsilon_start: float = 1.0
    """epsilon of the epsilon-greedy policy over options at env step 0"""
    option_epsilon_end: float = 0.05
    """epsilon after option_epsilon_env_steps (and at any later step)"""
    option_epsilon_env_steps: int = 20_000
    """env steps over which epsilon falls linearly from option_epsilon_start to option_epsilon_end"""

    def check(self) -> None:
        if self.n_options < 1:
            raise HrlkitError(f"n_options must be >= 1, got {self.n_options}")
        if not self.hidden:
            raise HrlkitError("hidden must give at least one layer size: the heads sit on a shared feature layer")
        if self.critic_loss not in ("huber", "mse"):
            raise HrlkitError(f"critic_loss must be huber or mse, got {self.critic_loss!r}")
        if self.deliberation_cost < 0:
            raise HrlkitError(
                f"deliberation_cost must be >= 0 (a cost paid on switching), got {self.deliberation_cost}"
            )
        if self.actor_n_step < 1:
            raise HrlkitError(f"actor_n_step must be >= 1, got {self.actor_n_step}")
        if self.temperature <= 0:
            raise HrlkitError(f"temperature must be > 0, got {self.temperature}")
        if self.target_update_interval < 1:
            raise HrlkitError(f"target_update_interval must be >= 1, got {self.target_update_interval}")
        for name in ("option_epsilon_start", "option_epsilon_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise HrlkitError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def option_epsilon(self, env_steps: int) -> float:
        """The linear schedule: start at 0 env steps, end at option_epsilon_env_steps and after."""
        from hrlkit.learners.common import linear_schedule

        return linear_schedule(
            self.option_epsilon_start, self.option_epsilon_end, self.option_epsilon_env_steps, env_steps
        )
