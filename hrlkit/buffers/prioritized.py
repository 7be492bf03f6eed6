"""Prioritized Experience Replay (Schaul et al. 2016, arXiv:1511.05952), proportional variant.

    priority     p_i = (|delta_i| + priority_epsilon) ^ priority_exponent          (alpha = priority_exponent)
    sampling     P(i) = p_i / sum_k p_k
    weights      w_i = (N P(i)) ^ -beta / max_j (N P(j)) ^ -beta = (p_i / p_min) ^ -beta   (beta = is_weight_exponent)

The normalisation by the largest weight (the paper's, "for stability") makes N and the total cancel: the largest
weight belongs to the smallest priority, so w_i = (p_min / p_i) ^ beta. A sum tree gives P(i) sampling in O(log N)
and a min tree gives p_min in O(1). New entries get the largest priority seen so far, so every transition is
replayed at least once soon after it arrives. beta is annealed linearly from its initial value to 1 over
`anneal_entries` written entries (the paper anneals to 1 by the end of learning).

Sampling is stratified as in the paper: the range [0, total) is cut into B equal strata and one prefix is drawn
uniformly in each, which lowers the variance of the batch's composition compared with B independent draws.

`PrioritizedSampler` only holds priorities and picks indices: it is the sampling policy of any buffer with flat
indices (the flat `ReplayBuffer`, HIRO's `SegmentBuffer`), which call `on_write` when they store entries and
`sample` / `update_priorities` when asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hrlkit.buffers.segment_tree import MinTree, SumTree, last_occurrences
from hrlkit.errors import HrlkitError


class PrioritizedSampler:
    """Proportional prioritized sampling over `capacity` flat indices.

    Args:
        capacity: number of entries the buffer can hold (leaves).
        priority_exponent: alpha; 0 is uniform sampling, 1 fully proportional. The paper's 0.6 by default.
        is_weight_exponent: beta at the start; annealed to 1 over `anneal_entries` writes. The paper's 0.4.
        anneal_entries: entries written by the time beta reaches 1 (the run's length, in the buffer's units).
        priority_epsilon: added to |delta| so that no transition gets probability zero.
    """

    def __init__(
        self,
        capacity: int,
        priority_exponent: float = 0.6,
        is_weight_exponent: float = 0.4,
        anneal_entries: int = 1_000_000,
        priority_epsilon: float = 1e-6,
    ) -> None:
        if not 0.0 <= priority_exponent <= 1.0 or not 0.0 <= is_weight_exponent <= 1.0:
            raise HrlkitError(
                f"priority_exponent and is_weight_exponent must lie in [0, 1], got {priority_exponent} and "
                f"{is_weight_exponent}"
            )
        if priority_epsilon <= 0:
            raise HrlkitError(f"priority_epsilon must be > 0, got {priority_epsilon}")
        self.capacity = capacity
        self.priority_exponent, self.is_weight_exponent0 = priority_exponent, is_weight_exponent
        self.anneal_entries, self.priority_epsilon = max(1, int(anneal_entries)), priority_epsilon
        self.sum_tree, self.min_tree = SumTree(capacity), MinTree(capacity)
        self.max_priority = 1.0  # largest p_i^(1/alpha) seen: (|delta| + eps), before the exponent
        self.written = 0  # entries written so far (drives the beta schedule)

    @property
    def is_weight_exponent(self) -> float:
        """beta now: linear from its initial value to 1 over `anneal_entries` written entries."""
        frac = min(1.0, self.written / self.anneal_entries)
        return self.is_weight_exponent0 + frac * (1.0 - self.is_weight_exponent0)

    def on_write(self, indices: np.ndarray) -> None:
        """Entries at `indices` were (over)written: they start at the largest priority seen so far."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 1 and 0 <= indices[0] < self.capacity:
            # One env: straight up both trees, without the batch path's checks (the value is a finite positive by
            # construction), which cost more than the walk itself.
            leaf, value1 = int(indices[0]), self.max_priority**self.priority_exponent
            self.sum_tree.set_one(leaf, value1)
            self.min_tree.set_one(leaf, value1)
            self.written += 1
            return
        value = np.full(indices.shape, self.max_priority**self.priority_exponent)
        self.sum_tree.update(indices, value, unique=True)  # a buffer writes each slot once per call
        self.min_tree.update(indices, value, unique=True)
        self.written += indices.size

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(indices (B,) int64, importance weights (B,) float32 in (0, 1])."""
        total = self.sum_tree.total
        if total <= 0:
            raise HrlkitError("cannot sample from an empty prioritized buffer: raise learning_starts above 0")
        edges = np.arange(batch_size, dtype=np.float64) * (total / batch_size)  # (B,) stratum starts
        prefixes = edges + rng.uniform(0.0, total / batch_size, size=batch_size)  # (B,) one draw per stratum
        indices = self.sum_tree.find_prefix_sum(np.minimum(prefixes, np.nextafter(total, 0.0)))  # (B,)
        priorities = self.sum_tree[indices]  # (B,) p_i (already raised to alpha)
        weights = (self.min_tree.min / priorities) ** self.is_weight_exponent  # (B,) (p_min / p_i)^beta
        return indices, weights.astype(np.float32)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i <- (|delta_i| + eps)^alpha for the sampled `indices` (B,) with TD errors `td_errors` (B,)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        raw = np.abs(np.asarray(td_errors, dtype=np.float64).reshape(-1)) + self.priority_epsilon  # (B,)
        if raw.shape != indices.shape:
            raise HrlkitError(f"{raw.size} TD errors for {indices.size} indices")
        if not np.all(np.isfinite(raw)):
            raise HrlkitError(
                "a TD error is NaN or infinite: the critic diverged; lower the learning rate or clip gradients"
            )
        values = raw**self.priority_exponent  # (B,)
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"priority index out of range 0..{self.capacity - 1}")
        if indices.size > 1:  # a batch can hold an entry twice: keep its last TD error
            indices, values = last_occurrences(indices, values)
        # Both trees in one pass up the levels (the same nodes change in each); see segment_tree for the layout.
        sums, mins = self.sum_tree, self.min_tree
        nodes = indices + sums.size  # (U,) leaf nodes
        sums.nodes[nodes] = values
        mins.nodes[nodes] = values
        for _ in range(sums.depth):
            nodes = nodes >> 1  # (U,) parents (repeats recompute the same value)
            s_children, m_children = sums.pairs[nodes], mins.pairs[nodes]  # (U, 2) each
            sums.nodes[nodes] = s_children[:, 0] + s_children[:, 1]
            mins.nodes[nodes] = np.minimum(m_children[:, 0], m_children[:, 1])
        self.max_priority = max(self.max_priority, float(raw.max()))

    # ------------------------------------------------------------------------------------------- save and restore
    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "sum_nodes": self.sum_tree.nodes,
            "min_nodes": self.min_tree.nodes,
            "max_priority": np.array(self.max_priority),
            "written": np.array(self.written),
        }

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        for name, tree in (("sum_nodes", self.sum_tree), ("min_nodes", self.min_tree)):
            if name not in state or state[name].shape != tree.nodes.shape:
                raise HrlkitError(
                    f"saved priorities {name!r} are missing or have another shape: resume with the same buffer size "
                    "and prioritized replay setting"
                )
        self.sum_tree.nodes[...] = state["sum_nodes"]
        self.min_tree.nodes[...] = state["min_nodes"]
        self.max_priority, self.written = float(state["max_priority"]), int(state["written"])


def make_sampler(replay: Any, entries: int, anneal_entries: int) -> PrioritizedSampler | None:
    """The replay config's prioritized sampler (`--prioritized-replay` and its fields) over `entries` buffer slots, or
    None for uniform replay."""
    if not replay.prioritized_replay:
        return None
    return PrioritizedSampler(
        entries, replay.priority_exponent, replay.is_weight_exponent, anneal_entries, replay.priority_epsilon
    )
