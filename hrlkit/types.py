"""Batches passed between buffers, learners and agents."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

TensorObs = torch.Tensor | dict[str, torch.Tensor]


class ReplayBatch(NamedTuple):
    """One sampled batch of transitions.

    Shapes:
        obs, next_obs: (B, *obs_shape), or a dict of such tensors for Dict observation spaces.
        actions: (B, *action_shape) in the learner's normalised space ([-1, 1] for Box actions), or (B,) int64.
        rewards, terminated: (B,) float32. `terminated` stops bootstrapping; truncation never appears here
            because a truncated transition still bootstraps from `next_obs`.
        weights: (B,) importance weights (all ones for uniform replay).
        indices: (B,) int64 flat buffer indices, for priority updates.
    """

    obs: TensorObs
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: TensorObs
    terminated: torch.Tensor
    weights: torch.Tensor
    indices: torch.Tensor


class Subgoal(NamedTuple):
    """The subgoal a hierarchical agent's low level is steering to, read from its `predict` state.

    Shapes:
        target: (n, G) absolute target in the goal dimensions (HIRO: s[goal_indices] + g, the state the goal points to).
        new: (n,) bool, True where the high level chose this target at the step just predicted (not carried over).
    """

    target: np.ndarray
    new: np.ndarray
