"""Tabular Q-learning (Watkins 1989, "Learning from Delayed Rewards", PhD thesis, Cambridge; Watkins & Dayan 1992).

One table Q of shape (n_states, n_actions), updated online from each transition as it is observed:

    Q(s, a) <- Q(s, a) + lr * (r + gamma * (1 - terminated) * max_a' Q(s', a') - Q(s, a))

States: a `Discrete(n)` observation is its own index (minus the space's `start`). A `Box` observation is discretised
into uniform bins per dimension over [low, high] (the space's bounds, or `obs_low` / `obs_high` for dimensions the
space leaves unbounded, such as CartPole's velocities); values outside the range fall into the edge bins, and the
per-dimension bin indices are combined row-major (`numpy.ravel_multi_index`) into one state index.

Batches: the agent (`hrlkit.agents.tabular.TabularAgent`) hands over the transitions of all envs from one vector step
at once. All targets are computed from the table *before* any of them is applied (a synchronous update), so the
order of the envs does not matter. When several envs hit the same (s, a) in one step, that entry moves once, by lr
times the *mean* of their TD errors: the update toward their average target (a sum would overshoot once lr * k > 1).

Exploration is the agent's (epsilon-greedy around `act`), as for DQN. The table is a registered buffer, so it travels
in `state_dict()` and checkpoints save it with safetensors like any network weight; it is float64 so that tests can
check updates against values computed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import td_target
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult

MAX_TABLE_ENTRIES = 50_000_000  # 400 MB of float64: a bigger table is almost always a bins setting gone wrong


@dataclass
class QLearningConfig:
    """Tabular Q-learning (Watkins 1989) with epsilon-greedy exploration and uniform bins for Box observations."""

    lr: float = 0.1
    """alpha: step size of the update Q(s, a) += lr * (target - Q(s, a))"""
    gamma: float = 0.99
    """discount factor"""
    bins: tuple[int, ...] = (10,)
    """Box observations: uniform bins per dimension (one value for every dimension, or one per dimension); unused for
    Discrete observations"""
    obs_low: tuple[float, ...] = ()
    """Box observations: lower end of the binned range per dimension (one value, or one per dimension); empty: the
    space's lower bounds (then every dimension must be bounded)"""
    obs_high: tuple[float, ...] = ()
    """Box observations: upper end of the binned range per dimension (see obs_low); values outside [obs_low, obs_high]
    fall into the edge bins"""
    initial_q: float = 0.0
    """Q value of every table entry before learning (optimistic values above the returns make greedy actions explore)"""
    exploration_initial: float = 1.0
    """epsilon at the first step"""
    exploration_final: float = 0.05
    """epsilon after exploration_env_steps"""
    exploration_env_steps: int = 10_000
    """env steps over which epsilon falls linearly from exploration_initial to exploration_final"""


