"""Q-function ensembles: twin critics (TD3, SAC) or a single one (DDPG) in one module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hrlkit.nn.mlp import EnsembleLinear, activation


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
