"""Sum and min segment trees over numpy arrays, updated and queried a whole batch at a time.

A tree over `capacity` leaves is one array of 2 * size floats (size = capacity rounded up to a power of two): node 1
is the root, node i has children 2i and 2i + 1, and leaf j lives at node size + j. Every internal node holds
op(left, right), so the root holds op over all leaves.

Both operations are vectorized over the batch and loop only over the tree's depth (log2(size) iterations, 20 for a
million leaves), never over batch items:

- `update(leaves, values)`: write the leaves, then recompute their ancestors level by level; at each level the set
  of parents to recompute is `unique(nodes // 2)`, so leaves that share an ancestor recompute it once.
- `SumTree.find_prefix_sum(prefixes)`: descend from the root for all queries at once. At node i, with L the sum of
  its left child, a query with prefix p goes left if p < L, else right with p - L. It ends at the leaf j with
  sum(leaves[:j]) <= p < sum(leaves[:j+1]): the inverse of the cumulative sum, which is what proportional sampling
  needs.

Worked example, leaves [1, 0, 3, 2] (size 4): nodes 4..7 = [1, 0, 3, 2], node 2 = 1, node 3 = 5, root = 6.
Prefix 3.5: at the root L = node 2 = 1, 3.5 >= 1 -> right (node 3) with 2.5; L = node 6 = 3, 2.5 < 3 -> left,
node 6 = leaf 2. Indeed cumsum = [1, 1, 4, 6] and 1 <= 3.5 < 4. Prefix 1.0 skips leaf 1 (priority 0): 1.0 >= 1 goes
right at the root, then left to leaf 2. A zero leaf has an empty interval and is never found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hrlkit.errors import HrlkitError


class SegmentTree:
    """A complete binary tree of `op` over `capacity` leaves; unused leaves hold `neutral`."""

    def __init__(self, capacity: int, op: Callable[[np.ndarray, np.ndarray], np.ndarray], neutral: float) -> None:
        if capacity < 1:
            raise HrlkitError(f"a segment tree needs capacity >= 1, got {capacity}")
        self.capacity = capacity
        self.size = 1 << max(0, (capacity - 1).bit_length())  # next power of two >= capacity
        self.depth = self.size.bit_length() - 1  # levels below the root
        self.op, self.neutral = op, neutral
        self.nodes = np.full(2 * self.size, neutral, dtype=np.float64)

    def __getitem__(self, leaves: np.ndarray | int) -> np.ndarray:
        return self.nodes[self.size + np.asarray(leaves)]

    @property
    def root(self) -> float:
        return float(self.nodes[1])

    def update(self, leaves: np.ndarray, values: np.ndarray) -> None:
        """Set `leaves` (B,) to `values` (B,); with a leaf given twice the later value wins."""
        leaves = np.asarray(leaves, dtype=np.int64).reshape(-1)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), leaves.shape)
        if leaves.size == 0:
            return
        if leaves.min() < 0 or leaves.max() >= self.capacity:
            raise IndexError(f"leaf index out of range 0..{self.capacity - 1}")
        # Keep each leaf's last occurrence: unique over the reversed array returns first occurrences there.
        rev_unique, rev_pos = np.unique(leaves[::-1], return_index=True)  # (U,), (U,)
        nodes = rev_unique + self.size  # (U,) node ids of the leaves
        self.nodes[nodes] = values[::-1][rev_pos]
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)  # (U',) parents, each once
            self.nodes[nodes] = self.op(self.nodes[2 * nodes], self.nodes[2 * nodes + 1])

    def reduce(self) -> float:
        """op over all leaves (the root)."""
        return self.root


class SumTree(SegmentTree):
    """Sums of non-negative leaves with batched prefix-sum retrieval (proportional sampling)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, np.add, 0.0)

    @property
    def total(self) -> float:
        return self.root

    def update(self, leaves: np.ndarray, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if np.any(values < 0) or not np.all(np.isfinite(values)):
            raise HrlkitError("sum-tree priorities must be finite and >= 0")
        super().update(leaves, values)

    def find_prefix_sum(self, prefixes: np.ndarray) -> np.ndarray:
        """Leaf j for each prefix p, with sum(leaves[:j]) <= p < sum(leaves[:j+1]); p in [0, total).

        Shapes: prefixes (B,) -> leaves (B,) int64.
        """
        p = np.array(prefixes, dtype=np.float64).reshape(-1)  # (B,) copy: it is consumed on the way down
        node = np.ones(p.shape, dtype=np.int64)  # (B,) all queries start at the root
        for _ in range(self.depth):
            left = 2 * node  # (B,)
            left_sum = self.nodes[left]  # (B,)
            right = p >= left_sum  # (B,) bool
            p -= np.where(right, left_sum, 0.0)
            node = left + right
        leaves = node - self.size  # (B,)
        empty = self.nodes[node] <= 0.0  # (B,) only through rounding: a prefix at the very top of [0, total)
        if empty.any():
            # Rare path, O(capacity): the last positive leaf at or before the one found.
            positive = np.flatnonzero(self.nodes[self.size : self.size + self.capacity] > 0)
            if positive.size == 0:
                raise HrlkitError("cannot sample from a sum tree whose leaves are all zero")
            at = np.searchsorted(positive, leaves[empty], side="right") - 1
            leaves[empty] = positive[np.maximum(at, 0)]
        return leaves


class MinTree(SegmentTree):
    """Minimum over leaves (unused leaves are +inf), for the largest importance weight."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, np.minimum, np.inf)

    @property
    def min(self) -> float:
        return self.root