def _per_dim(values: tuple, dims: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        return np.full(dims, arr[0])
    if arr.size != dims:
        raise HrlkitError(f"{name} has {arr.size} values: give one, or one per observation dimension ({dims})")
    return arr


class Discretiser:
    """Observation -> state index in [0, n_states): the identity for Discrete spaces, uniform bins for Box spaces.

    Box: per dimension d, bin_d = clip(floor((x_d - low_d) * bins_d / (high_d - low_d)), 0, bins_d - 1), so bins are
    closed on the left ([low, low + width), ..., [high - width, high]) and anything outside [low, high] lands in an edge
    bin. The index is row-major over the bins (the first dimension varies slowest), as `numpy.ravel_multi_index`.

    Worked example: bins (3, 4) over [0, 1] x [0, 1]; x = (0.7, 0.3) -> bins (2, 1) -> index 2 * 4 + 1 = 9.

    Args:
        space: Discrete, or a Box of any shape (flattened).
        bins, low, high: as `QLearningConfig.bins`, `obs_low`, `obs_high` (low / high empty: the space's bounds).

    Shapes:
        __call__: obs (B,) for Discrete, (B, *box_shape) for Box -> (B,) int64
    """

    def __init__(
        self, space: gym.Space, bins: tuple[int, ...] = (10,), low: tuple[float, ...] = (), high: tuple[float, ...] = ()
    ) -> None:
        if isinstance(space, gym.spaces.Discrete):
            self.start: int | None = int(space.start)
            self.n_states = int(space.n)
            return
        if not isinstance(space, gym.spaces.Box):
            raise HrlkitError(f"tabular Q-learning needs a Discrete or Box observation space, got {space}")
        self.start = None
        dims = int(np.prod(space.shape))
        n_bins = _per_dim(bins, dims, "bins")
        if np.any(n_bins < 1) or np.any(n_bins != np.round(n_bins)):
            raise HrlkitError(f"bins must be positive integers, got {bins}")
        lo = _per_dim(low, dims, "obs_low") if low else np.asarray(space.low, np.float64).reshape(-1)
        hi = _per_dim(high, dims, "obs_high") if high else np.asarray(space.high, np.float64).reshape(-1)
        unbounded = np.flatnonzero(~np.isfinite(lo) | ~np.isfinite(hi))
        if unbounded.size:
            d = int(unbounded[0])
            raise HrlkitError(
                f"observation dimension {d} is unbounded ([{lo[d]}, {hi[d]}]): give --obs-low and --obs-high, one value "
                f"per dimension ({dims}), to bin it"
            )
        if np.any(lo >= hi):
            raise HrlkitError(f"obs_low {lo.tolist()} must lie below obs_high {hi.tolist()} in every dimension")
        self.n_bins = n_bins.astype(np.int64)  # (D,)
        self.low, self.scale = lo, n_bins / (hi - lo)  # (D,), (D,) bins per unit
        self.strides = np.concatenate([np.cumprod(self.n_bins[::-1])[::-1][1:], [1]])  # (D,) bins (3, 4) -> (4, 1)
        self.n_states = int(np.prod(self.n_bins))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if self.start is not None:
            idx = obs.astype(np.int64).reshape(-1) - self.start  # (B,)
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_states):
                raise HrlkitError(
                    f"observation {obs.reshape(-1)[:8]} lies outside Discrete({self.n_states}, start={self.start}): "
                    "check the env's observation space"
                )
            return idx
        # Through float32 first: the replay stores float64 observations as float32, and an observation must fall into
        # the same bin when acted on (raw) and when learned from (stored).
        x = obs.reshape(len(obs), -1).astype(np.float32).astype(np.float64)  # (B, D)
        if not np.isfinite(x).all():
            raise HrlkitError("a non-finite observation cannot be binned: check the env or its wrappers")
        per_dim = np.floor((x - self.low) * self.scale).astype(np.int64)  # (B, D), may lie outside [0, bins)
        per_dim = np.clip(per_dim, 0, self.n_bins - 1)  # (B, D) edge bins take the overflow
        return per_dim @ self.strides  # (B,) row-major index


