"""Vanilla Policy Gradient (REINFORCE with a learned baseline and GAE advantages), as in OpenAI Spinning Up.

Williams 1992, "Simple statistical gradient-following algorithms for connectionist reinforcement learning"; the
baseline and GAE of Schulman et al. 2016 (arXiv:1506.02438); the recipe of Spinning Up's `vpg` (Achiam 2018):

    grad J(theta) = E[ grad log pi(a|s) A(s, a) ]       ->   loss_pi = -mean log pi(a|s) A~,  A~ = standardised A
    loss_V        = mean (V(s) - R)^2

One Adam step on loss_pi per rollout (pi_lr), then `value_epochs` Adam passes on loss_V (vf_lr).

Non-obvious details:
* Advantages are standardised over the whole rollout (Spinning Up's buffer does it), not per minibatch: there is only
  one policy step.
* The policy step comes first, then the value fit, so the advantages of this rollout were computed with the value
  function the rollout was collected with.
* approx_kl is measured after the step, mean((r - 1) - log r) (SB3's estimator); Spinning Up reports mean(-log r)
  computed inside the loss, i.e. before its own step.

Deviation: Spinning Up fits the value function with 80 full-batch steps; `value_batch_size` None does exactly that,
    and a number instead makes each of the `value_epochs` passes a sweep over shuffled minibatches of that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch

from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam
from hrlkit.learners.on_policy import (
    OnPolicyConfig,
    clip_box_actions,
    explained_variance,
    fit_value_function,
    make_policy,
    normalize,
    policy_std,
    set_learning_rate,
)
from hrlkit.types import RolloutBatch, TensorObs, UpdateResult


@dataclass
class VPGConfig(OnPolicyConfig):
    """Vanilla policy gradient with GAE (Spinning Up's VPG defaults)."""

    n_steps: int = 4000
    """vector steps per env per rollout: a rollout holds n_steps x n_envs transitions (Spinning Up: 4000 per epoch)"""
    gae_lambda: float = 0.97
    """GAE lambda: 0 gives one-step TD advantages, 1 Monte-Carlo returns minus V"""
    pi_lr: float = 3e-4
    """policy learning rate (Adam, one step per rollout)"""
    vf_lr: float = 1e-3
    """value-function learning rate (Adam)"""
    value_epochs: int = 80
    """value-function passes over the rollout per update (Spinning Up's train_v_iters)"""
    value_batch_size: int | None = None
    """value minibatch size; None: each pass is one full-batch step (Spinning Up)"""


class VPGLearner(Learner[RolloutBatch]):
    """VPG over Box or Discrete actions; see the module docstring for the losses.

    The agent calls `set_progress(1 - env_steps / total_env_steps)` before each `update` (annealing both learning rates
    when `anneal_lr`), and `update` with the whole rollout. `n_updates` counts policy steps (one per update).

    Shapes:
        act: obs (B, ...) -> actions (B, A) in [-1, 1], or (B,) int64
        update: a RolloutBatch of N = n_steps x n_envs rows
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: VPGConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        self.config = cfg = config
        self.policy = make_policy(obs_space, action_space, cfg)
        self.to(self.device)
        self._pi_params = self.policy.policy_parameters()
        self.optimizers = {
            "policy": make_adam(self._pi_params, cfg.pi_lr),
            "value": make_adam(self.policy.value_parameters(), cfg.vf_lr),
        }
        self.learning_rate = cfg.pi_lr

    def set_progress(self, remaining: float) -> None:
        """With `anneal_lr`, both learning rates are scaled by remaining (1 at the start, 0 at the end)."""
        if self.config.anneal_lr:
            self.learning_rate = self.config.pi_lr * remaining
            set_learning_rate(self.optimizers["policy"], self.learning_rate)
            set_learning_rate(self.optimizers["value"], self.config.vf_lr * remaining)

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        return clip_box_actions(self.policy, obs, deterministic)

    def policy_loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """-mean log pi(a|s) A~ over the rollout, with the log-probs (detached) and the entropy loss as info."""
        params = self.policy.pi_params(batch.obs)
        log_probs = self.policy.log_prob(params, batch.actions)  # (N,)
        advantages = normalize(batch.advantages) if self.config.normalize_advantage else batch.advantages
        loss = -(log_probs * advantages).mean()
        return loss, {"log_probs": log_probs.detach(), "entropy_loss": -self.policy.entropy(params).mean().detach()}

    def update(self, batch: RolloutBatch) -> UpdateResult:
        cfg = self.config
        loss, info = self.policy_loss(batch)
        self.optimizers["policy"].zero_grad()
        loss.backward(inputs=self._pi_params)
        self.optimizers["policy"].step()
        self.n_updates += 1
        with torch.no_grad():
            log_ratio = self.policy.log_prob(self.policy.pi_params(batch.obs), batch.actions) - info["log_probs"]
            approx_kl = ((log_ratio.exp() - 1.0) - log_ratio).mean()
        value_loss = fit_value_function(
            self.policy, self.optimizers["value"], batch, cfg.value_epochs, cfg.value_batch_size
        )
        return UpdateResult(
            {
                "policy_gradient_loss": loss.item(),
                "value_loss": value_loss,
                "entropy_loss": info["entropy_loss"].item(),
                "approx_kl": approx_kl.item(),
                "explained_variance": explained_variance(batch.values, batch.returns),
                "learning_rate": self.learning_rate,
                **policy_std(self.policy),
            }
        )
