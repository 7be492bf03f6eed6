"""Q-function ensembles: twin critics (TD3, SAC) or a single one (DDPG) in one module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hrlkit.nn.mlp import EnsembleLinear, activation, mlp


class QEnsemble(nn.Module):
    """`n_critics` independent Q(s, a) MLPs evaluated as one batched network.

    Every layer is an `EnsembleLinear`, so twin critics cost one matmul per layer instead of two. The members share
    nothing but the input; their weights are initialised independently.

    Shapes:
        obs: (B, obs_dim) flat, actions: (B, act_dim) -> (n_critics, B)
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), n_critics: int = 2, act: str = "relu"
    ) -> None:
        super().__init__()
        self.n_critics = n_critics
        dims = [obs_dim + act_dim, *hidden, 1]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=False)):
            layers.append(EnsembleLinear(n_critics, a, b))
            if i < len(dims) - 2:
                layers.append(activation(act)())
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, actions], dim=-1)  # (B, obs+act)
        x = x.unsqueeze(0).expand(self.n_critics, -1, -1)  # (E, B, obs+act), a view: no copy
        return self.net(x).squeeze(-1)  # (E, B)

    def first(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q_1 alone (TD3's actor loss), at the cost of one member rather than the whole ensemble.

        Shapes:
            obs: (B, obs_dim), actions: (B, act_dim) -> (B,)
        """
        x = torch.cat([obs, actions], dim=-1)  # (B, obs+act)
        for layer in self.net:
            x = torch.addmm(layer.bias[0], x, layer.weight[0]) if isinstance(layer, EnsembleLinear) else layer(x)
        return x.squeeze(-1)  # (B,)


class QNetwork(nn.Module):
    """Q(s, .) over a discrete action set: an encoder, an MLP, and a plain or dueling head.

    Dueling (Wang et al. 2016, eq. 9): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'). Subtracting the mean makes V and A
    identifiable (adding a constant to A and removing it from V would otherwise leave Q unchanged) and is the variant
    the paper found more stable than subtracting the max.

    Shapes:
        obs: (B, ...) -> (B, n_actions)
    """

    def __init__(
        self, encoder: nn.Module, n_actions: int, hidden: Sequence[int] = (64, 64), dueling: bool = False,
        act: str = "relu",
    ) -> None:  # fmt: skip
        super().__init__()
        self.encoder, self.dueling, self.n_actions = encoder, dueling, n_actions
        dim = int(encoder.dim)
        if dueling:
            self.value = mlp(dim, hidden, 1, act)
            self.advantage = mlp(dim, hidden, n_actions, act)
        else:
            self.q = mlp(dim, hidden, n_actions, act)

    def forward(self, obs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        features = self.encoder(obs)  # (B, F)
        if not self.dueling:
            return self.q(features)  # (B, n_actions)
        return dueling_combine(self.value(features), self.advantage(features))


def dueling_combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """V + A - mean(A). Shapes: value (B, 1), advantage (B, n) -> (B, n)."""
    return value + advantage - advantage.mean(dim=-1, keepdim=True)
