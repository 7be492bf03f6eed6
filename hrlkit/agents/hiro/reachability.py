"""HIRO's reachable subgoals: HRAC's adjacency constraint (`hrlkit.goals.adjacency`) wired into the agent.

Per env step: the goal-space point each env reached joins its sliding window of the last k - 1 cells, and every cell in
the window is marked adjacent to the new one (the same pairs HRAC collects from whole trajectories, without keeping
trajectories: the window is a (n_envs, k - 1) array of cell ids, saved in checkpoints). Every `train_freq` env steps
the adjacency network is trained `epochs` times over the explored pairs (up to `MAX_PAIRS_PER_EPOCH` pairs an epoch,
drawn uniformly), and from its first round on the high learner's actor loss carries the penalty

    penalty_coef * max(||psi(s[goal dims]) - psi(s[goal dims] + g)|| - (margin_pos + margin_neg) / 2, 0)

through the learner's `actor_penalty` hook, g being the actor's goal in goal units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hrlkit.envs.spaces import ActionScaler
from hrlkit.goals.adjacency import AdjacencyGraph, AdjacencyNetwork, adjacency_penalty, contrastive_loss
from hrlkit.learners.common import make_adam
from hrlkit.training.serialization import check_tensors_fit, load_optimizer_state

MAX_PAIRS_PER_EPOCH = 20_000


class AdjacencyConstraint:
    """The graph, the network and its training schedule; `penalty` is the high learner's `actor_penalty`.

    Args:
        cfg: `AdjacencyConfig`.
        goal_idx: the state dims goals live in (indices into the high level's flat input, whose first S dims are the
            state).
        k: the adjacency window in env steps (HIRO's c).
        goal_scaler: maps the high learner's normalised actions to goal units.
        n_envs: envs whose windows are kept.
        seed: seeds the network's initial weights and the pair draws.
    """

    def __init__(
        self, cfg: Any, goal_idx: np.ndarray, k: int, goal_scaler: ActionScaler, n_envs: int, seed: int,
        device: torch.device,
    ) -> None:  # fmt: skip
        self.cfg, self.k, self.device = cfg, int(k), device
        self.goal_idx = torch.as_tensor(goal_idx, device=device)
        G = len(goal_idx)
        self.graph = AdjacencyGraph(G, cfg.cell_size, cfg.max_cells)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = AdjacencyNetwork(G, cfg.hidden, cfg.embedding).to(device)
        self.optimizer = make_adam(self.net.parameters(), cfg.lr)
        self.rng = np.random.default_rng(seed)
        self.window = np.full((n_envs, max(1, self.k - 1)), -2, np.int64)  # last k - 1 cell ids per env; -2: none
        self.rounds = 0  # training rounds done; the penalty is on from the first
        self.last_train = 0  # env steps at the last round
        self._low = torch.as_tensor(goal_scaler.low, dtype=torch.float32, device=device)
        self._high = torch.as_tensor(goal_scaler.high, dtype=torch.float32, device=device)
        self.margin = 0.5 * (cfg.margin_pos + cfg.margin_neg)

    # ---------------------------------------------------------------------------------------------- the graph
    def observe(self, points: np.ndarray, next_points: np.ndarray, done: np.ndarray) -> None:
        """One env step of every env: (n, G) goal-space points before and after, (n,) episode ended."""
        start = self.window[:, -1] == -2  # envs at an episode's first step: their first point opens the window
        if start.any():
            self.window[start, -1] = self.graph.cell_ids(points[start])
        new = self.graph.cell_ids(next_points)  # (n,)
        n, w = self.window.shape
        known = self.window >= 0  # (n, w)
        rows = np.repeat(np.arange(n), w)[known.reshape(-1)]
        self.graph.mark(self.window.reshape(-1)[known.reshape(-1)], new[rows])
        self.window = np.concatenate([self.window[:, 1:], new[:, None]], axis=1)
        self.window[done] = -2

    # ------------------------------------------------------------------------------------------------ training
    def maybe_train(self, env_steps: int) -> dict[str, float]:
        """A training round when `train_freq` env steps have passed since the last one (and two cells are known)."""
        if env_steps - self.last_train < self.cfg.train_freq or self.graph.n_cells < 2:
            return {}
        self.last_train = env_steps
        N = self.graph.n_cells
        pairs = min(N * (N - 1) // 2, MAX_PAIRS_PER_EPOCH)
        steps = self.cfg.epochs * max(1, -(-pairs // self.cfg.batch_size))
        losses = []
        for _ in range(steps):
            x, y, adjacent = (torch.as_tensor(a, device=self.device) for a in self.graph.sample_pairs(
                self.cfg.batch_size, self.rng
            ))  # fmt: skip
            loss = contrastive_loss(self.net(x), self.net(y), adjacent, self.cfg.margin_pos, self.cfg.margin_neg)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        self.rounds += 1
        share = float(self.graph.adjacent[:N, :N].mean())
        return {"hiro/adjacency_loss": float(np.mean(losses[-max(1, steps // self.cfg.epochs) :])),
                "hiro/adjacency_cells": float(N), "hiro/adjacency_share": share}  # fmt: skip

    def penalty(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The high learner's `actor_penalty`: (B, S + D) flat high-level inputs, (B, G) normalised goals -> (B,)."""
        if self.rounds == 0:
            return torch.zeros(len(obs), device=obs.device)
        achieved = obs.index_select(1, self.goal_idx)  # (B, G)
        goals = self._low + (actions + 1.0) * 0.5 * (self._high - self._low)  # (B, G) in goal units
        self.net.requires_grad_(False)  # the actor's loss moves the actor, not psi
        try:
            return self.cfg.penalty_coef * adjacency_penalty(self.net, achieved, achieved + goals, self.margin)
        finally:
            self.net.requires_grad_(True)

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "graph": self.graph.state_dict(),
            "window": self.window, "counters": [self.rounds, self.last_train], "rng": self.rng.bit_generator.state,
        }  # fmt: skip

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        check_tensors_fit(tree["net"], self.net.state_dict(), "adjacency weights")
        self.net.load_state_dict(tree["net"])
        load_optimizer_state(self.optimizer, tree["optimizer"])
        self.graph.load_state_dict(tree["graph"])
        self.window[...] = tree["window"]
        self.rounds, self.last_train = (int(x) for x in tree["counters"])
        self.rng.bit_generator.state = tree["rng"]
