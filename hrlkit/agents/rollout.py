"""The agent of the on-policy learners (PPO, TRPO, NPG, VPG): a learner, its rollout buffer and the normalisers.

Collection (`act`, then `observe` for the same vector step):
* `act` normalises the observations (updating the running statistics, as Stable-Baselines3's VecNormalize does during
  training), draws actions, values and log-probs from the policy, and keeps them for `observe`. Box actions are drawn
  in the normalised space [-1, 1]^A, *unclipped*; they are clipped and scaled to the env's bounds only when handed to
  the env, so the stored log-probs stay those of the sample (Stable-Baselines3's convention).
* `observe` scales the rewards when configured, computes V of the true final observation of every env truncated at
  this step (GAE bootstraps a truncated episode from it, never from the next episode's reset observation), and writes
  the step to the rollout.
* When the rollout holds `n_steps` vector steps, the loop calls `update`: V of the last observation closes the
  rollout, `gae` computes advantages and returns, the learner learns from the whole rollout, and a new one starts.

Evaluation and `predict` normalise with the current statistics without updating them. The normalisers' statistics
and a half-collected rollout travel in checkpoints, so a resume continues exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.flat import _add_batch_axis, _is_single, learner_tree, load_learner_tree, obs_to_tensor
from hrlkit.buffers.normalize import ObsNormalizer, RewardNormalizer
from hrlkit.buffers.rollout import RolloutBuffer
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.on_policy import OnPolicyConfig
from hrlkit.types import RolloutBatch


class RolloutAgent:
    """Collects rollouts with an on-policy learner's policy and hands each full one to `learner.update`.

    Args:
        learner: a `Learner[RolloutBatch]` with an `ActorCritic` as `learner.policy` and `set_progress(remaining)`.
        config: the algorithm's config (`n_steps`, `gamma`, `gae_lambda`, normalisation fields).
        n_envs: parallel envs.
    """

    def __init__(self, learner: Learner[RolloutBatch], config: OnPolicyConfig, n_envs: int) -> None:
        for name in ("n_steps",):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HrlkitError(f"{name} = {value!r}: it must be an integer >= 1")
        if not 0.0 <= config.gamma <= 1.0 or not 0.0 <= config.gae_lambda <= 1.0:
            raise HrlkitError(f"gamma and gae_lambda must lie in [0, 1], got {config.gamma} and {config.gae_lambda}")
        self.learner, self.cfg, self.n_envs = learner, config, n_envs
        self.policy: Any = learner.policy
        self.device = learner.device
        self._on_cpu = torch.device(self.device).type == "cpu"  # tensors become arrays without a copy
        space = learner.action_space
        self.scaler = ActionScaler(space) if isinstance(space, gym.spaces.Box) else None
        if self.scaler is not None:
            self._action_span = self.scaler.high - self.scaler.low  # (A,) float64, what `to_env` computes per call
        self.action_start = int(space.start) if isinstance(space, gym.spaces.Discrete) else 0
        self.buffer = RolloutBuffer(config.n_steps, n_envs, learner.obs_space, space, device=learner.device)
        self.obs_norm = ObsNormalizer(learner.obs_space, config.obs_clip) if config.normalize_obs else None
        self.reward_norm = (
            RewardNormalizer(n_envs, config.gamma, config.reward_clip) if config.normalize_reward else None
        )
        self.env_steps = 0
        self._pending: tuple[Any, np.ndarray, np.ndarray, np.ndarray] | None = None  # what `act` drew for `observe`
        self._last_next_obs: Any = None  # the observation after the last observed step (bootstraps the rollout)

    # ----------------------------------------------------------------------------------------------------- acting
    def _normalise(self, obs: Any) -> Any:
        return obs if self.obs_norm is None else self.obs_norm.normalize(obs)

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        if self.scaler is None:
            return actions + self.action_start
        # `ActionScaler.to_env`, the same float ops in the same order (clip to [-1, 1] first), with the span computed
        # once and the clip as two ufuncs: np.clip's Python wrapper costs more than this arithmetic on one action.
        clipped = np.minimum(np.maximum(actions, -1.0), 1.0)  # (n, A) float32, as np.clip
        return (self.scaler.low + (clipped + 1.0) * 0.5 * self._action_span).astype(self.scaler.dtype)

    def _tensor(self, obs: Any) -> Any:
        # torch.from_numpy is `obs_to_tensor` for a numpy batch on the CPU (same dtype, shared memory), minus the
        # argument handling of torch.as_tensor.
        if self._on_cpu and type(obs) is np.ndarray:
            return torch.from_numpy(obs)
        return obs_to_tensor(obs, self.device)

    def _numpy(self, x: torch.Tensor) -> np.ndarray:
        return x.numpy() if self._on_cpu else x.cpu().numpy()

    # Collection runs the policy under `torch.inference_mode()`, not `no_grad()`: the results only go to numpy, and
    # inference mode also skips the version counters and view tracking, a third of a batch-1 forward pass's cost.
    @torch.inference_mode()
    def _values(self, obs: Any) -> np.ndarray:
        return self._numpy(self.policy.value(self._tensor(self._normalise(obs))))

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch; while collecting (`deterministic=False`) also updates the observation statistics
        and keeps the draw for the `observe` of this step."""
        if deterministic:
            return self._predict_batch(obs, True)
        if self.obs_norm is not None:
            self.obs_norm.update(obs)
        norm_obs = self._normalise(obs)
        with torch.inference_mode():
            actions, values, log_probs = self.policy(self._tensor(norm_obs))
        actions = self._numpy(actions)
        self._pending = (norm_obs, actions, self._numpy(values), self._numpy(log_probs))
        return self._to_env(actions)

    @torch.inference_mode()
    def _predict_batch(self, obs: Any, deterministic: bool) -> np.ndarray:
        actions, _, _ = self.policy(self._tensor(self._normalise(obs)), deterministic)
        return self._to_env(self._numpy(actions))

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """Stable-Baselines3's signature; normalises with the current statistics and never touches the rollout."""
        single = _is_single(obs, self.learner.obs_space)
        actions = self._predict_batch(_add_batch_axis(obs) if single else obs, deterministic)
        return (actions[0] if single else actions), None

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        if self._pending is None:
            raise HrlkitError("observe() without act(): the rollout needs the values and log-probs of the draw")
        norm_obs, actions, values, log_probs = self._pending
        self._pending = None
        _, _, rewards, next_obs, terminated, truncated, _ = transition
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        rewards = np.asarray(rewards, np.float32)
        if self.reward_norm is not None:
            rewards = self.reward_norm.update_and_scale(rewards, terminated | truncated)
        final_values = None
        if (truncated & ~terminated).any():
            final_values = self._values(next_obs)  # (n,) V of the true final observations (others are ignored)
        self.buffer.add(norm_obs, actions, rewards, values, log_probs, terminated, truncated, final_values)
        self._last_next_obs = next_obs
        self.env_steps += len(rewards)

    @property
    def rollout_full(self) -> bool:
        return self.buffer.full

    def update(self, progress_remaining: float = 1.0) -> dict[str, float]:
        """Close the rollout (bootstrap from the last observation), learn from it, start the next one."""
        self.buffer.finish(self._values(self._last_next_obs), self.cfg.gamma, self.cfg.gae_lambda)
        set_progress = getattr(self.learner, "set_progress", None)
        if set_progress is not None:
            set_progress(progress_remaining)
        stats = self.learner.update(self.buffer.get()).stats
        self.buffer.reset()
        return {f"train/{k}": v for k, v in stats.items()}

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        tree: dict[str, Any] = {**learner_tree(self.learner), "env_steps": self.env_steps}
        if self.obs_norm is not None:
            tree["obs_norm"] = self.obs_norm.state_dict()
        if self.reward_norm is not None:
            tree["reward_norm"] = self.reward_norm.state_dict()
        return tree

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        load_learner_tree(self.learner, tree)
        for name, norm in (("obs_norm", self.obs_norm), ("reward_norm", self.reward_norm)):
            if norm is None:
                continue
            if name not in tree:
                raise HrlkitError(
                    f"checkpoint has no {name} statistics: it was trained without {name.replace('_', ' ')}"
                )
            norm.load_state_dict(tree[name])
        self.env_steps = int(tree.get("env_steps", 0))

    def replay_state(self) -> dict[str, np.ndarray]:
        """The half-collected rollout (steps since the last update) and the observation after its last step."""
        state = dict(self.buffer.state_dict())
        if self._last_next_obs is not None:
            last = self._last_next_obs
            if isinstance(last, dict):
                state.update({f"last_next_obs.{k}": np.asarray(v) for k, v in last.items()})
            else:
                state["last_next_obs"] = np.asarray(last)
        return state

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        if "last_next_obs" in state:
            self._last_next_obs = state.pop("last_next_obs")
        keys = [k for k in state if k.startswith("last_next_obs.")]
        if keys:
            self._last_next_obs = {k.split(".", 1)[1]: state.pop(k) for k in keys}
        self.buffer.load_state_dict(state)