def _np(x: TensorObs | np.ndarray) -> np.ndarray:
    assert not isinstance(x, dict), "tabular Q-learning takes Discrete or Box observations"
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class QLearningLearner(Learner):
    """A Q table over discretised observations; the update of the module docstring. No networks, no optimizer.

    The table is the float64 buffer `q_table`, always on the CPU (a lookup gains nothing from a GPU); the arithmetic is
    numpy on a view of it, since torch's per-call overhead would dominate updates of a handful of entries.

    Shapes:
        act: obs (B, ...) -> actions (B,) int64
        target, td_error: batch of B transitions -> (B,) float64
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: QLearningConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, "cpu")
        if not isinstance(action_space, gym.spaces.Discrete):
            raise HrlkitError(f"tabular Q-learning needs a Discrete action space, got {action_space}")
        if not 0.0 < config.lr <= 1.0:
            raise HrlkitError(f"lr (alpha) must lie in (0, 1], got {config.lr}")
        self.config = cfg = config
        self.discretiser = Discretiser(obs_space, cfg.bins, cfg.obs_low, cfg.obs_high)
        self.n_states, self.n_actions = self.discretiser.n_states, int(action_space.n)
        if self.n_states * self.n_actions > MAX_TABLE_ENTRIES:
            raise HrlkitError(
                f"a Q table of {self.n_states} states x {self.n_actions} actions is too large: use fewer bins"
            )
        table = torch.full((self.n_states, self.n_actions), float(cfg.initial_q), dtype=torch.float64)
        self.register_buffer("q_table", table)

    @property
    def table(self) -> np.ndarray:
        """(S, A) float64 numpy view of `q_table` (writes go to the buffer)."""
        return self.q_table.numpy()

    def state_index(self, obs: TensorObs | np.ndarray) -> np.ndarray:
        """(B,) int64 table rows of a batch of observations."""
        return self.discretiser(_np(obs))

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions. Ties (every action of an unvisited state) go to the first action when `deterministic`,
        and to a uniformly drawn one among the tied actions otherwise (one draw per row from torch's generator, which
        the run saves with each checkpoint)."""
        q = self.table[self.state_index(obs)]  # (B, A)
        if deterministic:
            return torch.from_numpy(q.argmax(axis=1))
        ties = q == q.max(axis=1, keepdims=True)  # (B, A) bool
        n_ties = ties.sum(axis=1)  # (B,) >= 1
        k = np.minimum((torch.rand(len(q), dtype=torch.float64).numpy() * n_ties).astype(np.int64), n_ties - 1)  # (B,)
        # The k-th tied action of each row: the first column where the running count of ties reaches k + 1.
        return torch.from_numpy((np.cumsum(ties, axis=1) > k[:, None]).argmax(axis=1))  # (B,)

    def target(self, batch: ReplayBatch) -> np.ndarray:
        """y (B,) = r + gamma * (1 - terminated) * max_a' Q(s', a')."""
        next_value = self.table[self.state_index(batch.next_obs)].max(axis=1)  # (B,)
        rewards, terminated = _np(batch.rewards).astype(np.float64), _np(batch.terminated).astype(np.float64)
        return td_target(rewards, terminated, next_value, self.config.gamma)

    def td_error(self, batch: ReplayBatch) -> np.ndarray:
        """delta (B,) = y - Q(s, a), from the table as it is (before this batch is applied)."""
        q = self.table[self.state_index(batch.obs), _np(batch.actions).astype(np.int64).reshape(-1)]  # (B,)
        return self.target(batch) - q

    def update(self, batch: ReplayBatch) -> UpdateResult:
        """Apply the batch's one-step updates at once (module docstring: targets from the table before the update,
        repeated (s, a) entries move by the mean of their TD errors)."""
        states, actions = self.state_index(batch.obs), _np(batch.actions).astype(np.int64).reshape(-1)  # (B,), (B,)
        table = self.table
        q_before = table[states, actions]  # (B,)
        delta = self.td_error(batch)  # (B,)
        flat = states * self.n_actions + actions  # (B,) entry of the flattened table
        # Worked example: flat = [7, 3, 7], delta = [0.2, 1.0, 0.4] -> entries [3, 7], inverse [1, 0, 1],
        # sums [1.0, 0.6], counts [1, 2] -> entry 3 moves by lr * 1.0, entry 7 by lr * 0.3.
        entries, inverse = np.unique(flat, return_inverse=True)  # (U,), (B,)
        sums = np.bincount(inverse, weights=delta, minlength=len(entries))  # (U,)
        counts = np.bincount(inverse, minlength=len(entries))  # (U,)
        table.reshape(-1)[entries] += self.config.lr * sums / counts  # a view: writes into q_table
        self.n_updates += 1
        stats = {"td_error": float(np.abs(delta).mean()), "q_mean": float(q_before.mean())}
        return UpdateResult(stats, torch.from_numpy(np.abs(delta)))
