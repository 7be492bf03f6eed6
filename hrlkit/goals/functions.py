"""Goal functions: the goal-reward of goal envs, and HIRO's (Nachum et al. 2018, arXiv:1805.08296, Section 3.1) on the
goal dimensions of the state.

    neg_distance_reward(achieved, desired) = -|| achieved - desired ||_2      the `neg_distance` wrapper's reward

is the one function both the wrapper's `step` and its `compute_reward` call, so rewards recomputed for relabelled goals
(HER) are exactly the rewards the agent trains on.

A goal g is a desired *change* of the chosen state dimensions: at time t the low level should reach s_t + g_t.

    h(s, g, s')   = s + g - s'              goal transition: the same absolute target, re-expressed from s'
    r_low(s,g,s') = -|| s + g - s' ||_2     intrinsic reward: minus the distance left to the target

Both take the goal dimensions already extracted (`achieved = state[..., goal_indices]`), so they work on any leading
shape: (G,), (B, G), (B, K, T, G).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import torch

Array = Union[np.ndarray, "torch.Tensor"]  # noqa: UP007 - torch is imported only when a tensor arrives (fast start)


def goal_transition(achieved: Array, goals: Array, next_achieved: Array) -> Array:
    """h(s, g, s') = s + g - s'.

    Shapes:
        achieved, goals, next_achieved: (..., G) -> (..., G)
    """
    return achieved + goals - next_achieved


def intrinsic_reward(achieved: Array, goals: Array, next_achieved: Array) -> Array:
    """r = -||s + g - s'||_2, the low level's reward.

    Shapes:
        achieved, goals, next_achieved: (..., G) -> (...)
    """
    diff = achieved + goals - next_achieved
    if not isinstance(diff, np.ndarray | np.generic | float | int):  # a torch tensor
        import torch

        return -torch.linalg.vector_norm(diff, dim=-1)
    return -np.linalg.norm(diff, axis=-1)


def neg_distance_reward(achieved: Array, desired: Array) -> Array:
    """r = -||achieved - desired||_2 (float32 for arrays): the `neg_distance` wrapper's reward, in `step` and in
    `compute_reward`.

    Shapes:
        achieved, desired: (..., G) -> (...)
    """
    diff = achieved - desired
    if not isinstance(diff, np.ndarray | np.generic | float | int):  # a torch tensor
        import torch

        return -torch.linalg.vector_norm(diff, dim=-1)
    return -np.linalg.norm(np.asarray(diff, np.float64), axis=-1).astype(np.float32)
