"""Policies over Box actions in the normalised space [-1, 1]; scaling to env bounds lives in `hrlkit.envs.spaces`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from hrlkit.nn.mlp import activation, mlp

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class DeterministicActor(nn.Module):
    """mu(s) = tanh(MLP(s)) (TD3, DDPG).

    Shapes:
        obs: (B, obs_dim) -> (B, act_dim) in [-1, 1]
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), act: str = "relu") -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, act)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))

    def first_layer(self) -> nn.Linear:
        """The linear layer that reads the observation (callers may split it by input columns)."""
        return self.net[0]

    def act_from_first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic action from the first layer's output x = W obs + b: forward(obs) == this(W obs + b)."""
        return torch.tanh(self.net[1:](x))


class SquashedGaussianActor(nn.Module):
    """a = tanh(u), u ~ N(mu(s), sigma(s)^2) (SAC, Haarnoja et al. 2018, arXiv:1801.01290, Appendix C).

    Shapes:
        obs: (B, obs_dim) -> actions (B, act_dim) in (-1, 1), log_prob (B,)
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), act: str = "relu") -> None:
        super().__init__()
        self.act_dim = act_dim
        if hidden:
            self.trunk = (
                mlp(obs_dim, hidden[:-1], hidden[-1], act) if len(hidden) > 1 else nn.Linear(obs_dim, hidden[0])
            )
            self.trunk_act = activation(act)()
        else:  # no hidden layer: a linear Gaussian policy, as the other learners allow
            self.trunk, self.trunk_act = nn.Identity(), nn.Identity()
        self.head = nn.Linear(hidden[-1] if hidden else obs_dim, 2 * act_dim)  # mean and log-std from one matmul

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.trunk_act(self.trunk(obs))).chunk(2, dim=-1)  # (B, A) each
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def first_layer(self) -> nn.Linear | None:
        """The linear layer that reads the observation (None without hidden layers: then it is the head)."""
        if isinstance(self.trunk, nn.Sequential):
            return self.trunk[0]
        return self.trunk if isinstance(self.trunk, nn.Linear) else None

    def act_from_first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic action tanh(mean) from the first layer's output x = W obs + b."""
        rest = self.trunk[1:](x) if isinstance(self.trunk, nn.Sequential) else x
        return torch.tanh(self.head(self.trunk_act(rest)).chunk(2, dim=-1)[0])

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.dist_params(obs)
        std = log_std.exp()
        u = mean if deterministic else mean + std * torch.randn_like(mean)  # reparameterised sample (B, A)
        # log N(u; mean, std) summed over dims, written out: cheaper than torch.distributions on small batches.
        noise = (u - mean) / std
        log_prob = (-0.5 * noise.pow(2) - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * self.act_dim  # (B,)
        # tanh change of variables, the stable form: log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
        log_prob = log_prob - (2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))).sum(-1)
        return torch.tanh(u), log_prob
