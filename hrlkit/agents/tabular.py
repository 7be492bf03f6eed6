"""The agent of online tabular methods: learns from each vector step once, right after it, in the on-policy loop.

Tabular Q-learning (`hrlkit.learners.qlearning`) never replays: its "rollout" is the one vector step just taken.
`observe` keeps that step (all envs) and `rollout_full` is then true, so the on-policy loop (`hrlkit.training.on_policy`)
calls `update` right away, which hands the step to the learner and forgets it. Nothing is stored between steps, so a
checkpoint holds only the table, the generator and the step counter, and a resume is exact.

Exploration is epsilon-greedy around the learner's greedy actions, with epsilon on a linear schedule over env steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.exploration import epsilon_greedy
from hrlkit.agents.flat import (
    _add_batch_axis,
    _is_single,
    learner_tree,
    load_learner_tree,
    obs_to_tensor,
    rng_state,
    set_rng_state,
)
from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.types import ReplayBatch


class TabularAgent:
    """Epsilon-greedy acting around an online learner that learns from each vector step once.

    Args:
        learner: an online learner over Discrete actions (`QLearningLearner`): `update(ReplayBatch)` applies one
            batch of transitions (one per env) once.
        seed: seeds the agent's generator (epsilon-greedy draws).
        exploration: epsilon as a function of env steps observed (`epsilon_schedule`).
    """

    def __init__(self, learner: Learner, seed: int, exploration: Callable[[int], float]) -> None:
        self.learner, self.exploration = learner, exploration
        self.device = learner.device
        self.rng = np.random.default_rng(seed)
        self.env_steps = 0  # transitions observed (the clock of the exploration schedule)
        self._step: ReplayBatch | None = None  # the vector step observed and not yet learned from

    # ----------------------------------------------------------------------------------------------------- acting
    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        actions = self.learner.act(obs_to_tensor(obs, self.device), deterministic).cpu().numpy()
        if not deterministic:
            actions = epsilon_greedy(actions, self.exploration(self.env_steps), self.learner.action_space.n, self.rng)
        return actions + int(self.learner.action_space.start)

    @property
    def epsilon(self) -> float:
        return self.exploration(self.env_steps)

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        single = _is_single(obs, self.learner.obs_space)
        actions = self.act(_add_batch_axis(obs) if single else obs, deterministic)
        return (actions[0] if single else actions), None

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        obs, actions, rewards, next_obs, terminated, _, _ = transition
        n = len(rewards)
        as_t = lambda x, dtype=None: torch.as_tensor(np.asarray(x), dtype=dtype)  # noqa: E731
        self._step = ReplayBatch(
            obs=as_t(obs),
            actions=as_t(np.asarray(actions).reshape(n) - int(self.learner.action_space.start), torch.int64),
            rewards=as_t(rewards, torch.float32),
            next_obs=as_t(next_obs),
            terminated=as_t(terminated, torch.float32),
            weights=torch.ones(n),
            indices=torch.arange(n),
        )
        self.env_steps += n

    @property
    def rollout_full(self) -> bool:
        return self._step is not None

    def update(self, progress_remaining: float = 1.0) -> dict[str, float]:
        """Learn from the vector step just observed (one transition per env), once."""
        if self._step is None:
            raise HrlkitError("update() before observe(): an online learner learns from the step it just observed")
        batch, self._step = self._step, None
        out = {f"train/{k}": v for k, v in self.learner.update(batch).stats.items()}
        out["rollout/exploration_rate"] = self.exploration(self.env_steps)
        return out

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        return {**learner_tree(self.learner), "rng": rng_state(self.rng), "env_steps": self.env_steps}

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        load_learner_tree(self.learner, tree)
        set_rng_state(self.rng, tree["rng"])
        self.env_steps = int(tree.get("env_steps", 0))

    def replay_state(self) -> None:
        return None  # checkpoints fall between steps, when nothing is waiting to be learned from

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        pass
