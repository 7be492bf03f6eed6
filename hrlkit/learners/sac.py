"""Soft Actor-Critic with automatic entropy tuning.

Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications" (arXiv:1812.05905), Algorithm 1:

    y        = r + gamma (1 - terminated) (min_j Q'_j(s', a') - entropy_coef log pi(a'|s')),  a' ~ pi(.|s')
    critic   = sum_j mean (Q_j(s, a) - y)^2 / 2            (Stable-Baselines3 convention: 0.5 x sum of MSEs)
    actor    = mean (entropy_coef log pi(a~|s) - min_j Q_j(s, a~)),  a~ ~ pi(.|s) reparameterised
    entropy  = -mean log_entropy_coef (log pi(a~|s) + target_entropy)     (Eq. 18, optimised in log space)

Non-obvious details:
* The twin critics are one `QEnsemble`: each layer is one batched matmul for both critics.
* The actor loss back-propagates through the critic to the actions only (`backward(inputs=actor params)`), so the
  critic's weight gradients, which the actor step would throw away, are never computed.
* The entropy coefficient used in the targets and the actor loss is the value *before* this step's entropy update, as in
  Stable-Baselines3, so both implementations follow the same trajectory of updates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam, polyak_update, td_target
from hrlkit.nn import ObsFlattener, QEnsemble, SquashedGaussianActor
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult


@dataclass
class SACConfig:
    """Soft Actor-Critic (Haarnoja et al. 2018)."""

    algo: ClassVar[str] = "sac"  # the learner's name where a config chooses between learners (HIRO's levels)

    hidden: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the actor and of each critic"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    actor_lr: float = 3e-4
    """actor learning rate (Adam)"""
    critic_lr: float = 3e-4
    """critic learning rate (Adam)"""
    entropy_lr: float = 3e-4
    """learning rate of log(entropy_coef) when it is tuned"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak coefficient of the target critics: target <- (1 - tau) target + tau online"""
    batch_size: int = 256
    """transitions per gradient step"""
    n_critics: int = 2
    """critics in the ensemble; targets use their minimum"""
    entropy_coef_init: float = 1.0
    """initial entropy coefficient (alpha)"""
    learn_entropy_coef: bool = True
    """tune the entropy coefficient towards target_entropy; if false it stays at entropy_coef_init"""
    target_entropy: float | None = None
    """entropy target; None means -dim(actions)"""
    target_update_interval: int = 1
    """gradient steps between Polyak updates of the target critics"""


class SACLearner(Learner):
    """SAC for Box action spaces. See the module docstring for the equations.

    Shapes:
        act: obs (B, ...) -> actions (B, A) in [-1, 1]
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: SACConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        if not isinstance(action_space, gym.spaces.Box):
            raise HrlkitError(
                f"SAC needs a Box action space (continuous actions), got {action_space}: pick an env with Box actions"
            )
        self.config = cfg = config
        act_dim = int(action_space.shape[0])
        self.flatten = ObsFlattener(obs_space)
        self.actor = SquashedGaussianActor(self.flatten.dim, act_dim, cfg.hidden, cfg.activation)
        self.critic = QEnsemble(self.flatten.dim, act_dim, cfg.hidden, cfg.n_critics, cfg.activation)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_entropy_coef = nn.Parameter(torch.tensor(float(cfg.entropy_coef_init)).log())
        self.target_entropy = float(-act_dim if cfg.target_entropy is None else cfg.target_entropy)
        self.to(self.device)
        self.optimizers = {
            "actor": make_adam(self.actor.parameters(), cfg.actor_lr),
            "critic": make_adam(self.critic.parameters(), cfg.critic_lr),
        }
        if cfg.learn_entropy_coef:
            self.optimizers["entropy_coef"] = make_adam([self.log_entropy_coef], cfg.entropy_lr)
        self._actor_params = list(self.actor.parameters())

    @property
    def entropy_coef(self) -> torch.Tensor:
        return self.log_entropy_coef.detach().exp()

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        return self.actor(self.flatten(obs), deterministic)[0]

    # ------------------------------------------------------------------------------------------------------ losses
    def critic_loss(
        self, batch: ReplayBatch, entropy_coef: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """(loss, stats, |TD error| per sample (B,) averaged over the critics, the new priorities under PER)."""
        obs, next_obs = self.flatten(batch.obs), self.flatten(batch.next_obs)
        with torch.no_grad():
            next_actions, next_log_prob = self.actor(next_obs)  # (B, A), (B,)
            next_q = self.critic_target(next_obs, next_actions).min(0).values  # (B,)
            target = td_target(
                batch.rewards, batch.terminated, next_q - entropy_coef * next_log_prob, self.config.gamma
            )
        q = self.critic(obs, batch.actions)  # (E, B)
        # Importance weights (all ones for uniform replay) scale each sample's squared error.
        loss = 0.5 * ((q - target).pow(2) * batch.weights).mean(1).sum()
        td_errors = (q.detach() - target).abs().mean(0)  # (B,)
        return loss, {"critic_loss": loss.item(), "q_mean": q.detach().mean().item()}, td_errors

    def actor_loss(
        self, obs: torch.Tensor, actions_pi: torch.Tensor, log_prob: torch.Tensor, entropy_coef: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        q_pi = self.critic(obs, actions_pi).min(0).values  # (B,)
        loss = (entropy_coef * log_prob - q_pi).mean()
        stats = {"actor_loss": loss.item()}
        return self.add_actor_penalty(loss, stats, obs, actions_pi), stats

    def entropy_coef_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        # Gradient w.r.t. log_entropy_coef is -mean(log_prob + target): when the policy's entropy (-log_prob) falls
        # below the target the gradient is negative, so descent raises the coefficient.
        return -(self.log_entropy_coef * (log_prob.detach() + self.target_entropy)).mean()

    # ------------------------------------------------------------------------------------------------------ update
    def update(self, batch: ReplayBatch) -> UpdateResult:
        obs = self.flatten(batch.obs)
        actions_pi, log_prob = self.actor(obs)  # (B, A), (B,)
        entropy_coef = self.entropy_coef
        stats: dict[str, float] = {"entropy_coef": entropy_coef.item()}
        if "entropy_coef" in self.optimizers:
            ent_loss = self.entropy_coef_loss(log_prob)
            self.optimizers["entropy_coef"].zero_grad()
            ent_loss.backward()
            self.optimizers["entropy_coef"].step()
            stats["entropy_coef_loss"] = ent_loss.item()

        critic_loss, info, td_errors = self.critic_loss(batch, entropy_coef)
        self.optimizers["critic"].zero_grad()
        critic_loss.backward()
        self.optimizers["critic"].step()
        stats.update(info)

        actor_loss, info = self.actor_loss(obs, actions_pi, log_prob, entropy_coef)
        self.optimizers["actor"].zero_grad()
        actor_loss.backward(inputs=self._actor_params)  # critic weight grads are not needed: skip them
        self.optimizers["actor"].step()
        stats.update(info)

        self.n_updates += 1
        if self.n_updates % self.config.target_update_interval == 0:
            polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.config.tau)
        return UpdateResult(stats, td_errors)
