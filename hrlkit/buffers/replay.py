"""Uniform experience replay over a preallocated numpy ring.

Storage is laid out `(capacity, n_envs, ...)` as in Stable-Baselines3: one `add` writes one row for all envs at once,
so a vector env never loops in Python. Sampling draws flat indices over the filled rows x envs and gathers every field
with one fancy-index per array.

`next_obs` is stored explicitly rather than recovered from the following row: with vector envs that auto-reset, the
following row holds the *reset* observation, and the true final observation must be kept (see
`hrlkit.training.loop`). For Dict observations each key gets its own array.

Episode structure (what hindsight relabelling needs: "a later step of the same episode"). Rows are numbered by a
global counter that never wraps (`written` rows so far; the ring row of global row g is g % capacity). For each stored
(row, env) the buffer keeps the global rows where that step's episode starts and ends (`ep_start`, `ep_end`; `ep_end`
is -1 while the episode is still running, and its last row is then the newest one). A step whose episode began
before the oldest row still stored has lost its first steps to the ring: `valid_episode_bounds` clips the start to
the oldest stored row, so no goal is ever taken from an overwritten row. Both arrays, `written` and each env's
running episode start are part of `state_dict`, so a resume stays exact.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.errors import HrlkitError
from hrlkit.types import ReplayBatch


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    # float64 observations (MuJoCo, gymnasium-robotics) are kept as float32: the networks compute in float32 anyway,
    # and it halves the buffer.
    return np.dtype(np.float32) if np.dtype(dtype) == np.float64 else np.dtype(dtype)


def _obs_arrays(space: gym.Space, capacity: int, n_envs: int) -> np.ndarray | dict[str, np.ndarray]:
    if isinstance(space, gym.spaces.Dict):
        return {
            k: np.zeros((capacity, n_envs, *s.shape), dtype=_storage_dtype(s.dtype)) for k, s in space.spaces.items()
        }
    if isinstance(space, gym.spaces.Discrete):
        return np.zeros((capacity, n_envs), dtype=np.int64)
    return np.zeros((capacity, n_envs, *space.shape), dtype=_storage_dtype(space.dtype))


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_fits_in_memory(nbytes: int, what: str, fix: str) -> None:
    """Refuse, before allocating, storage larger than the machine's RAM: numpy would fail with a traceback, or the
    operating system would kill the run once the buffer fills."""
    ram = physical_memory()
    if ram and nbytes > ram:
        raise HrlkitError(
            f"{what} would need {nbytes / 2**30:.1f} GiB, more than this machine's {ram / 2**30:.1f} GiB of memory: "
            f"{fix}"
        )


def _space_bytes(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Dict):
        return sum(_space_bytes(s) for s in space.spaces.values())
    if isinstance(space, gym.spaces.Discrete):
        return 8
    return int(np.prod(space.shape)) * np.dtype(_storage_dtype(space.dtype)).itemsize


def _counters(state: Mapping[str, np.ndarray], capacity: int) -> tuple[int, bool]:
    """(pos, full) of a saved buffer, checked: one line for a corrupt pair."""
    try:
        pos, full = int(state["pos"]), bool(state["full"])
    except (KeyError, TypeError, ValueError):
        raise HrlkitError(
            "saved replay buffer has no valid pos/full: the checkpoint is corrupt, use another one"
        ) from None
    if not 0 <= pos < capacity:
        raise HrlkitError(
            f"saved replay buffer pos {pos} is outside 0..{capacity - 1}: resume with the same buffer_size and n_envs, "
            "or the checkpoint is corrupt"
        )
    return pos, full


def check_episode_bounds(ep_start: np.ndarray, ep_end: np.ndarray, written: np.ndarray | int, what: str) -> None:
    """Saved episode bounds are global row numbers: each start in [0, written), each end -1 (episode running) or in
    [start, written), with `written` the rows written so far (per element, broadcast). One line otherwise: a relabel
    from such a bound would read a row that was never written."""
    start, end = np.asarray(ep_start), np.asarray(ep_end)
    if start.dtype.kind not in "iu" or end.dtype.kind not in "iu":
        raise HrlkitError(f"saved {what} episode bounds are not integers: the checkpoint is corrupt, use another one")
    ok = (start >= 0) & (start < written) & ((end == -1) | ((end >= start) & (end < written)))
    if not np.all(ok):
        raise HrlkitError(
            f"saved {what} episode bounds lie outside the {np.max(written)} rows written: the checkpoint is corrupt, "
            "use another one"
        )


def _nbytes(x: np.ndarray | dict[str, np.ndarray]) -> int:
    return sum(v.nbytes for v in x.values()) if isinstance(x, dict) else x.nbytes


class ReplayBuffer:
    """A ring of `capacity` rows, each holding one transition per env.

    Args:
        capacity: rows kept; the buffer holds `capacity * n_envs` transitions. Oldest rows are overwritten first.
        obs_space: the single-env observation space (Box, Discrete or Dict of Boxes).
        action_space: the single-env action space. Box actions are stored as given (the learner's normalised space).
        n_envs: envs written per `add`.
        device: where `sample` puts its tensors.
        sampler: None for uniform sampling, or a `PrioritizedSampler` over `capacity * n_envs` entries (PER); then
            `sample` returns importance weights and `update_priorities` takes the learner's TD errors.

    Memory: `bytes_per_transition` = 2 x obs bytes (obs and next_obs) + action bytes + 4 (reward) + 1 (terminated)
    + 16 (episode start and end, int64); for Pendulum-v1 (3 float32 obs, 1 float32 action) that is
    2*12 + 4 + 4 + 1 + 16 = 49 bytes, 49 MB per million.
    """

    def __init__(
        self,
        capacity: int,
        obs_space: gym.Space,
        action_space: gym.Space,
        n_envs: int = 1,
        device: torch.device | str = "cpu",
        sampler: PrioritizedSampler | None = None,
    ) -> None:
        if capacity < 1:
            raise HrlkitError(f"replay capacity must be >= 1, got {capacity}")
        if sampler is not None and sampler.capacity != capacity * n_envs:
            raise HrlkitError(f"a prioritized sampler over {sampler.capacity} entries cannot index {capacity * n_envs}")
        row = 2 * _space_bytes(obs_space) + _space_bytes(action_space) + 4 + 1 + 16  # see Memory above
        check_fits_in_memory(
            capacity * n_envs * row, f"a replay buffer of {capacity} rows x {n_envs} envs", "lower --buffer-size"
        )
        self.sampler = sampler
        self.capacity, self.n_envs, self.device = capacity, n_envs, torch.device(device)
        self.obs_space, self.action_space = obs_space, action_space
        self.obs = _obs_arrays(obs_space, capacity, n_envs)
        self.next_obs = _obs_arrays(obs_space, capacity, n_envs)
        if isinstance(action_space, gym.spaces.Discrete):
            self.actions = np.zeros((capacity, n_envs), dtype=np.int64)
        else:
            self.actions = np.zeros((capacity, n_envs, *action_space.shape), dtype=np.float32)
        self.rewards = np.zeros((capacity, n_envs), dtype=np.float32)
        self.terminated = np.zeros((capacity, n_envs), dtype=np.bool_)  # 1 byte; a float32 tensor once sampled
        self.pos = 0  # next row to write
        self.full = False
        # Episode bookkeeping in global rows (module docstring).
        self.ep_start = np.zeros((capacity, n_envs), dtype=np.int64)
        self.ep_end = np.full((capacity, n_envs), -1, dtype=np.int64)
        self.written = 0  # global rows written so far; the next row's global index
        self.running_start = np.zeros(n_envs, dtype=np.int64)  # global row where each env's running episode began

    # ----------------------------------------------------------------------------------------------------- sizes
    @property
    def bytes_per_transition(self) -> int:
        rows = self.capacity * self.n_envs
        arrays = [self.obs, self.next_obs, self.actions, self.rewards, self.terminated, self.ep_start, self.ep_end]
        return sum(_nbytes(a) for a in arrays) // rows

    @property
    def nbytes(self) -> int:
        return self.bytes_per_transition * self.capacity * self.n_envs

    def __len__(self) -> int:
        """Transitions stored (rows x envs)."""
        return (self.capacity if self.full else self.pos) * self.n_envs

    # ------------------------------------------------------------------------------------------------------ write
    def add(
        self,
        obs: np.ndarray | Mapping[str, np.ndarray],
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray | Mapping[str, np.ndarray],
        terminated: np.ndarray,
        truncated: np.ndarray | None = None,
    ) -> None:
        """Write one row: every argument has a leading `n_envs` axis. `terminated | truncated` ends an env's episode
        (only `terminated` stops bootstrapping; `truncated` defaults to none)."""
        self._write(self.obs, obs)
        self._write(self.next_obs, next_obs)
        self.actions[self.pos] = actions
        self.rewards[self.pos] = rewards
        self.terminated[self.pos] = terminated
        g = self.written  # this row's global index
        self.ep_start[self.pos] = self.running_start
        self.ep_end[self.pos] = -1
        done = np.asarray(terminated, bool) if truncated is None else np.asarray(terminated, bool) | truncated
        for env in np.flatnonzero(done):
            # Close the episode: every row of it still stored gets its end. Worked example: capacity 4, episode of
            # env 0 from global row 3 to 6 -> rows max(3, 6 - 4 + 1) .. 6 = 3..6, ring rows 3, 0, 1, 2.
            first = max(int(self.running_start[env]), g - self.capacity + 1)
            self.ep_end[np.arange(first, g + 1) % self.capacity, env] = g
            self.running_start[env] = g + 1
        if self.sampler is not None:
            self.sampler.on_write(self.pos * self.n_envs + np.arange(self.n_envs))
        self.written += 1
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def _write(self, store: np.ndarray | dict[str, np.ndarray], value: Any) -> None:
        if isinstance(store, dict):
            for k, arr in store.items():
                arr[self.pos] = value[k]
        else:
            store[self.pos] = value

    # ------------------------------------------------------------------------------------------- episode structure
    @property
    def oldest(self) -> int:
        """Global index of the oldest row still stored."""
        return self.written - (self.capacity if self.full else self.pos)

    def global_rows(self, rows: np.ndarray) -> np.ndarray:
        """Global indices (B,) of ring rows (B,). Worked example: capacity 4, written 6 (rows 0, 1 hold globals 4, 5;
        rows 2, 3 hold 2, 3): ring row 1 -> 5, ring row 3 -> 3."""
        newest_row = (self.written - 1) % self.capacity
        return self.written - 1 - (newest_row - rows) % self.capacity

    def valid_episode_bounds(self, rows: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) global rows (B,), (B,) of the stored part of each sampled step's episode: the start clipped
        to the oldest stored row, the end the newest row while the episode runs."""
        first = np.maximum(self.ep_start[rows, envs], self.oldest)
        end = self.ep_end[rows, envs]
        last = np.where(end >= 0, end, self.written - 1)
        return first, last

    # ------------------------------------------------------------------------------------------------------- read
    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Flat indices `row * n_envs + env` drawn uniformly over what is stored."""
        if len(self) == 0:
            raise HrlkitError("cannot sample from an empty replay buffer: raise learning_starts above 0")
        return rng.integers(0, len(self), size=batch_size)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """A uniform batch, or a prioritized one with importance weights when the buffer has a sampler."""
        if self.sampler is None:
            return self.gather(self.sample_indices(batch_size, rng))
        if len(self) == 0:
            raise HrlkitError("cannot sample from an empty replay buffer: raise learning_starts above 0")
        flat, weights = self.sampler.sample(batch_size, rng)
        return self.gather(flat, weights)

    def update_priorities(self, indices: torch.Tensor | np.ndarray, td_errors: torch.Tensor | np.ndarray) -> None:
        """New priorities from the TD errors of a sampled batch (PER); a no-op for uniform replay."""
        if self.sampler is not None:
            to_np = lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)  # noqa: E731
            self.sampler.update_priorities(to_np(indices), to_np(td_errors))

    def gather(self, flat: np.ndarray, weights: np.ndarray | None = None) -> ReplayBatch:
        """The transitions at flat indices as tensors on `device`.

        Worked example: n_envs = 2, flat index 7 -> row 3, env 1.
        """
        rows, envs = np.divmod(flat, self.n_envs)  # (B,), (B,)
        return ReplayBatch(
            obs=self._take(self.obs, rows, envs),
            actions=self._tensor(self.actions[rows, envs]),
            rewards=self._tensor(self.rewards[rows, envs]),
            next_obs=self._take(self.next_obs, rows, envs),
            terminated=self._tensor(self.terminated[rows, envs].astype(np.float32)),
            weights=self._tensor(np.ones(len(flat), np.float32) if weights is None else weights.astype(np.float32)),
            indices=torch.as_tensor(flat, device=self.device),
        )

    def _take(self, store, rows, envs):
        if isinstance(store, dict):
            return {k: self._tensor(v[rows, envs]) for k, v in store.items()}
        return self._tensor(store[rows, envs])

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x)
        if t.dtype == torch.float64:
            t = t.float()
        return t.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------------------------------- save and restore
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array, for `np.savez` (loaded back with `allow_pickle=False`). Only the rows written so far are
        saved (a checkpoint early in a run with a 1M buffer holds its few thousand rows, not the preallocated million);
        `load_state_dict` takes either."""
        n = self.capacity if self.full else self.pos  # rows holding data
        out: dict[str, np.ndarray] = {
            "pos": np.array(self.pos), "full": np.array(self.full), "written": np.array(self.written),
            "running_start": self.running_start, "ep_start": self.ep_start[:n], "ep_end": self.ep_end[:n],
        }  # fmt: skip
        for name in ("obs", "next_obs"):
            store = getattr(self, name)
            if isinstance(store, dict):
                out.update({f"{name}.{k}": v[:n] for k, v in store.items()})
            else:
                out[name] = store[:n]
        out.update(actions=self.actions[:n], rewards=self.rewards[:n], terminated=self.terminated[:n])
        if self.sampler is not None:
            out.update({f"per.{k}": v for k, v in self.sampler.state_dict().items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        pos, full = _counters(state, self.capacity)
        n = self.capacity if full else pos  # rows saved: the written ones (or all, as older checkpoints saved them)
        if self.sampler is not None:  # first: a buffer saved without priorities is refused before anything is copied
            per = {k[4:]: v for k, v in state.items() if k.startswith("per.")}
            if not per:
                raise HrlkitError(
                    "saved replay buffer has no priorities: it was saved without prioritized replay; resume with "
                    "--prioritized-replay false"
                )
            self.sampler.load_state_dict(per)
        targets: dict[str, np.ndarray] = {}
        for name in ("obs", "next_obs"):
            store = getattr(self, name)
            keys = {f"{name}.{k}": k for k in store} if isinstance(store, dict) else {name: None}
            for key, sub in keys.items():
                targets[key] = store[sub] if sub is not None else store
        for name in ("actions", "rewards", "terminated"):
            targets[name] = getattr(self, name)
        if "ep_start" in state:
            targets.update(ep_start=self.ep_start, ep_end=self.ep_end)
        for key, target in targets.items():  # every array checked before any is copied
            self._check_rows(key, state, target, n)
        if "ep_start" in state:
            self._check_shape("running_start", state, self.running_start)
            self._check_written(state, pos, full, n)
        for key, target in targets.items():
            rows = len(state[key])
            target[:rows] = state[key]
        self.pos, self.full = pos, full
        if "ep_start" in state:
            self.running_start[...] = state["running_start"]
            self.written = int(state["written"])
        else:
            # Saved before the buffer kept episode structure: nothing relabels from it (HER came with the structure);
            # number the rows as if written once and leave every episode open.
            self.written = self.capacity + self.pos if self.full else self.pos
            self.ep_start[...] = self.oldest
            self.ep_end[...] = -1
            self.running_start[...] = self.oldest

    @staticmethod
    def _check_rows(key: str, state: Mapping[str, np.ndarray], target: np.ndarray, n: int) -> None:
        """A saved array holds the n written rows, or all rows (checkpoints before trimmed saves)."""
        if key not in state:
            raise HrlkitError(f"saved replay buffer has no array {key!r}: it was saved by another algorithm or env")
        got = state[key].shape
        if got[1:] != target.shape[1:] or got[0] not in (n, target.shape[0]):
            raise HrlkitError(
                f"saved replay buffer array {key!r} has shape {got}, expected {(n, *target.shape[1:])}: resume with "
                "the same buffer_size and n_envs"
            )

    def _check_written(self, state: Mapping[str, np.ndarray], pos: int, full: bool, n: int) -> None:
        """`written` agrees with pos and full; the running episodes and the stored bounds lie within it."""
        try:
            written = int(state["written"])
        except (KeyError, TypeError, ValueError):
            written = -1
        running = np.asarray(state["running_start"])
        if written < 0 or written % self.capacity != pos or (written >= self.capacity) != full:
            raise HrlkitError(
                f"saved replay buffer counters disagree (written {written}, pos {pos}, full {full}): the checkpoint is "
                "corrupt, use another one"
            )
        if running.dtype.kind not in "iu" or np.any(running < 0) or np.any(running > written):
            raise HrlkitError("saved replay buffer running episodes start outside the rows written: it is corrupt")
        if written:
            check_episode_bounds(state["ep_start"][:n], state["ep_end"][:n], written, "replay buffer")

    @staticmethod
    def _check_shape(key: str, state: Mapping[str, np.ndarray], target: np.ndarray) -> None:
        if key not in state:
            raise HrlkitError(f"saved replay buffer has no array {key!r}: it was saved by another algorithm or env")
        if state[key].shape != target.shape:
            raise HrlkitError(
                f"saved replay buffer array {key!r} has shape {state[key].shape}, expected {target.shape}: "
                "resume with the same buffer_size and n_envs"
            )
