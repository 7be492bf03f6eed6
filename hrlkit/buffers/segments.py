"""HIRO's high-level replay: whole low-level segments in fixed-shape arrays, with a length per segment.

One entry is what the high level needs to learn from one decision *and* to relabel its goal later:

    states    s_t .. s_{t+c}        (c+1, S)   rows past the segment's length repeat its last state
    actions   a_t .. a_{t+c-1}      (c, A)     the low level's normalised actions; rows past the length are zero
    goal      g_t                   (G,)       the goal that was pursued, in goal units
    reward    scale * sum of env rewards over the segment
    terminated, length k in 1..c    (k < c when the episode ended inside the segment)
    achieved  ag_t .. ag_{t+c}      (c+1, D)   goal-conditioned HIRO only: the env's achieved goals (padded like states)
    desired   g*                    (D,)       goal-conditioned HIRO only: the task's desired goal at the segment's start

The high-level transition is (s_t, g_t, reward, s_{t+k}, terminated): bootstrapping stops only on `terminated`, so a
segment cut by a time limit still bootstraps from its last state.

Layout. Each env has its own ring of `rows = capacity // n_envs` segments, so one env's segments are consecutive in
its ring, in the order they happened (segments of several envs close at different steps). Entry (row, env) is stored
at flat index `row * n_envs + env`; with one env the flat index is the ring row.

Episode structure (what hindsight at the high level needs: "a later segment of the same episode"), as in
`hrlkit.buffers.replay` but per env: each env numbers its segments by a global counter that never wraps (`written`),
and for each stored segment the buffer keeps the global numbers of its episode's first and last segment (`ep_start`,
`ep_end`; -1 while the episode runs). `valid_episode_bounds` clips the start to the oldest segment still stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.buffers.replay import check_episode_bounds, check_fits_in_memory
from hrlkit.errors import HrlkitError


class SegmentBatch(NamedTuple):
    """Shapes: states_seq (B, c+1, S); actions_seq (B, c, A); goals (B, G); rewards, terminated (B,); lengths (B,)
    int64; next_states (B, S) = states_seq[b, lengths[b]]; indices (B,) flat indices; weights (B,) importance weights
    (ones when uniform); achieved_seq (B, c+1, D) and desired (B, D) for goal-conditioned HIRO, else None."""

    states_seq: torch.Tensor
    actions_seq: torch.Tensor
    goals: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    lengths: torch.Tensor
    next_states: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    achieved_seq: torch.Tensor | None = None
    desired: torch.Tensor | None = None


class SegmentBuffer:
    """Per-env rings of segments of at most `c` low-level steps, `capacity` in all.

    Args:
        capacity: segments kept in all; each env keeps `capacity // n_envs` (at least 1).
        state_dim, action_dim, goal_dim: S, A, G.
        c: the most steps a segment holds.
        device: where `sample` puts its tensors.
        sampler: None for uniform sampling, or a `PrioritizedSampler` over `rows * n_envs` entries (the high level's
            TD errors as priorities, with importance weights).
        n_envs: envs writing segments.
        task_goal_dim: D > 0 stores each step's achieved goal and the segment's desired goal (goal-conditioned HIRO).

    Memory per segment: 4 * ((c+1) * S + c * A + G + 1) + 1 + 8 bytes, + 16 for the episode bounds, + 4 * ((c+1) * D
    + D) with a task goal.
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
        n_envs: int = 1,
        task_goal_dim: int = 0,
    ) -> None:
        if capacity < 1 or c < 1 or n_envs < 1:
            raise HrlkitError(f"segment buffer needs capacity, c and n_envs >= 1, got {capacity}, {c} and {n_envs}")
        self.rows, self.n_envs = max(1, capacity // n_envs), n_envs
        n = self.rows * n_envs
        if sampler is not None and sampler.capacity != n:
            raise HrlkitError(f"a prioritized sampler over {sampler.capacity} entries cannot index {n} segments")
        per_segment = 4 * ((c + 1) * state_dim + c * action_dim + goal_dim + 1) + 1 + 8 + 16
        per_segment += 4 * ((c + 1) * task_goal_dim + task_goal_dim)
        check_fits_in_memory(
            n * per_segment, f"a segment buffer of {n} segments of {c} steps", "lower the high level's buffer_size or c"
        )
        self.sampler = sampler
        self.capacity, self.c, self.device = n, c, torch.device(device)
        self.states = np.zeros((n, c + 1, state_dim), np.float32)
        self.actions = np.zeros((n, c, action_dim), np.float32)
        self.goals = np.zeros((n, goal_dim), np.float32)
        self.rewards = np.zeros(n, np.float32)
        self.terminated = np.zeros(n, np.bool_)
        self.lengths = np.zeros(n, np.int64)
        self.achieved = np.zeros((n, c + 1, task_goal_dim), np.float32) if task_goal_dim else None
        self.desired = np.zeros((n, task_goal_dim), np.float32) if task_goal_dim else None
        self.ep_start = np.zeros(n, np.int64)
        self.ep_end = np.full(n, -1, np.int64)
        self.written = np.zeros(n_envs, np.int64)  # per env: segments written so far (the next one's global number)
        self.running_start = np.zeros(n_envs, np.int64)  # per env: global number of the running episode's first segment

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {
            "states": self.states, "actions": self.actions, "goals": self.goals, "rewards": self.rewards,
            "terminated": self.terminated, "lengths": self.lengths, "ep_start": self.ep_start, "ep_end": self.ep_end,
        }  # fmt: skip
        if self.achieved is not None and self.desired is not None:
            out.update(achieved=self.achieved, desired=self.desired)
        return out

    def filled(self) -> np.ndarray:
        """(n_envs,) segments stored per env."""
        return np.minimum(self.written, self.rows)

    def __len__(self) -> int:
        return int(self.filled().sum())

    @property
    def bytes_per_segment(self) -> int:
        return sum(a.nbytes for a in self._arrays().values()) // self.capacity

    # ------------------------------------------------------------------------------------------------------ write
    def add(
        self,
        states: np.ndarray,
        actions: np.ndarray,
        goal: np.ndarray,
        reward: float,
        terminated: bool,
        env: int = 0,
        episode_end: bool | None = None,
        achieved: np.ndarray | None = None,
        desired: np.ndarray | None = None,
    ) -> None:
        """Store one segment of env `env`: `states` (k+1, S) and `actions` (k, A) with 1 <= k <= c; `achieved`
        (k+1, D) and `desired` (D,) when the buffer keeps task goals. `episode_end` (default: `terminated`) closes the
        env's episode after this segment (pass terminated or truncated)."""
        k = len(actions)
        if not 1 <= k <= self.c or len(states) != k + 1:
            raise ValueError(f"a segment needs 1..{self.c} actions and one more state, got {k} and {len(states)}")
        if np.shape(goal) != self.goals.shape[1:] or np.shape(states)[1:] != self.states.shape[2:]:
            raise ValueError(
                f"segment goal {np.shape(goal)} / states {np.shape(states)} do not fit the buffer's "
                f"goal {self.goals.shape[1:]} / state {self.states.shape[2:]}"
            )  # checked before any write, so a bad segment never half-overwrites a stored one
        if not 0 <= env < self.n_envs:
            raise ValueError(f"env {env} is not one of the buffer's {self.n_envs}")
        if self.achieved is not None and self.desired is not None:
            if np.shape(achieved) != (k + 1, self.achieved.shape[2]) or np.shape(desired) != self.desired.shape[1:]:
                raise ValueError(
                    f"segment achieved goals {np.shape(achieved)} / desired goal {np.shape(desired)} do not fit "
                    f"({k + 1}, {self.achieved.shape[2]}) / {self.desired.shape[1:]}"
                )
        g = int(self.written[env])  # this segment's global number in its env
        i = (g % self.rows) * self.n_envs + env
        self.states[i, : k + 1] = states
        self.states[i, k + 1 :] = states[-1]  # padding: the last state, so s_{t+c} reads as s_{t+k}
        self.actions[i, :k] = actions
        self.actions[i, k:] = 0.0
        self.goals[i], self.rewards[i], self.terminated[i], self.lengths[i] = goal, reward, terminated, k
        if self.achieved is not None and self.desired is not None:
            self.achieved[i, : k + 1] = achieved
            self.achieved[i, k + 1 :] = achieved[-1]  # type: ignore[index]
            self.desired[i] = desired
        self.ep_start[i], self.ep_end[i] = self.running_start[env], -1
        if terminated if episode_end is None else episode_end:
            # Every stored segment of the episode gets its end: global numbers max(start, g - rows + 1) .. g.
            first = max(int(self.running_start[env]), g - self.rows + 1)
            self.ep_end[(np.arange(first, g + 1) % self.rows) * self.n_envs + env] = g
            self.running_start[env] = g + 1
        if self.sampler is not None:
            self.sampler.on_write(np.array([i]))
        self.written[env] = g + 1

    # ------------------------------------------------------------------------------------------- episode structure
    def global_numbers(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(global numbers (B,), envs (B,)) of stored entries at flat indices (B,).

        Worked example: rows 4, one env, written 6 (rows 0, 1 hold 4, 5; rows 2, 3 hold 2, 3): row 1 -> 5, row 3 -> 3.
        """
        rows, envs = np.divmod(flat, self.n_envs)
        written = self.written[envs]
        newest_row = (written - 1) % self.rows
        return written - 1 - (newest_row - rows) % self.rows, envs

    def valid_episode_bounds(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) global numbers (B,), (B,) of the stored part of each entry's episode, in its env: the start
        clipped to the oldest segment still stored, the end the newest segment while the episode runs."""
        envs = flat % self.n_envs
        written = self.written[envs]
        first = np.maximum(self.ep_start[flat], written - self.filled()[envs])
        end = self.ep_end[flat]
        return first, np.where(end >= 0, end, written - 1)

    def flat_index(self, numbers: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """Flat indices (B,) of stored global numbers (B,) of envs (B,)."""
        return (numbers % self.rows) * self.n_envs + envs

    # ------------------------------------------------------------------------------------------------------- read
    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Flat indices drawn uniformly over the stored segments of all envs."""
        filled = self.filled()
        total = int(filled.sum())
        if total == 0:
            raise HrlkitError("cannot sample from an empty segment buffer: raise the high level's learning start")
        u = rng.integers(0, total, size=batch_size)  # (B,) the u-th stored segment, env by env
        if self.n_envs == 1:
            return u
        ends = np.cumsum(filled)  # (E,)
        envs = np.searchsorted(ends, u, side="right")  # (B,)
        return (u - (ends - filled)[envs]) * self.n_envs + envs

    def sample(self, batch_size: int, rng: np.random.Generator) -> SegmentBatch:
        if self.sampler is None:
            idx, weights = self.sample_indices(batch_size, rng), np.ones(batch_size, np.float32)
        else:
            if len(self) == 0:
                raise HrlkitError("cannot sample from an empty segment buffer: raise the high level's learning start")
            idx, weights = self.sampler.sample(batch_size, rng)
        return self.gather(idx, weights)

    def gather(self, idx: np.ndarray, weights: np.ndarray | None = None) -> SegmentBatch:
        t = lambda x: torch.as_tensor(x, device=self.device)  # noqa: E731
        states = self.states[idx]  # (B, c+1, S)
        lengths = self.lengths[idx]  # (B,)
        has_goals = self.achieved is not None and self.desired is not None
        return SegmentBatch(
            states_seq=t(states),
            actions_seq=t(self.actions[idx]),
            goals=t(self.goals[idx]),
            rewards=t(self.rewards[idx]),
            terminated=t(self.terminated[idx].astype(np.float32)),
            lengths=t(lengths),
            next_states=t(states[np.arange(len(idx)), lengths]),  # (B, S): s_{t+k}
            indices=t(idx),
            weights=t(np.ones(len(idx), np.float32) if weights is None else weights),
            achieved_seq=t(self.achieved[idx]) if has_goals else None,  # type: ignore[index]
            desired=t(self.desired[idx]) if has_goals else None,  # type: ignore[index]
        )

    def update_priorities(self, indices: torch.Tensor, td_errors: torch.Tensor) -> None:
        """New priorities from the high level's TD errors (PER); a no-op for uniform sampling."""
        if self.sampler is not None:
            self.sampler.update_priorities(indices.detach().cpu().numpy(), td_errors.detach().cpu().numpy())

    # ------------------------------------------------------------------------------------------- save and restore
    def state_dict(self) -> dict[str, np.ndarray]:
        """Only the rows written so far (in the envs' rings: up to the fullest ring's row), for small checkpoints."""
        m = int(self.filled().max()) * self.n_envs
        out = {
            **{k: v[:m] for k, v in self._arrays().items()},
            "written": self.written,
            "running_start": self.running_start,
        }
        if self.sampler is not None:
            out.update({f"per.{k}": v for k, v in self.sampler.state_dict().items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        arrays = self._arrays()
        old = "written" not in state  # saved before the per-env rings: one ring, pos/full, no episode structure
        # The counters first, then every array, all before anything is copied: a failed load leaves the buffer as it was.
        if old:
            if "pos" not in state or "full" not in state or not 0 <= int(state["pos"]) < self.capacity:
                raise HrlkitError(
                    "saved segment buffer has no valid pos/full: the checkpoint is corrupt, use another one"
                )
            if self.n_envs != 1:
                raise HrlkitError(
                    "this checkpoint's high-level replay was saved by an older hrlkit in one ring shared by all envs, "
                    "which cannot be split per env: resume it with n_envs = 1, or start a new run"
                )
            pos, full = int(state["pos"]), bool(state["full"])
            written = np.array([self.rows + pos if full else pos], np.int64)
            running = written.copy()
            m = self.capacity
        else:
            written = np.asarray(state["written"], np.int64)
            running = np.asarray(state.get("running_start", np.zeros(0)), np.int64)
            if written.shape != (self.n_envs,) or running.shape != (self.n_envs,) or np.any(written < 0):
                raise HrlkitError(
                    "saved segment buffer has no valid written/running_start counters: the checkpoint is corrupt, "
                    "use another one"
                )
            if np.any(running < 0) or np.any(running > written):
                raise HrlkitError("saved segment buffer running episodes start outside the rows written: it is corrupt")
            m = int(np.minimum(written, self.rows).max()) * self.n_envs  # the rows `state_dict` saves
        # An array holds the written rows, or all of them (checkpoints before trimmed saves).
        for name, target in arrays.items():
            if old and name in ("ep_start", "ep_end"):
                continue
            shape = state[name].shape if name in state else None
            if shape is None or shape[1:] != target.shape[1:] or shape[0] not in (m, self.capacity):
                raise HrlkitError(
                    f"saved segment buffer array {name!r} is missing or has another shape: resume with the same "
                    "buffer size, n_envs, c, goal space and goal_conditioned setting"
                )
        if not old:  # the episode bounds of the entries each env has written
            rows, envs = np.divmod(np.arange(m), self.n_envs)
            held = rows < written[envs]
            start, end = state["ep_start"][:m], state["ep_end"][:m]
            check_episode_bounds(start[held], end[held], written[envs][held], "segment buffer")
        per = {k[4:]: v for k, v in state.items() if k.startswith("per.")}
        if self.sampler is not None:
            if not per:
                raise HrlkitError(
                    "saved segment buffer has no priorities: it was saved without prioritized replay; resume with "
                    "--prioritized-replay false"
                )
            self.sampler.load_state_dict(per)
        for name, target in arrays.items():
            if old and name in ("ep_start", "ep_end"):
                continue
            target[: len(state[name])] = state[name]
        self.written[...] = written
        self.running_start[...] = running
        if old:
            # No episode structure was kept: each segment is its own episode (hindsight then only uses its own end).
            numbers, _ = self.global_numbers(np.arange(self.capacity))
            self.ep_start[...] = numbers
            self.ep_end[...] = numbers
