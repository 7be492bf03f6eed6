"""The learner interface: batch in, stats out; never touches an env or a buffer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import gymnasium as gym
import torch
from torch import nn

from hrlkit.types import ReplayBatch, TensorObs, UpdateResult

BatchT = TypeVar("BatchT")
ActorPenalty = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(flat obs (B, D), the actor's actions (B, A), with gradient) -> (B,) a term added to the actor loss (mean)"""


class Learner(nn.Module, Generic[BatchT]):
    """Base of every learner, generic in the batch it learns from.

        Replay learners (SAC, TD3, DQN, ...) are `Learner[ReplayBatch]`; on-policy learners (PPO, TRPO, ...) are
        `Learner[RolloutBatch]` and receive a whole rollout; Option-Critic has its own batch type.

        `update(batch)` returns an `UpdateResult(stats, td_errors)`; it never hands results back through attributes.

    A learner owns its networks (as submodules, so `state_dict()` holds online and target weights) and its optimizers
        (`self.optimizers`, saved by the checkpoint code). Subclasses implement `act`, `update`, and expose their losses
        (`critic_loss`, `actor_loss`, `policy_loss`, ...) separately so tests can check them alone.

        Actions are in the learner's normalised space: [-1, 1]^A for Box action spaces. Agents scale them to env bounds.
    """

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.obs_space, self.action_space = obs_space, action_space
        self.device = torch.device(device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.n_updates = 0
        # Actor-critic learners (TD3, SAC) add its mean to their actor loss: how an agent constrains a level's actions
        # (HIRO's adjacency constraint on subgoals) without a subclass. None: no penalty.
        self.actor_penalty: ActorPenalty | None = None

    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def add_actor_penalty(
        self, loss: torch.Tensor, stats: dict[str, float], obs: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """`loss` plus the mean of `actor_penalty(obs, actions)` when one is set (logged as `actor_penalty`)."""
        if self.actor_penalty is None:
            return loss
        penalty = self.actor_penalty(obs, actions).mean()
        stats["actor_penalty"] = penalty.item()
        return loss + penalty

    def update(self, batch: BatchT) -> UpdateResult:
        """One update from `batch`: its stats and, for learners with a critic, the per-sample |TD errors| (the new
        priorities under prioritized replay), measured before the step."""
        raise NotImplementedError

    # Counters that are not tensors travel in the checkpoint's JSON metadata.
    def extra_state(self) -> dict[str, Any]:
        return {"n_updates": self.n_updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.n_updates = int(state["n_updates"])


ReplayLearner = Learner[ReplayBatch]
