"""Adjacency-constrained subgoals (HRAC: Zhang, Guo, Li, Ji, Zhou, "Generating Adjacency-Constrained Subgoals in
Hierarchical Reinforcement Learning", NeurIPS 2020, arXiv:2006.11485).

A subgoal the low level cannot reach in c steps teaches the high level nothing. HRAC keeps subgoals within "k-step
adjacency" of the current state:

1. **Adjacency graph.** The goal space is cut into cells of `cell_size` (HRAC rounds to whole units). Two cells are
   adjacent when the agent went from one to the other within k - 1 steps (k = c) of one trajectory; the relation is
   symmetric and every cell is adjacent to itself.
2. **Adjacency network** psi: goal space -> R^d, trained with a contrastive loss on pairs of explored cells, so that
   embedding distance approximates the k-step relation (Eq. 8, margins delta_pos < delta_neg):

       L_adj = mean( y * max(||psi(x) - psi(y)|| - delta_pos, 0) + (1 - y) * max(delta_neg - ||psi(x) - psi(y)||, 0) )

3. **Constraint.** The high level's actor loss gains a hinge on the embedding distance between where the agent is
   and the absolute subgoal s + g (Eq. 9), margin (delta_pos + delta_neg) / 2:

       L_actor_high += eta * mean( max(||psi(s[goal dims]) - psi(s[goal dims] + g)|| - margin, 0) )

Everything here is pure or self-contained: `contrastive_loss` and `adjacency_penalty` are functions of tensors;
`AdjacencyGraph` is numpy arrays (saved in checkpoints as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class AdjacencyNetwork(nn.Module):
    """psi: an MLP from goal space to an embedding (HRAC: three hidden layers of 128, embedding 32)."""

    def __init__(self, goal_dim: int, hidden: int = 128, embedding: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(goal_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, embedding),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def embedding_distance(ex: torch.Tensor, ey: torch.Tensor) -> torch.Tensor:
    """||ex - ey||_2 per row, with 1e-12 inside the root so the gradient stays finite at 0. (B, d), (B, d) -> (B,)"""
    return torch.sqrt((ex - ey).pow(2).sum(-1) + 1e-12)


def contrastive_loss(
    ex: torch.Tensor, ey: torch.Tensor, adjacent: torch.Tensor, margin_pos: float, margin_neg: float
) -> torch.Tensor:
    """HRAC's Eq. 8: adjacent pairs pulled within margin_pos, others pushed beyond margin_neg.

    Shapes: ex, ey (B, d); adjacent (B,) float 1/0 -> scalar
    """
    dist = embedding_distance(ex, ey)
    pos = adjacent * (dist - margin_pos).clamp(min=0)
    neg = (1 - adjacent) * (margin_neg - dist).clamp(min=0)
    return pos.mean() + neg.mean()


def adjacency_penalty(
    net: nn.Module, achieved: torch.Tensor, targets: torch.Tensor, margin: float
) -> torch.Tensor:  # fmt: skip
    """HRAC's Eq. 9 per sample: max(||psi(achieved) - psi(target)|| - margin, 0). (B, G), (B, G) -> (B,)"""
    return (embedding_distance(net(achieved), net(targets)) - margin).clamp(min=0)


class AdjacencyGraph:
    """Explored cells of the goal space and which pairs are k-step adjacent.

    Args:
        goal_dim: G.
        cell_size: edge of a cell in goal units; a point x lies in cell floor(x / cell_size).
        max_cells: cells kept; cells first seen after that are ignored (the matrix is max_cells^2 bytes).

    `cells` (N, G) int64 holds the explored cells in the order they were first seen; `adjacent` (max_cells,
    max_cells) uint8 is 1 for adjacent pairs (and on the diagonal).
    """

    def __init__(self, goal_dim: int, cell_size: float, max_cells: int = 1500) -> None:
        self.goal_dim, self.cell_size, self.max_cells = goal_dim, float(cell_size), int(max_cells)
        self.cells = np.zeros((0, goal_dim), np.int64)
        self.adjacent = np.eye(self.max_cells, dtype=np.uint8)
        self._index: dict[tuple[int, ...], int] = {}

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def cell_of(self, points: np.ndarray) -> np.ndarray:
        """(T, G) points -> (T, G) int64 cells."""
        return np.floor(np.asarray(points, np.float64) / self.cell_size).astype(np.int64)

    def centres(self, cells: np.ndarray) -> np.ndarray:
        """(N, G) cells -> (N, G) float32 cell centres in goal units (what the network sees)."""
        return ((cells + 0.5) * self.cell_size).astype(np.float32)

    def add_trajectory(self, points: np.ndarray, k: int) -> None:
        """Mark cells adjacent where a trajectory of (T, G) goal-space points went from one to the other within
        1..k-1 steps (HRAC's window: j - i < k)."""
        ids = self.cell_ids(points)  # (T,)
        for offset in range(1, min(k, len(ids))):
            self.mark(ids[:-offset], ids[offset:])

    def cell_ids(self, points: np.ndarray) -> np.ndarray:
        """(T, G) points -> (T,) int64 ids of their cells, registering new cells (-1 for a new cell once full)."""
        return np.array([self._id(tuple(c)) for c in self.cell_of(points).tolist()], np.int64)

    def mark(self, a: np.ndarray, b: np.ndarray) -> None:
        """Mark the pairs of cell ids (a[i], b[i]) adjacent, both ways; ids < 0 are skipped."""
        keep = (a >= 0) & (b >= 0)
        self.adjacent[a[keep], b[keep]] = 1
        self.adjacent[b[keep], a[keep]] = 1

    def _id(self, cell: tuple[int, ...]) -> int:
        i = self._index.get(cell)
        if i is None:
            if self.n_cells >= self.max_cells:
                return -1
            i = self._index[cell] = self.n_cells
            self.cells = np.concatenate([self.cells, np.asarray(cell, np.int64)[None]])
        return i

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n pairs of distinct explored cells drawn uniformly: (centres (n, G), centres (n, G), adjacent (n,) float32).
        Needs at least 2 cells."""
        N = self.n_cells
        i = rng.integers(0, N, n)
        j = (i + rng.integers(1, N, n)) % N  # uniform over the other cells
        centres = self.centres(self.cells)
        return centres[i], centres[j], self.adjacent[i, j].astype(np.float32)

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"cells": self.cells, "adjacent": self.adjacent[: self.n_cells, : self.n_cells].copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        cells = np.asarray(state["cells"], np.int64).reshape(-1, self.goal_dim)
        n = len(cells)
        adjacent = np.asarray(state["adjacent"], np.uint8)
        if n > self.max_cells or adjacent.shape != (n, n):
            raise ValueError(f"saved adjacency graph of {n} cells does not fit max_cells = {self.max_cells}")
        self.cells = cells
        self._index = {tuple(c): i for i, c in enumerate(cells.tolist())}
        self.adjacent = np.eye(self.max_cells, dtype=np.uint8)
        self.adjacent[:n, :n] = adjacent
