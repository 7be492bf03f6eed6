"""Sum and min segment trees over numpy arrays, updated and queried a whole batch at a time.

A tree over `capacity` leaves is one array of 2 * size floats (size = capacity rounded up to a power of two): node 1
is the root, node i has children 2i and 2i + 1, and leaf j lives at node size + j. Every internal node holds
op(left, right), so the root holds op over all leaves.

Both operations are vectorized over the batch and loop only over the tree's depth (log2(size) iterations, 20 for a
million leaves), never over batch items:

- `update(leaves, values)`: write the leaves, then recompute their ancestors level by level (`nodes // 2`); an
  ancestor shared by several leaves is recomputed once per leaf, with the same result, which costs less than
  deduplicating at every level. A single leaf (one env's new transition) walks up the tree in plain Python.
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


def last_occurrences(leaves: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct leaf once, with the value of its last occurrence. Shapes: (B,), (B,) -> (U,), (U,)."""
    rev_unique, rev_pos = np.unique(leaves[::-1], return_index=True)  # first occurrences in the reversed array
    return rev_unique, values[::-1][rev_pos]


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
        # Children of node p are nodes 2p and 2p + 1, i.e. row p of this (size, 2) view: one gather reads both.
        self.pairs = self.nodes.reshape(-1, 2)

    def __getitem__(self, leaves: np.ndarray | int) -> np.ndarray:
        return self.nodes[self.size + np.asarray(leaves)]

    @property
    def root(self) -> float:
        return float(self.nodes[1])

    def update(self, leaves: np.ndarray, values: np.ndarray, unique: bool = False) -> None:
        """Set `leaves` (B,) to `values` (B,); with a leaf given twice the later value wins (`unique=True`: the caller
        guarantees no leaf repeats, and the deduplication is skipped)."""
        leaves = np.asarray(leaves, dtype=np.int64).reshape(-1)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), leaves.shape)
        if leaves.size == 0:
            return
        if leaves.min() < 0 or leaves.max() >= self.capacity:
            raise IndexError(f"leaf index out of range 0..{self.capacity - 1}")
        if leaves.size == 1:
            self.set_one(int(leaves[0]), float(values[0]))
            return
        if not unique:
            leaves, values = last_occurrences(leaves, values)
        nodes = leaves + self.size  # (U,) node ids of the leaves
        self.nodes[nodes] = values
        for _ in range(self.depth):
            # Parents shared by several nodes appear several times: each copy computes and writes the same value (its
            # children are final by then), which is cheaper than deduplicating at every level.
            nodes = nodes >> 1  # (U,) parents
            children = self.pairs[nodes]  # (U, 2) one gather: nodes 2p and 2p + 1
            self.nodes[nodes] = self.op(children[:, 0], children[:, 1])

    def set_one(self, leaf: int, value: float) -> None:
        """One leaf (a transition written with one env), unchecked: a plain walk up the tree, cheaper than numpy calls
        on one-element arrays at each of the `depth` levels."""
        tree, op = self.nodes, self._scalar_op
        i = leaf + self.size
        tree[i] = value
        i >>= 1
        while i:
            tree[i] = op(tree[2 * i], tree[2 * i + 1])
            i >>= 1

    @staticmethod
    def _scalar_op(a: float, b: float) -> float:
        raise NotImplementedError

    def reduce(self) -> float:
        """op over all leaves (the root)."""
        return self.root


class SumTree(SegmentTree):
    """Sums of non-negative leaves with batched prefix-sum retrieval (proportional sampling)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, np.add, 0.0)

    @staticmethod
    def _scalar_op(a: float, b: float) -> float:
        return a + b

    @property
    def total(self) -> float:
        return self.root

    def update(self, leaves: np.ndarray, values: np.ndarray, unique: bool = False) -> None:
        values = np.asarray(values, dtype=np.float64)
        if not (values.min(initial=0.0) >= 0.0 and np.isfinite(values).all()):
            raise HrlkitError("sum-tree priorities must be finite and >= 0")
        super().update(leaves, values, unique)

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

    @staticmethod
    def _scalar_op(a: float, b: float) -> float:
        return a if a < b else b

    @property
    def min(self) -> float:
        return self.root
