"""Proximal Policy Optimization with the clipped surrogate objective.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), Eq. 7 and Eq. 9:

    r(theta)  = pi(a|s) / pi_old(a|s) = exp(log pi(a|s) - log pi_old(a|s))
    L^CLIP    = mean min(r A, clip(r, 1 - eps, 1 + eps) A)                         eps = clip_range
    loss      = -L^CLIP + vf_coef mean (V(s) - R)^2 - ent_coef mean H[pi(.|s)]

minimised by Adam over `n_epochs` passes of shuffled minibatches of the rollout, as in Stable-Baselines3 (SB3) and
CleanRL. Log keys follow SB3's `train/*` names without the prefix.

Non-obvious details:
* Advantages are standardised per minibatch (SB3, CleanRL), not over the rollout; a minibatch of one is left as is.
* With `clip_range_vf`, the value prediction is clipped around the collecting policy's value,
  V_clip = V_old + clip(V - V_old, -clip_range_vf, clip_range_vf), and the loss is mean (V_clip - R)^2 (SB3).
* approx_kl = mean((r - 1) - log r), an unbiased, non-negative estimator of KL(pi_old || pi) (J. Schulman, "Approximating
  KL divergence", 2020). With `target_kl`, an epoch stops *before* the step of the first minibatch whose approx_kl
  exceeds 1.5 target_kl, and no further epoch runs (SB3).
* The gradient is clipped to the global norm `max_grad_norm` (0.5) before each step.

Deviation: the value loss is SB3's mean squared error of the clipped prediction; OpenAI Baselines' ppo2 and CleanRL
    use 0.5 max((V - R)^2, (V_clip - R)^2). With vf_coef 0.5 the unclipped case matches SB3 exactly.
Deviation: Adam's epsilon is 1e-5 (`adam_eps`), as in OpenAI Baselines and CleanRL; SB3 keeps PyTorch's 1e-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch

from hrlkit.learners.base import Learner
from hrlkit.learners.on_policy import (
    OnPolicyConfig,
    clip_box_actions,
    clip_grad_norm,
    explained_variance,
    make_adam_eps,
    make_policy,
    normalize,
    policy_std,
    set_learning_rate,
    shuffled_minibatches,
    zero_grad,
)
from hrlkit.types import RolloutBatch, TensorObs, UpdateResult


@dataclass
class PPOConfig(OnPolicyConfig):
    """PPO-Clip (Schulman et al. 2017); defaults are Stable-Baselines3's, except Adam's epsilon (see adam_eps)."""

    learning_rate: float = 3e-4
    """learning rate (Adam), for the policy and the value network together"""
    batch_size: int = 64
    """minibatch size; the rollout of n_steps x n_envs transitions is split into minibatches each epoch"""
    n_epochs: int = 10
    """passes over the rollout per update"""
    clip_range: float = 0.2
    """clip the probability ratio to [1 - clip_range, 1 + clip_range] (epsilon in the paper)"""
    clip_range_vf: float | None = None
    """clip the value prediction to within clip_range_vf of the collecting policy's value; None: no value clipping
    (depends on the reward scale)"""
    ent_coef: float = 0.0
    """entropy bonus coefficient in the loss"""
    vf_coef: float = 0.5
    """value loss coefficient in the loss"""
    max_grad_norm: float = 0.5
    """clip gradients to this global norm (0: no clipping)"""
    target_kl: float | None = None
    """stop the update early when the approximate KL of a minibatch exceeds 1.5 x target_kl; None: never"""
    adam_eps: float = 1e-5
    """Adam epsilon: 1e-5 as in OpenAI Baselines and CleanRL (SB3 uses PyTorch's 1e-8)"""


def clipped_surrogate_loss(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-L^CLIP (arXiv:1707.06347, Eq. 7), with the clip fraction and approx_kl as detached diagnostics.

    Shapes:
        log_probs, old_log_probs, advantages: (B,) -> loss (), clip_fraction (), approx_kl ()
    """
    log_ratio = log_probs - old_log_probs  # (B,)
    ratio = log_ratio.exp()  # (B,)
    # The min makes the objective a pessimistic bound: moving r past 1 +- eps in the direction that helps earns
    # nothing, moving it in the direction that hurts is fully charged.
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages)  # (B,)
    with torch.no_grad():
        ratio_change = ratio - 1.0  # (B,)
        clip_fraction = (ratio_change.abs() > clip_range).float().mean()
        approx_kl = (ratio_change - log_ratio).mean()
    return -surrogate.mean(), clip_fraction, approx_kl


def ppo_terms(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    value_loss: torch.Tensor,
    cfg: Any,
    ent_coef: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's loss from its parts, -L^CLIP - ent_coef H + vf_coef value_loss, and the parts (detached) under SB3's names,
    for PPO and the option learners on it (`cfg`: their config, with normalize_advantage, clip_range, ent_coef and
    vf_coef). Advantages are standardised here when `cfg.normalize_advantage`; `ent_coef` None: `cfg.ent_coef`.

    Shapes:
        log_probs, old_log_probs, advantages: (B,); entropy, value_loss: () -> loss (), info
    """
    if cfg.normalize_advantage:
        advantages = normalize(advantages)
    policy_loss, clip_fraction, approx_kl = clipped_surrogate_loss(log_probs, old_log_probs, advantages, cfg.clip_range)
    entropy_loss = -entropy
    loss = policy_loss + (cfg.ent_coef if ent_coef is None else ent_coef) * entropy_loss + cfg.vf_coef * value_loss
    info = {
        "policy_gradient_loss": policy_loss.detach(),
        "value_loss": value_loss.detach(),
        "entropy_loss": entropy_loss.detach(),
        "approx_kl": approx_kl,
        "clip_fraction": clip_fraction,
    }
    return loss, info


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float | None
) -> torch.Tensor:
    """mean (V_pred - R)^2 with V_pred = V_old + clip(V - V_old, -c, c) when clip_range_vf = c is set (SB3).

    Shapes:
        values, old_values, returns: (B,) -> ()
    """
    if clip_range_vf is not None:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)  # (B,)
    return (values - returns).pow(2).mean()


