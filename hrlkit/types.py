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


class UpdateResult(NamedTuple):
    """What a learner's `update(batch)` returns: its stats, and per-sample TD errors where it has a critic.

    Shapes:
        stats: name -> float (loss values, means), logged by the loop under `train/<name>`.
        td_errors: (B,) |TD error| of each sample of the batch, before the step (the new priorities under prioritized
            replay); None for learners without per-sample errors (the on-policy ones).
    """

    stats: dict[str, float]
    td_errors: torch.Tensor | None = None


class RolloutBatch(NamedTuple):
    """A rollout of an on-policy learner, flattened over (steps, envs), or a minibatch of it.

    Shapes (N = n_steps x n_envs, or the minibatch size):
        obs: (N, *obs_shape), or a dict of such tensors for Dict observation spaces; normalised when the agent
            normalises observations (what the policy saw).
        actions: (N, A) float32 for Box actions: the *unclipped* Gaussian sample in the normalised space (clipping to
            [-1, 1] happens only when the action is sent to the env, so log-probs stay those of the sample), or (N,)
            int64 for Discrete actions.
        values: (N,) V(s) under the policy that collected the rollout.
        log_probs: (N,) log pi_old(a|s) of the collecting policy.
        advantages: (N,) GAE advantages (not normalised; learners normalise per minibatch when configured).
        returns: (N,) advantages + values: the value targets (TD(lambda) returns).
    """

    obs: TensorObs
    actions: torch.Tensor
    values: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def take(self, index: torch.Tensor) -> RolloutBatch:
        """The rows `index` (M,) int64 of every field: a minibatch."""
        obs = {k: v[index] for k, v in self.obs.items()} if isinstance(self.obs, dict) else self.obs[index]
        return RolloutBatch(obs, *(t[index] for t in self[1:]))

    @property
    def size(self) -> int:
        """N, the number of rows (`len()` would count the fields: this is a tuple)."""
        return int(self.values.shape[0])


class Subgoal(NamedTuple):
    """The subgoal a hierarchical agent's low level is steering to, read from its `predict` state.

    Shapes:
        target: (n, G) absolute target in the goal dimensions (HIRO: s[goal_indices] + g, the state the goal points to).
        new: (n,) bool, True where the high level chose this target at the step just predicted (not carried over).
    """

    target: np.ndarray
    new: np.ndarray
