"""The one-level agent: a learner, a replay buffer and the action scaling between them and the env.

Flat and hierarchical runs share the loop (`hrlkit.training.off_policy`) and everything below the agent; this class
is the agent a flat SAC/TD3/DDPG run plugs in. Hierarchical agents implement the same methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.exploration import epsilon_greedy
from hrlkit.agents.pipeline import Transform, UpdatePipeline
from hrlkit.buffers import ObsNormalizer, ReplayBuffer
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.training.serialization import check_tensors_fit, load_optimizer_state
from hrlkit.types import ReplayBatch, TensorObs


def obs_to_tensor(obs: np.ndarray | dict[str, np.ndarray], device: torch.device) -> TensorObs:
    if isinstance(obs, dict):
        return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
    return torch.as_tensor(obs, device=device)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def learner_tree(learner: Learner) -> dict[str, Any]:
    """A one-learner agent's share of a checkpoint: weights (online and target), optimizer moments, counters."""
    return {
        "learner": learner.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in learner.optimizers.items()},
        "learner_extra": learner.extra_state(),
    }


def load_learner_tree(learner: Learner, tree: dict[str, Any]) -> None:
    """The inverse of `learner_tree`; weights or moments of another shape end in one line, not a traceback."""
    try:
        check_tensors_fit(tree["learner"], learner.state_dict(), "weights")
        learner.load_state_dict(tree["learner"])
        for k, o in learner.optimizers.items():
            load_optimizer_state(o, tree["optimizers"][k])
    except (RuntimeError, KeyError, ValueError) as e:
        raise HrlkitError(
            f"checkpoint weights do not fit this model ({str(e).splitlines()[0][:160]}): "
            "load it with the algorithm, network sizes and env it was trained with"
        ) from None
    learner.load_extra_state(tree["learner_extra"])


class NormalizeObs:
    """The batch transform that feeds the learner normalised observations (`ObsNormalizer`'s map, in torch).

    The replay buffer keeps raw observations: HER reads raw goals, and the statistics keep moving, so each batch is
    normalised with the statistics of the moment, obs and next_obs alike, after any relabelling (as the HER paper's
    DDPG normalises o and g at sampling time). Acting goes through `apply` too, so the policy sees the same map.
    """

    def __init__(self, normalizer: ObsNormalizer) -> None:
        self.normalizer = normalizer

    def __call__(self, batch: ReplayBatch) -> tuple[ReplayBatch, dict[str, float]]:
        return batch._replace(obs=self.apply(batch.obs), next_obs=self.apply(batch.next_obs)), {}

    def apply(self, obs: TensorObs) -> TensorObs:
        if not isinstance(obs, dict):
            return self._map(obs, "")
        keys = set(self.normalizer.keys)
        return {k: self._map(v, k) if k in keys else v for k, v in obs.items()}

    def _map(self, x: torch.Tensor, key: str) -> torch.Tensor:
        mean, divisor = (torch.as_tensor(a, dtype=torch.float32, device=x.device) for a in self.normalizer.moments(key))
        clip = self.normalizer.clip
        return ((x.float() - mean) / divisor).clamp(-clip, clip)


