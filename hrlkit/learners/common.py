"""Pieces every value-based learner shares: TD targets, Polyak averaging, optimizers."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_value: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * V(s').

    Only `terminated` stops bootstrapping: a transition cut by a time limit (`truncated`) still has a future, so the
    replay stores `terminated` alone and truncation never reaches this function.

    Shapes:
        rewards, terminated, next_value: (B,) -> (B,)
    """
    return rewards + gamma * (1.0 - terminated) * next_value


@torch.no_grad()
def polyak_update(params: Iterable[torch.Tensor], target_params: Iterable[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) * target + tau * online, over all tensors in one fused call (lerp)."""
    target_list, online_list = list(target_params), list(params)
    torch._foreach_lerp_(target_list, online_list, tau)


def make_adam(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fused CPU/GPU kernel when the build has it (one kernel for all params instead of a loop)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # older builds or devices without a fused kernel
        return torch.optim.Adam(params, lr=lr, foreach=True)


def linear_schedule(initial: float, final: float, duration: int, t: int) -> float:
    """initial -> final linearly over `duration` steps, then final (epsilon schedules)."""
    if duration <= 0:
        return final
    return initial + min(1.0, t / duration) * (final - initial)
