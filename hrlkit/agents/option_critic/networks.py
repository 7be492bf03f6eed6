"""Option-Critic's network: shared features phi(s) and three heads, all evaluated for every option at once.

    phi(s)            = MLP(flatten(s))                          (B, H)
    Q_Omega(s, .)     = Linear(phi(s))                           (B, K)   value of each option (the critic)
    termination_prob  = sigmoid(Linear(phi(s)))                  (B, K)   beta_w(s)
    pi_w(.|s)         = IntraOptionPolicy(phi(s))                          one distribution per option

K = n_options, A = action dimensions (Box) or actions (Discrete). Every head computes all K options in one matmul;
`select` (`hrlkit.nn.options`) then picks each row's option with a gather. On K <= 8 options this is cheaper than
indexing the weights per row, and it keeps the code free of Python loops over options.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.nn import ObsFlattener
from hrlkit.nn.mlp import activation, mlp
from hrlkit.nn.options import select
from hrlkit.types import TensorObs

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class CategoricalOptionPolicies(nn.Module):
    """pi_w(a|s) = softmax(logits_w(s) / temperature) for Discrete actions, one logit head per option.

    Shapes:
        features: (B, H) -> logits (B, K, A)
    """

    def __init__(self, feature_dim: int, n_options: int, n_actions: int, temperature: float) -> None:
        super().__init__()
        self.n_options, self.n_actions, self.temperature = n_options, n_actions, temperature
        self.head = nn.Linear(feature_dim, n_options * n_actions)

    def logits(self, features: torch.Tensor, options: torch.Tensor) -> torch.Tensor:
        all_logits = self.head(features).view(-1, self.n_options, self.n_actions)  # (B, K, A)
        return select(all_logits, options) / self.temperature  # (B, A)

    def sample(
        self, features: torch.Tensor, options: torch.Tensor, deterministic: bool,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """(B,) int64 actions: the mode when deterministic, else a sample (from `generator`, default torch's)."""
        logits = self.logits(features, options)  # (B, A)
        if deterministic:
            return logits.argmax(-1)
        return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)  # (B,)

    def log_prob_entropy(
        self, features: torch.Tensor, options: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi_w(a|s) and H(pi_w(.|s)), both (B,)."""
        log_p = self.logits(features, options).log_softmax(-1)  # (B, A)
        log_prob = log_p.gather(1, actions.long().view(-1, 1)).squeeze(1)  # (B,)
        entropy = -(log_p.exp() * log_p).sum(-1)  # (B,)
        return log_prob, entropy


class GaussianOptionPolicies(nn.Module):
    """pi_w(a|s) = N(tanh(mean_w(s)), exp(log_std_w)^2) for Box actions, in the normalised space [-1, 1]^A.

    The mean is squashed into [-1, 1] by tanh; the log std is a learned parameter per option and dimension (not a
    function of s), as in PPO's Gaussian policies. Sampled actions are clipped to [-1, 1] before they reach the env;
    the agent's `ActionScaler` maps them to the env's bounds.

    Deviation: the log-probability is that of the unclipped Gaussian at the stored (clipped) action. Near the bounds
    this overstates log pi a little; SB3's PPO makes the same simplification for clipped Gaussian actions.

    Shapes:
        features: (B, H) -> mean (B, A), log_std (B, A) for each row's option
    """

    def __init__(self, feature_dim: int, n_options: int, act_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.n_options, self.act_dim = n_options, act_dim
        self.mean_head = nn.Linear(feature_dim, n_options * act_dim)
        self.log_std = nn.Parameter(torch.full((n_options, act_dim), float(log_std_init)))

    def dist_params(self, features: torch.Tensor, options: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means = torch.tanh(self.mean_head(features)).view(-1, self.n_options, self.act_dim)  # (B, K, A)
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)[options]  # (B, A)
        return select(means, options), log_std

    def sample(
        self, features: torch.Tensor, options: torch.Tensor, deterministic: bool,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """(B, A) actions in [-1, 1]: the mean when deterministic, else a clipped sample (from `generator`, default
        torch's)."""
        mean, log_std = self.dist_params(features, options)
        if deterministic:
            return mean
        noise = (
            torch.randn_like(mean) if generator is None
            else torch.randn(mean.shape, dtype=mean.dtype, device=mean.device, generator=generator)
        )  # fmt: skip
        return (mean + log_std.exp() * noise).clamp(-1.0, 1.0)

    def log_prob_entropy(
        self, features: torch.Tensor, options: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi_w(a|s) and H(pi_w(.|s)), both (B,), summed over action dimensions."""
        mean, log_std = self.dist_params(features, options)  # (B, A) each
        z = (actions - mean) / log_std.exp()
        log_prob = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)  # (B,)
        entropy = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)  # (B,), Gaussian entropy per dimension
        return log_prob, entropy


class OptionCriticNetwork(nn.Module):
    """phi(s) shared by Q_Omega, the terminations beta and the intra-option policies (Bacon et al. 2017, Fig. 1), or,
    with `shared_features=False`, two towers: phi_Q(s) for the critic and phi_pi(s) for the terminations and the
    policies, so that neither the critic's regression nor the policy gradients shape the other's features.

    `features(obs)` returns phi(s), or [phi_Q(s), phi_pi(s)] side by side; `q` reads the critic's part and
    `termination_prob` and `actor_features` (the policies' input) the actor's, so callers never see the difference.

    Args:
        obs_space: the env's observation space (Box, Discrete (one-hot) or Dict of Boxes).
        action_space: Discrete -> softmax policies; Box -> Gaussian policies in [-1, 1]^A.

    Shapes:
        features: obs (B, ...) -> (B, H) shared, (B, 2H) two towers; q, termination_prob: features -> (B, K);
        actor_features: features -> (B, H)
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        n_options: int,
        hidden: Sequence[int] = (64, 64),
        act: str = "relu",
        temperature: float = 1.0,
        log_std_init: float = 0.0,
        shared_features: bool = True,
    ) -> None:
        super().__init__()
        self.n_options = n_options
        self.flatten = ObsFlattener(obs_space)
        H = hidden[-1]
        # phi ends with an activation: the heads are linear functions of nonlinear features.
        self.phi = nn.Sequential(mlp(self.flatten.dim, hidden[:-1], H, act), activation(act)())
        self.actor_phi: nn.Module | None = None
        self.critic_part, self.actor_part = slice(None), slice(None)
        if not shared_features:
            self.actor_phi = nn.Sequential(mlp(self.flatten.dim, hidden[:-1], H, act), activation(act)())
            self.critic_part, self.actor_part = slice(0, H), slice(H, 2 * H)
        self.q_head = nn.Linear(hidden[-1], n_options)
        self.termination_head = nn.Linear(hidden[-1], n_options)
        self.policy: CategoricalOptionPolicies | GaussianOptionPolicies
        if isinstance(action_space, gym.spaces.Discrete):
            self.policy = CategoricalOptionPolicies(hidden[-1], n_options, int(action_space.n), temperature)
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            self.policy = GaussianOptionPolicies(hidden[-1], n_options, int(action_space.shape[0]), log_std_init)
        else:
            raise HrlkitError(f"Option-Critic needs a Discrete or a flat Box action space, got {action_space}")

    def features(self, obs: TensorObs) -> torch.Tensor:
        x = self.flatten(obs)
        if self.actor_phi is None:
            return self.phi(x)  # (B, H)
        return torch.cat([self.phi(x), self.actor_phi(x)], -1)  # (B, 2H)

    def q_of(self, obs: TensorObs) -> torch.Tensor:
        """Q_Omega(obs, .) through the critic's features only (the target network's one use). (B, K)"""
        return self.q_head(self.phi(self.flatten(obs)))

    def actor_features(self, features: torch.Tensor) -> torch.Tensor:
        """The policies' input: phi(s), or phi_pi(s) of the two towers. (B, H)"""
        return features[:, self.actor_part]

    def q(self, features: torch.Tensor) -> torch.Tensor:
        return self.q_head(features[:, self.critic_part])  # (B, K)

    def termination_prob(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.termination_head(features[:, self.actor_part]))  # (B, K)
