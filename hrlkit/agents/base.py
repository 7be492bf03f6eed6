"""The agent contract every loop relies on: one transition type and the Protocols the loops are typed against.

An agent turns observations into env actions (`act`), takes in what the env answered (`observe`), learns (`update`),
answers users (`predict`), and round-trips its state through checkpoints. The off-policy loop
(`hrlkit.training.off_policy`) drives an `OffPolicyAgent`, the on-policy loop (`hrlkit.training.on_policy`) an
`OnPolicyAgent`; flat and hierarchical agents implement the same contract, so neither loop knows which it runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class Transition(NamedTuple):
    """One vector-env step as the loop hands it to `Agent.observe`.

    Shapes (n = parallel envs):
        obs, next_obs: (n, *obs_shape), or a dict of such arrays. `next_obs` is always the true last observation of
            a finished episode (the loops never auto-reset), never the first observation of the next one.
        actions: (n, *action_shape) in env units (what was sent to `env.step`), or (n,) int for Discrete actions.
        rewards: (n,) float.
        terminated, truncated: (n,) bool, as Gymnasium returns them: bootstrap with (1 - terminated); a truncated
            step still has a future.
        infos: the vector env's info dict (`infos[key][i]`, with the `_key` mask).
    """

    obs: Any
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: Any
    terminated: np.ndarray
    truncated: np.ndarray
    infos: dict[str, Any]


@runtime_checkable
class Agent(Protocol):
    """What both loops and `evaluate` use."""

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations (leading axis: envs), as the loop collects them."""
        ...

    def observe(self, transition: Transition) -> None:
        """Take in one vector-env step (store it, advance per-env state such as goals or options)."""
        ...

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """Stable-Baselines3's signature: one observation or a batch -> (actions, state for the next call)."""
        ...

    def state_tree(self) -> dict[str, Any]:
        """Weights, optimizer moments, generators and counters: everything but the stored experience."""
        ...

    def load_state_tree(self, tree: dict[str, Any]) -> None: ...

    def replay_state(self) -> dict[str, np.ndarray] | None:
        """The stored experience (replay buffer, or a half-collected rollout) as arrays; None when there is none."""
        ...

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None: ...


@runtime_checkable
class OffPolicyAgent(Agent, Protocol):
    """An agent learning from replay: warm-up actions before `learning_starts`, `gradient_steps` per update."""

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Uniform warm-up actions from the agent's own generator (so a resumed run draws the same ones)."""
        ...

    def update(self, gradient_steps: int) -> dict[str, float]:
        """Learn from replay; returns stats under their log keys (`train/critic_loss`, `low/train/...`)."""
        ...


@runtime_checkable
class OnPolicyAgent(Agent, Protocol):
    """An agent learning from its own recent experience: collects until `rollout_full`, then `update` consumes it."""

    @property
    def rollout_full(self) -> bool:
        """True when the experience collected since the last update is due to be learned from."""
        ...

    def update(self, progress_remaining: float) -> dict[str, float]:
        """Learn from the collected rollout and start a new one; `progress_remaining` = 1 - env steps / budget (for
        annealed learning rates). Returns stats under their log keys."""
        ...