class FlatAgent:
    """Collects with `learner.act`, stores normalised actions, updates from replay (uniform or prioritized).

    Args:
        learner: any `Learner` over the env's spaces.
        buffer: replay storage with the env's observation space and one slot per parallel env. With a prioritized
            sampler, each update writes the learner's per-sample TD errors back as new priorities.
        batch_size: transitions per gradient step.
        seed: seeds the agent's numpy generator (replay sampling, warm-up actions, epsilon-greedy draws).
        exploration: for discrete actions, epsilon as a function of env steps observed (epsilon-greedy around the
            learner's greedy actions); None: the learner explores by itself (SAC, TD3).
        transforms: batch transforms between sampling and the update (HER), see `hrlkit.agents.pipeline`.
        obs_norm: running observation statistics, updated with every observed step; the learner then sees
            normalised observations when acting and in every batch (after `transforms`), the buffer raw ones.
    """

    def __init__(
        self,
        learner: Learner,
        buffer: ReplayBuffer,
        batch_size: int,
        seed: int,
        exploration: Callable[[int], float] | None = None,
        transforms: Sequence[Transform[ReplayBatch]] = (),
        obs_norm: ObsNormalizer | None = None,
    ) -> None:
        self.learner, self.buffer, self.batch_size = learner, buffer, batch_size
        self.transforms = list(transforms)
        self.obs_norm = obs_norm
        self.normalize = NormalizeObs(obs_norm) if obs_norm is not None else None
        last = [self.normalize] if self.normalize is not None else []
        self.pipeline = UpdatePipeline(buffer, learner, batch_size, [*self.transforms, *last])
        self.device = learner.device
        space = learner.action_space
        self.scaler = ActionScaler(space) if isinstance(space, gym.spaces.Box) else None
        # Discrete(n, start=s): learners index actions 0..n-1, the env takes s..s+n-1
        self.action_start = int(space.start) if isinstance(space, gym.spaces.Discrete) else 0
        self.rng = np.random.default_rng(seed)
        self.exploration = exploration
        self.env_steps = 0  # transitions observed (the clock of the exploration schedule)

    # ----------------------------------------------------------------------------------------------------- acting
    def act(self, obs: np.ndarray | dict[str, np.ndarray], deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations (leading axis: envs)."""
        tensors = obs_to_tensor(obs, self.device)
        if self.normalize is not None:
            tensors = self.normalize.apply(tensors)
        actions = self.learner.act(tensors, deterministic).cpu().numpy()
        if self.exploration is not None and not deterministic:
            actions = epsilon_greedy(actions, self.exploration(self.env_steps), self.learner.action_space.n, self.rng)
        return self.scaler.to_env(actions) if self.scaler is not None else actions + self.action_start

    @property
    def epsilon(self) -> float | None:
        """The current epsilon of epsilon-greedy exploration (None without it)."""
        return None if self.exploration is None else self.exploration(self.env_steps)

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Uniform warm-up actions, drawn from the agent's own generator so a resumed run draws the same ones."""
        if self.scaler is not None:
            return self.scaler.to_env(self.rng.uniform(-1.0, 1.0, (n_envs, *self.learner.action_space.shape)))
        return self.rng.integers(0, self.learner.action_space.n, size=n_envs) + self.action_start

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """Stable-Baselines3's signature: one observation or a batch -> (actions, state). Flat agents keep no state."""
        space = self.learner.obs_space
        single = _is_single(obs, space)
        batch = _add_batch_axis(obs) if single else obs
        actions = self.act(batch, deterministic)
        return (actions[0] if single else actions), None

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        obs, env_actions, rewards, next_obs, terminated, truncated, infos = transition
        if self.scaler is not None:
            actions = self.scaler.to_normalised(env_actions)
        else:
            actions = np.asarray(env_actions) - self.action_start
        self.buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
        if self.obs_norm is not None:
            self.obs_norm.update(obs)
        self.env_steps += len(rewards)

    def update(self, gradient_steps: int) -> dict[str, float]:
        """`gradient_steps` steps of the update pipeline (sample, transforms, update, priorities); each stat is its mean
        over those steps (the loop then averages over the updates between log dumps)."""
        out = self.pipeline.run(gradient_steps, self.rng)
        if self.exploration is not None:
            out["rollout/exploration_rate"] = self.exploration(self.env_steps)
        if self.buffer.sampler is not None:
            out["train/is_weight_exponent"] = self.buffer.sampler.is_weight_exponent
        return out

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        tree = {
            **learner_tree(self.learner),
            "rng": rng_state(self.rng),
            "env_steps": self.env_steps,
            "transforms": [t.state_dict() for t in self.transforms if hasattr(t, "state_dict")],
        }
        if self.obs_norm is not None:
            tree["obs_norm"] = self.obs_norm.state_dict()
        return tree

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        if (self.obs_norm is None) != ("obs_norm" not in tree):
            said = "with" if "obs_norm" in tree else "without"
            raise HrlkitError(
                f"the checkpoint was trained {said} observation normalisation: load, resume or start from it with "
                f"--normalize-obs {str('obs_norm' in tree).lower()}"
            )
        if self.obs_norm is not None:
            self.obs_norm.load_state_dict(tree["obs_norm"])
        load_learner_tree(self.learner, tree)
        set_rng_state(self.rng, tree["rng"])
        self.env_steps = int(tree.get("env_steps", 0))
        stateful = [t for t in self.transforms if hasattr(t, "load_state_dict")]
        saved = tree.get("transforms", [])
        if len(saved) != len(stateful):
            raise HrlkitError(
                f"checkpoint holds the state of {len(saved)} batch transforms, this model has {len(stateful)}: resume "
                "with the replay settings it was trained with (--her)"
            )
        for t, state in zip(stateful, saved, strict=True):
            t.load_state_dict(state)

    def replay_state(self) -> dict[str, np.ndarray]:
        return self.buffer.state_dict()

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        self.buffer.load_state_dict(state)


def _is_single(obs: Any, space: gym.Space) -> bool:
    if isinstance(space, gym.spaces.Dict):
        key = next(iter(space.spaces))
        return np.asarray(obs[key]).shape == space.spaces[key].shape
    shape = np.asarray(obs).shape
    if shape == space.shape:
        return True
    if shape[1:] == space.shape:
        return False
    raise HrlkitError(f"observation of shape {shape} does not fit the observation space {space}")


def _add_batch_axis(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: np.asarray(v)[None] for k, v in obs.items()}
    return np.asarray(obs)[None]
