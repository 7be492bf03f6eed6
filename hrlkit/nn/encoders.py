"""Observation encoders for value networks: flat features (MLP input) or the Nature DQN conv stack for images."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.nn.mlp import ObsFlattener
from hrlkit.types import TensorObs

ENCODERS = ("auto", "mlp", "nature_cnn")


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of rank 3: channels-first frames (Atari after preprocessing and frame stacking: (4, 84, 84))."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


class NatureCNN(nn.Module):
    """The convolutional torso of Mnih et al. 2015 ("Human-level control through deep RL", Methods).

    conv 32x8x8 stride 4 -> conv 64x4x4 stride 2 -> conv 64x3x3 stride 1 -> linear 512, ReLU after each. Pixels arrive
    as uint8 and are scaled to [0, 1] here, so the replay keeps them at one byte each.

    Shapes:
        obs: (B, C, H, W) uint8 -> (B, features)
    """

    def __init__(self, space: gym.Space, features: int = 512) -> None:
        super().__init__()
        if not is_image_space(space):
            raise HrlkitError(
                f"the nature_cnn encoder needs uint8 frames of shape (C, H, W), got {space}: use encoder mlp, or the "
                "atari wrapper (--wrappers atari) for Atari envs"
            )
        c, h, w = space.shape
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, c, h, w)).shape[1]  # 3136 for 84 x 84
        self.linear = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.dim = features

    def forward(self, obs: TensorObs) -> torch.Tensor:
        assert isinstance(obs, torch.Tensor)
        return self.linear(self.convs(obs.float() / 255.0))


class FlatEncoder(nn.Module):
    """`ObsFlattener` as an encoder: flat float features (one-hot for Discrete observations)."""

    def __init__(self, space: gym.Space) -> None:
        super().__init__()
        self.flatten = ObsFlattener(space)
        self.dim = self.flatten.dim

    def forward(self, obs: TensorObs) -> torch.Tensor:
        return self.flatten(obs)


def make_encoder(space: gym.Space, kind: str = "auto") -> nn.Module:
    """`auto`: the Nature CNN for image observations, flat features otherwise. The module has a `.dim`."""
    if kind not in ENCODERS:
        raise HrlkitError(f"unknown encoder {kind!r}: use one of {', '.join(ENCODERS)}")
    if kind == "nature_cnn" or (kind == "auto" and is_image_space(space)):
        return NatureCNN(space)
    return FlatEncoder(space)
