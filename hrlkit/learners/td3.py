"""TD3 (Fujimoto et al. 2018, arXiv:1802.09477, Algorithm 1) and DDPG (Lillicrap et al. 2016) as its special case.

    a'       = clip(mu'(s') + clip(eps, -noise_clip, noise_clip), -1, 1),  eps ~ N(0, target_noise^2)
    y        = r + gamma (1 - terminated) min_j Q'_j(s', a')
    critic   = sum_j mean (Q_j(s, a) - y)^2
    actor    = -mean Q_1(s, mu(s)) + action_l2 mean mu(s)^2    every `policy_delay` critic updates, with the Polyak
                                                                  update of all targets

Exploration while collecting: a = clip(mu(s) + N(0, exploration_noise^2), -1, 1), replaced per env by a uniform action
in [-1, 1]^A with probability `random_action_prob`. `random_action_prob` and `action_l2` are the HER paper's
`random_eps` and `action_l2` (Andrychowicz et al. 2017, appendix; 0.3 and 1.0 there, 0 here by default: TD3's paper
has neither).

DDPG is the same update with one critic, no target smoothing and `policy_delay = 1` (as Stable-Baselines3 defines it),
so `DDPGConfig` only changes the defaults of `TD3Config`; there is one implementation.

Deviation: the critic loss is the sum of the per-critic MSEs (the paper's), without SB3's 0.5 factor for TD3: SB3 TD3
also uses the plain sum, so both follow the same updates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import torch

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam, polyak_update, td_target
from hrlkit.nn import DeterministicActor, ObsFlattener, QEnsemble
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult


@dataclass
class TD3Config:
    """Twin Delayed DDPG (Fujimoto et al. 2018)."""

    algo: ClassVar[str] = "td3"  # the learner's name where a config chooses between learners (HIRO's levels)

    hidden: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the actor and of each critic"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    actor_lr: float = 1e-3
    """actor learning rate (Adam)"""
    critic_lr: float = 1e-3
    """critic learning rate (Adam)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak coefficient of the targets: target <- (1 - tau) target + tau online"""
    batch_size: int = 256
    """transitions per gradient step"""
    n_critics: int = 2
    """critics in the ensemble; targets use their minimum"""
    policy_delay: int = 2
    """critic updates per actor and target update"""
    target_noise: float = 0.2
    """std of the Gaussian smoothing noise on target actions (normalised action units)"""
    target_noise_clip: float = 0.5
    """clip of the target smoothing noise"""
    exploration_noise: float = 0.1
    """std of the Gaussian noise added to actions while collecting (normalised action units)"""
    random_action_prob: float = 0.0
    """probability that a collected action is uniform in [-1, 1] instead (per env step; the HER paper's random_eps 0.3)"""
    action_l2: float = 0.0
    """weight of the actor's mean squared action in its loss (normalised units; the HER paper's action_l2 1.0)"""


@dataclass
class DDPGConfig(TD3Config):
    """DDPG (Lillicrap et al. 2016): TD3 with one critic, no target smoothing, actor updated every step."""

    algo: ClassVar[str] = "ddpg"

    n_critics: int = 1
    """critics in the ensemble (DDPG: one)"""
    policy_delay: int = 1
    """critic updates per actor and target update (DDPG: every step)"""
    target_noise: float = 0.0
    """std of the target smoothing noise (DDPG: none)"""


class TD3Learner(Learner):
    """TD3, and DDPG through `DDPGConfig`. See the module docstring for the equations.

    Shapes:
        act: obs (B, ...) -> actions (B, A) in [-1, 1]
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: TD3Config, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        if not isinstance(action_space, gym.spaces.Box):
            raise HrlkitError(
                f"TD3/DDPG need a Box action space (continuous actions), got {action_space}: pick an env with Box actions"
            )
        self.config = cfg = config
        act_dim = int(action_space.shape[0])
        self.flatten = ObsFlattener(obs_space)
        self.actor = DeterministicActor(self.flatten.dim, act_dim, cfg.hidden, cfg.activation)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = QEnsemble(self.flatten.dim, act_dim, cfg.hidden, cfg.n_critics, cfg.activation)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.to(self.device)
        self.optimizers = {
            "actor": make_adam(self.actor.parameters(), cfg.actor_lr),
            "critic": make_adam(self.critic.parameters(), cfg.critic_lr),
        }
        self._actor_params = list(self.actor.parameters())
        self._online = [*self.actor.parameters(), *self.critic.parameters()]
        self._targets = [*self.actor_target.parameters(), *self.critic_target.parameters()]

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        actions = self.actor(self.flatten(obs))
        if not deterministic and self.config.exploration_noise > 0:
            actions = (actions + self.config.exploration_noise * torch.randn_like(actions)).clamp(-1.0, 1.0)
        if not deterministic and self.config.random_action_prob > 0:  # no draw at 0: default runs keep their numbers
            uniform = torch.rand_like(actions) * 2.0 - 1.0  # (B, A)
            pick = torch.rand(actions.shape[0], 1, device=actions.device) < self.config.random_action_prob  # (B, 1)
            actions = torch.where(pick, uniform, actions)
        return actions

    def critic_loss(self, batch: ReplayBatch) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """(loss, stats, |TD error| per sample (B,) averaged over the critics, the new priorities under PER)."""
        cfg = self.config
        obs, next_obs = self.flatten(batch.obs), self.flatten(batch.next_obs)
        with torch.no_grad():
            next_actions = self.actor_target(next_obs)  # (B, A)
            if cfg.target_noise > 0:
                noise = (cfg.target_noise * torch.randn_like(next_actions)).clamp(
                    -cfg.target_noise_clip, cfg.target_noise_clip
                )
                next_actions = (next_actions + noise).clamp(-1.0, 1.0)
            next_q = self.critic_target(next_obs, next_actions).min(0).values  # (B,)
            target = td_target(batch.rewards, batch.terminated, next_q, cfg.gamma)  # (B,)
        q = self.critic(obs, batch.actions)  # (E, B)
        loss = ((q - target).pow(2) * batch.weights).mean(1).sum()
        td_errors = (q.detach() - target).abs().mean(0)  # (B,)
        return loss, {"critic_loss": loss.item(), "q_mean": q.detach().mean().item()}, td_errors

    def actor_loss(self, obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        actions = self.actor(obs)
        loss = -self.critic.first(obs, actions).mean()  # Q_1 only, as in the paper
        if self.config.action_l2 > 0:
            loss = loss + self.config.action_l2 * actions.pow(2).mean()
        stats = {"actor_loss": loss.item()}
        return self.add_actor_penalty(loss, stats, obs, actions), stats

    def update(self, batch: ReplayBatch) -> UpdateResult:
        critic_loss, stats, td_errors = self.critic_loss(batch)
        self.optimizers["critic"].zero_grad()
        critic_loss.backward()
        self.optimizers["critic"].step()
        self.n_updates += 1
        if self.n_updates % self.config.policy_delay == 0:
            actor_loss, info = self.actor_loss(self.flatten(batch.obs))
            self.optimizers["actor"].zero_grad()
            actor_loss.backward(inputs=self._actor_params)  # critic weight grads are not needed: skip them
            self.optimizers["actor"].step()
            stats.update(info)
            polyak_update(self._online, self._targets, self.config.tau)
        return UpdateResult(stats, td_errors)
