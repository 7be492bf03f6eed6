"""Hindsight at HIRO's high level: segments replayed with a task goal the episode achieved later.

Goal-conditioned HIRO (`goal_conditioned: true`) gives the high level the task's desired goal g* beside the state, and
stores with each segment the env's achieved goals ag_t .. ag_{t+k} and g*. An episode that missed g* still shows how to
reach the goals it did reach, so, as HER does for flat learners (Andrychowicz et al. 2017, arXiv:1707.01495), each
sampled segment is relabelled with probability 1 - 1/(n_sampled_goal + 1):

    j    = her_goal_rows(segment, episode bounds, strategy)     a segment of the same episode and env
                                                                 (future: this one or later; final; episode)
    g*'  = ag at the end of segment j                            the goal reached when segment j ended
    r_i  = compute_reward(ag_{t+i+1}, g*'),  i < k               the env's own goal reward, recomputed per step
    d_i  = compute_terminated(ag_{t+i+1}, g*')                    when the env has it
    k'   = the first i with d_i, plus 1 (k when none)            the segment ends where the new goal ends the episode
    R'   = high_reward_scale * sum_{i < k'} r_i,  terminated' = any d_i (the stored flag without compute_terminated)

Goals come from segment ends, as in Hierarchical Actor-Critic's hindsight goal transitions (Levy et al. 2019,
arXiv:1712.00948), so a relabelled goal is a state the high level's own decisions led to.

Order with the off-policy correction (`HIROAgent.correct_goals`): hindsight first, then the correction. Hindsight
decides which low-level steps the high-level transition covers (k'); the correction then picks the subgoal that best
explains the low-level actions of those steps. The correction reads the states and actions only, never g*, so the
low level's inputs are what they were when it acted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hrlkit.agents.her import RewardFn, per_sample, warn_stored_termination
from hrlkit.buffers.segments import SegmentBatch, SegmentBuffer
from hrlkit.errors import HrlkitError
from hrlkit.goals.relabel import HER_STRATEGIES, her_goal_rows


class SegmentHindsight:
    """The hindsight transform of HIRO's segment buffer.

    Args:
        buffer: the segment buffer the batches come from (with task goals: `task_goal_dim` > 0).
        compute_reward: the env's vectorised `compute_reward(achieved (N, D), desired (N, D), infos) -> (N,)`.
        compute_terminated: the same for termination, or None to keep the stored flags.
        reward_scale: HIRO's `high_reward_scale`.
        strategy: future, final or episode.
        n_sampled_goal: k; a segment is relabelled with probability 1 - 1/(k+1).
        seed: seeds the transform's generator (saved in checkpoints through `state_dict`).
    """

    def __init__(
        self,
        buffer: SegmentBuffer,
        compute_reward: RewardFn,
        compute_terminated: RewardFn | None,
        reward_scale: float,
        strategy: str = "future",
        n_sampled_goal: int = 4,
        seed: int = 0,
    ) -> None:
        if buffer.achieved is None:
            raise HrlkitError("high-level hindsight needs a segment buffer that stores task goals (goal_conditioned)")
        if strategy not in HER_STRATEGIES:
            raise HrlkitError(f"unknown hindsight strategy {strategy!r}: use one of {', '.join(HER_STRATEGIES)}")
        if isinstance(n_sampled_goal, bool) or not isinstance(n_sampled_goal, int) or n_sampled_goal < 0:
            raise HrlkitError(f"hindsight.n_sampled_goal = {n_sampled_goal!r}: it must be an integer >= 0")
        self.buffer, self.compute_reward, self.compute_terminated = buffer, compute_reward, compute_terminated
        self.reward_scale, self.strategy = float(reward_scale), strategy
        self.relabel_prob = 1.0 - 1.0 / (n_sampled_goal + 1)
        self.rng = np.random.default_rng(seed)
        self.warned_stored_termination = False

    def new_goals(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask (B,) bool: which segments are relabelled, goals (B, D): the achieved goal at the end of the chosen
        segment of the same episode) for flat indices (B,). Goals are drawn for every row; unmasked rows ignore theirs."""
        buf = self.buffer
        assert buf.achieved is not None
        mask = self.rng.random(len(flat)) < self.relabel_prob  # (B,)
        numbers, envs = buf.global_numbers(flat)  # (B,), (B,)
        first, last = buf.valid_episode_bounds(flat)  # (B,), (B,)
        j = buf.flat_index(her_goal_rows(numbers, first, last, self.strategy, self.rng), envs)  # (B,) flat
        return mask, buf.achieved[j, buf.lengths[j]]  # (B,), (B, D)

    def __call__(self, batch: SegmentBatch) -> tuple[SegmentBatch, dict[str, float]]:
        assert batch.achieved_seq is not None and batch.desired is not None
        flat = batch.indices.detach().cpu().numpy()
        mask, goals = self.new_goals(flat)
        if not mask.any():
            return batch, {"hiro/hindsight_relabeled": 0.0}
        rows = np.flatnonzero(mask)  # (M,)
        achieved = batch.achieved_seq.detach().cpu().numpy()[rows, 1:]  # (M, c, D): ag_{t+1} .. ag_{t+c}
        lengths = batch.lengths.detach().cpu().numpy()[rows]  # (M,)
        M, c, D = achieved.shape
        flat_ach = achieved.reshape(M * c, D)
        flat_goals = np.repeat(goals[rows], c, axis=0)  # (M*c, D)
        infos = [{} for _ in range(M * c)]
        r = per_sample(self.compute_reward, flat_ach, flat_goals, infos).reshape(M, c).astype(np.float64)
        inside = np.arange(c)[None, :] < lengths[:, None]  # (M, c): steps of the stored segment
        if self.compute_terminated is not None:
            done = per_sample(self.compute_terminated, flat_ach, flat_goals, infos).reshape(M, c).astype(bool) & inside
            ends = done.any(axis=1)  # (M,)
            new_lengths = np.where(ends, done.argmax(axis=1) + 1, lengths)  # (M,) up to the first terminal step
            terminated = ends.astype(np.float32)
        else:
            new_lengths = lengths
            terminated = batch.terminated.detach().cpu().numpy()[rows]
            if not self.warned_stored_termination and terminated.any():
                self.warned_stored_termination = warn_stored_termination("HIRO's hindsight")
        kept = np.arange(c)[None, :] < new_lengths[:, None]  # (M, c)
        rewards = (self.reward_scale * np.where(kept, r, 0.0).sum(axis=1)).astype(np.float32)  # (M,)

        device = batch.rewards.device
        rows_t = torch.as_tensor(rows, device=device)
        new_len_t = torch.as_tensor(new_lengths, device=device)
        out_lengths = batch.lengths.clone()
        out_lengths[rows_t] = new_len_t
        out_rewards = batch.rewards.clone()
        out_rewards[rows_t] = torch.as_tensor(rewards, device=device)
        out_terminated = batch.terminated.clone()
        out_terminated[rows_t] = torch.as_tensor(terminated, device=device)
        desired = batch.desired.clone()
        desired[rows_t] = torch.as_tensor(goals[rows], dtype=desired.dtype, device=device)
        B = len(flat)
        next_states = batch.states_seq[torch.arange(B, device=device), out_lengths]  # (B, S): s_{t+k'}
        out = batch._replace(
            lengths=out_lengths, rewards=out_rewards, terminated=out_terminated, desired=desired,
            next_states=next_states,
        )  # fmt: skip
        return out, {"hiro/hindsight_relabeled": float(mask.mean()), "hiro/hindsight_shortened": float(
            (new_lengths < lengths).sum() / B
        )}  # fmt: skip

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