class PPOLearner(Learner[RolloutBatch]):
    """PPO-Clip over Box or Discrete actions; see the module docstring for the loss.

    The agent calls `set_progress(1 - env_steps / total_env_steps)` before each `update` (learning-rate annealing when
    `anneal_lr`), and `update` with the whole rollout. `n_updates` counts gradient steps.

    Shapes:
        act: obs (B, ...) -> actions (B, A) in [-1, 1], or (B,) int64
        update: a RolloutBatch of N = n_steps x n_envs rows
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: PPOConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        self.config = cfg = config
        self.policy = make_policy(obs_space, action_space, cfg)
        self.to(self.device)
        self.optimizers = {"policy": make_adam_eps(self.policy.parameters(), cfg.learning_rate, cfg.adam_eps)}
        self.learning_rate = cfg.learning_rate

    def set_progress(self, remaining: float) -> None:
        """With `anneal_lr`, learning rate = learning_rate x remaining (remaining: 1 at the start, 0 at the end)."""
        if self.config.anneal_lr:
            self.learning_rate = self.config.learning_rate * remaining
            set_learning_rate(self.optimizers["policy"], self.learning_rate)

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        return clip_box_actions(self.policy, obs, deterministic)

    # ------------------------------------------------------------------------------------------------------ losses
    def minibatch_loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The PPO loss of one minibatch, and its parts (detached) under SB3's names."""
        cfg = self.config
        # With ent_coef 0 the entropy is a diagnostic only: its backward would add zeros to the policy's gradients.
        values, log_probs, entropy = self.policy.evaluate_actions(
            batch.obs, batch.actions, entropy_grad=cfg.ent_coef != 0.0
        )  # (B,) each
        value_loss = clipped_value_loss(values, batch.values, batch.returns, cfg.clip_range_vf)
        loss, info = ppo_terms(log_probs, batch.log_probs, batch.advantages, entropy.mean(), value_loss, cfg)
        info["loss"] = loss.detach()
        return loss, info

    # ------------------------------------------------------------------------------------------------------ update
    def update(self, batch: RolloutBatch) -> UpdateResult:
        cfg = self.config
        params = list(self.policy.parameters())
        optimizer = self.optimizers["policy"]
        history: dict[str, list[torch.Tensor]] = {}
        epochs_run = 0
        stop = False
        # Stats stay tensors until the end (one conversion per key per update, not one per minibatch); the KL check of
        # target_kl is the only per-minibatch `.item()`.
        for _ in range(cfg.n_epochs):
            for minibatch in shuffled_minibatches(batch, cfg.batch_size, self.device):
                loss, info = self.minibatch_loss(minibatch)
                for key, value in info.items():
                    history.setdefault(key, []).append(value)
                # Early stop before stepping on the minibatch that crossed the KL threshold (SB3).
                if cfg.target_kl is not None and info["approx_kl"].item() > 1.5 * cfg.target_kl:
                    stop = True
                    break
                zero_grad(params)
                loss.backward()
                if cfg.max_grad_norm > 0:
                    clip_grad_norm(params, cfg.max_grad_norm)
                optimizer.step()
                self.n_updates += 1
            if stop:
                break
            epochs_run += 1

        stats = {key: torch.stack(values).mean().item() for key, values in history.items()}
        stats["loss"] = history["loss"][-1].item()  # SB3 logs the last minibatch's loss, not the mean
        stats.update(
            explained_variance=explained_variance(batch.values, batch.returns),
            learning_rate=self.learning_rate,
            clip_range=cfg.clip_range,
            epochs_completed=float(epochs_run),
            **policy_std(self.policy),
        )
        if cfg.clip_range_vf is not None:
            stats["clip_range_vf"] = cfg.clip_range_vf
        return UpdateResult(stats)
