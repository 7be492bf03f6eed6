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


class OptionRolloutBatch(NamedTuple):
    """A rollout of an option learner on PPO (PPOC, DAC), flattened over (steps, envs), or a minibatch of it.

    Two MDPs share every row (Zhang & Whiteson 2019): the low one, whose state is (s, w) and whose action is a ~ pi_w,
    and the high one, whose state is (s, w-) and whose action is the option w ~ pi_hat(.|s, w-). Fields without a suffix
    belong to the low MDP, `*_high` to the high one.

    Shapes (N rows):
        obs: (N, *obs_shape) or a dict of such tensors (normalised when the agent normalises observations).
        actions: (N, A) float32 unclipped Gaussian samples, or (N,) int64.
        options: (N,) int64 the option w that chose the action; prev_options: (N,) int64 the option w- that was running
            when s was reached (at an episode's start: the previous episode's last option, never read there).
        starts: (N,) bool the step is an episode's first (no option ran yet); chose: (N,) bool the policy over options
            picked w at this step (an episode's start, or w- terminated in s).
        log_probs: (N,) log pi_w(a|s); log_probs_high: (N,) log pi_hat(w|s, w-), both of the collecting networks.
        values: (N,) Q_Omega(s, w); values_high: (N,) sum_w' pi_hat(w'|s, w-) Q_Omega(s, w'); values_master: (N,)
            sum_w' pi_Omega(w'|s) Q_Omega(s, w'), all of the collecting critic.
        pi_hat: (N, K) pi_hat(.|s, w-) of the collecting networks.
        advantages, returns: (N,) GAE advantages and TD(lambda) returns of the low MDP (baseline `values`);
        advantages_high, returns_high: (N,) those of the high MDP (baseline `values_high`).
        advantages_master: (N,) returns - values_master, the advantage of the master's pick (PPOC's master loss).
    """

    obs: TensorObs
    actions: torch.Tensor
    options: torch.Tensor
    prev_options: torch.Tensor
    starts: torch.Tensor
    chose: torch.Tensor
    log_probs: torch.Tensor
    log_probs_high: torch.Tensor
    values: torch.Tensor
    values_high: torch.Tensor
    values_master: torch.Tensor
    pi_hat: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    advantages_high: torch.Tensor
    returns_high: torch.Tensor
    advantages_master: torch.Tensor

    def take(self, index: torch.Tensor) -> OptionRolloutBatch:
        """The rows `index` (M,) int64 of every field: a minibatch."""
        obs = {k: v[index] for k, v in self.obs.items()} if isinstance(self.obs, dict) else self.obs[index]
        return OptionRolloutBatch(obs, *(t[index] for t in self[1:]))

    @property
    def size(self) -> int:
        """N, the number of rows."""
        return int(self.values.shape[0])


class Subgoal(NamedTuple):
    """The subgoal a hierarchical agent's low level is steering to, read from its `predict` state.

    Shapes:
        target: (n, G) absolute target in the goal dimensions (HIRO: s[goal_indices] + g, the state the goal points to).
        new: (n,) bool, True where the high level chose this target at the step just predicted (not carried over).
    """

    target: np.ndarray
    new: np.ndarray
