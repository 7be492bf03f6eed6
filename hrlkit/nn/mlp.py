"""Building blocks: plain MLPs, ensemble layers and the flattening of Dict observations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.types import TensorObs

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise HrlkitError(f"unknown activation {name!r}: use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "relu") -> nn.Sequential:
    """Linear layers with `act` between them and none after the last."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=False):
        layers += [nn.Linear(a, b), activation(act)()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class EnsembleLinear(nn.Module):
    """E independent linear layers applied in one batched matmul.

    Twin critics as two separate MLPs cost two kernel launches and two Python calls per layer; stacking their weights
    into (E, in, out) makes each layer one `baddbmm`. Each member is initialised like `nn.Linear`.

    Shapes:
        x: (E, B, in) -> (E, B, out)
    """

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim)
        # nn.Linear's default: kaiming_uniform(a=sqrt(5)) on the weight gives U(-1/sqrt(in), 1/sqrt(in)), same for bias.
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)  # (E, B, out)


class ObsFlattener(nn.Module):
    """Turns an observation (a tensor, or a dict of tensors for Dict spaces) into one flat float vector per row.

    Dict keys are concatenated in sorted order, so `{"achieved_goal", "desired_goal", "observation"}` of a goal env
    becomes one vector; the order is fixed by the space, never by the dict passed in. Discrete observations (a cell
    index in FrozenLake, Four Rooms, the h-DQN chain) become one-hot vectors of length n.
    """

    def __init__(self, space: gym.Space) -> None:
        super().__init__()
        self.discrete_start: int | None = None  # set for Discrete spaces: index - start is the one-hot position
        if isinstance(space, gym.spaces.Dict):
            self.keys: tuple[str, ...] | None = tuple(sorted(space.spaces))
            for k in self.keys:
                if not isinstance(space.spaces[k], gym.spaces.Box):
                    raise HrlkitError(
                        f"Dict observation key {k!r} is {space.spaces[k]}: only Box entries are supported"
                    )
            self.dim = int(sum(np.prod(space.spaces[k].shape) for k in self.keys))
        elif isinstance(space, gym.spaces.Box):
            self.keys = None
            self.dim = int(np.prod(space.shape))
        elif isinstance(space, gym.spaces.Discrete):
            self.keys = None
            self.dim = int(space.n)
            self.discrete_start = int(space.start)
        else:
            raise HrlkitError(f"unsupported observation space {space}: use a Box or a Dict of Boxes")

    def forward(self, obs: TensorObs) -> torch.Tensor:
        if self.keys is None:
            assert isinstance(obs, torch.Tensor)
            if self.discrete_start is not None:  # Discrete: (B,) indices -> (B, n) one-hot
                return nn.functional.one_hot(obs.long().reshape(-1) - self.discrete_start, self.dim).float()
            return obs.reshape(obs.shape[0], -1).float()
        assert isinstance(obs, dict)
        return torch.cat([obs[k].reshape(obs[k].shape[0], -1).float() for k in self.keys], dim=-1)
