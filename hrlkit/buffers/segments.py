"""HIRO's high-level replay: whole low-level segments in fixed-shape arrays, with a length per segment.

One entry is what the high level needs to learn from one decision *and* to relabel its goal later:

    states    s_t .. s_{t+c}        (c+1, S)   rows past the segment's length repeat its last state
    actions   a_t .. a_{t+c-1}      (c, A)     the low level's normalised actions; rows past the length are zero
    goal      g_t                   (G,)       the goal that was pursued, in goal units
    reward    scale * sum of env rewards over the segment
    terminated, length k in 1..c    (k < c when the episode ended inside the segment)

The high-level transition is (s_t, g_t, reward, s_{t+k}, terminated): bootstrapping stops only on `terminated`, so a
segment cut by a time limit still bootstraps from its last state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.errors import HrlkitError


class SegmentBatch(NamedTuple):
    """Shapes: states_seq (B, c+1, S); actions_seq (B, c, A); goals (B, G); rewards, terminated (B,); lengths (B,)
    int64; next_states (B, S) = states_seq[b, lengths[b]]; weights (B,) importance weights (ones when uniform)."""

    states_seq: torch.Tensor
    actions_seq: torch.Tensor
    goals: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    lengths: torch.Tensor
    next_states: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor


class SegmentBuffer:
    """A ring of `capacity` segments of at most `c` low-level steps.

    Memory per segment: 4 * ((c+1) * S + c * A + G + 1) + 1 + 8 bytes. With a `PrioritizedSampler` over `capacity`
    entries, segments are drawn in proportion to their priority (the high level's TD errors) with importance weights.
    """

    def __init__(
        self,
        capacity: int,
        state_dim: int,
        action_dim: int,
        goal_dim: int,
        c: int,
        device: torch.device | str = "cpu",
        sampler: PrioritizedSampler | None = None,
    ) -> None:
        if capacity < 1 or c < 1:
            raise HrlkitError(f"segment buffer needs capacity >= 1 and c >= 1, got {capacity} and {c}")
        if sampler is not None and sampler.capacity != capacity:
            raise HrlkitError(f"a prioritized sampler over {sampler.capacity} entries cannot index {capacity} segments")
        self.sampler = sampler
        self.capacity, self.c, self.device = capacity, c, torch.device(device)
        self.states = np.zeros((capacity, c + 1, state_dim), np.float32)
        self.actions = np.zeros((capacity, c, action_dim), np.float32)
        self.goals = np.zeros((capacity, goal_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.bool_)
        self.lengths = np.zeros(capacity, np.int64)
        self.pos, self.full = 0, False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    @property
    def bytes_per_segment(self) -> int:
        arrays = (self.states, self.actions, self.goals, self.rewards, self.terminated, self.lengths)
        return sum(a.nbytes for a in arrays) // self.capacity

    def add(self, states: np.ndarray, actions: np.ndarray, goal: np.ndarray, reward: float, terminated: bool) -> None:
        """Store one segment: `states` (k+1, S) and `actions` (k, A) with 1 <= k <= c."""
        k = len(actions)
        if not 1 <= k <= self.c or len(states) != k + 1:
            raise ValueError(f"a segment needs 1..{self.c} actions and one more state, got {k} and {len(states)}")
        if np.shape(goal) != self.goals.shape[1:] or np.shape(states)[1:] != self.states.shape[2:]:
            raise ValueError(
                f"segment goal {np.shape(goal)} / states {np.shape(states)} do not fit the buffer's "
                f"goal {self.goals.shape[1:]} / state {self.states.shape[2:]}"
            )  # checked before any write, so a bad segment never half-overwrites a stored one
        i = self.pos
        self.states[i, : k + 1] = states
        self.states[i, k + 1 :] = states[-1]  # padding: the last state, so s_{t+c} reads as s_{t+k}
        self.actions[i, :k] = actions
        self.actions[i, k:] = 0.0
        self.goals[i], self.rewards[i], self.terminated[i], self.lengths[i] = goal, reward, terminated, k
        if self.sampler is not None:
            self.sampler.on_write(np.array([i]))
        self.pos = (self.pos + 1) % self.capacity
        self.full = self.full or self.pos == 0

    def sample(self, batch_size: int, rng: np.random.Generator) -> SegmentBatch:
        if len(self) == 0:
            raise HrlkitError("cannot sample from an empty segment buffer: raise the high level's learning start")
        if self.sampler is None:
            idx, weights = rng.integers(0, len(self), size=batch_size), np.ones(batch_size, np.float32)
        else:
            idx, weights = self.sampler.sample(batch_size, rng)
        t = lambda x: torch.as_tensor(x, device=self.device)  # noqa: E731
        states = self.states[idx]  # (B, c+1, S)
        lengths = self.lengths[idx]  # (B,)
        return SegmentBatch(
            states_seq=t(states),
            actions_seq=t(self.actions[idx]),
            goals=t(self.goals[idx]),
            rewards=t(self.rewards[idx]),
            terminated=t(self.terminated[idx].astype(np.float32)),
            lengths=t(lengths),
            next_states=t(states[np.arange(batch_size), lengths]),  # (B, S): s_{t+k}
            indices=t(idx),
            weights=t(weights),
        )

    def update_priorities(self, indices: torch.Tensor, td_errors: torch.Tensor) -> None:
        """New priorities from the high level's TD errors (PER); a no-op for uniform sampling."""
        if self.sampler is not None:
            self.sampler.update_priorities(indices.detach().cpu().numpy(), td_errors.detach().cpu().numpy())

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {
            "states": self.states, "actions": self.actions, "goals": self.goals, "rewards": self.rewards,
            "terminated": self.terminated, "lengths": self.lengths, "pos": np.array(self.pos),
            "full": np.array(self.full),
        }  # fmt: skip
        if self.sampler is not None:
            out.update({f"per.{k}": v for k, v in self.sampler.state_dict().items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        names = ("states", "actions", "goals", "rewards", "terminated", "lengths")
        # Check every array before copying any, so a failed load leaves the buffer as it was.
        for name in names:
            if name not in state or state[name].shape != getattr(self, name).shape:
                raise HrlkitError(
                    f"saved segment buffer array {name!r} is missing or has another shape: resume with the same "
                    "buffer size, c and goal space"
                )
        if "pos" not in state or "full" not in state or not 0 <= int(state["pos"]) < self.capacity:
            raise HrlkitError("saved segment buffer has no valid pos/full: the checkpoint is corrupt, use another one")
        per = {k[4:]: v for k, v in state.items() if k.startswith("per.")}
        if self.sampler is not None:
            if not per:
                raise HrlkitError(
                    "saved segment buffer has no priorities: it was saved without prioritized replay; resume with "
                    "--prioritized-replay false"
                )
            self.sampler.load_state_dict(per)
        for name in names:
            getattr(self, name)[...] = state[name]
        self.pos, self.full = int(state["pos"]), bool(state["full"])
