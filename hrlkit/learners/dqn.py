"""DQN and its variants as options of one learner.

    2013 (Mnih et al., arXiv:1312.5602)      y = r + gamma (1 - terminated) max_a' Q(s', a')          no target network
    2015 (Mnih et al., Nature)               y = r + gamma (1 - terminated) max_a' Q_target(s', a')   target_update_interval > 0
    Double (van Hasselt et al. 2016)         y = r + gamma (1 - terminated) Q_target(s', argmax_a' Q(s', a'))
    Dueling (Wang et al. 2016)               Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')               (`hrlkit.nn.QNetwork`)

    loss = mean_i w_i * huber(Q(s_i, a_i) - y_i)        (w_i: importance weights, all 1 without prioritized replay)

The Huber loss (delta 1) is the 2015 paper's "error clipping": the gradient of the squared error is clipped to
[-1, 1]. Gradients are clipped by global norm (`max_grad_norm`, 10 as in Stable-Baselines3). Rewards can be clipped
to [-1, 1] inside the target (`clip_rewards`, the Atari protocol), so env returns stay true in every log.

Epsilon-greedy exploration lives in the agent (`hrlkit.agents.FlatAgent` with an `exploration` schedule): the learner
only computes greedy actions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam, polyak_update, td_target
from hrlkit.nn import QNetwork, make_encoder
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult


@dataclass
class DQNConfig:
    """DQN (Mnih et al. 2013/2015) with Double and Dueling options."""

    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes between the encoder and the output layer (the Atari presets use (): the Nature CNN already
    ends in a 512-unit layer)"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    encoder: str = "auto"
    """observation encoder: auto (Nature CNN for uint8 image observations, else flat), mlp or nature_cnn"""
    lr: float = 1e-4
    """learning rate (Adam)"""
    gamma: float = 0.99
    """discount factor"""
    batch_size: int = 32
    """transitions per gradient step"""
    target_update_interval: int = 1_000
    """gradient updates between target-network updates; 0: no target network (the 2013 DQN bootstraps from the online
    network)"""
    tau: float = 1.0
    """target update: target <- (1 - tau) target + tau online; 1.0 is the hard copy of the 2015 paper"""
    double: bool = False
    """Double DQN: the online network picks the next action, the target network values it"""
    dueling: bool = False
    """dueling head: Q = V + A - mean(A)"""
    loss: str = "huber"
    """TD loss: huber (smooth L1, delta 1; the paper's error clipping) or mse"""
    max_grad_norm: float = 10.0
    """clip gradients to this global norm (0: no clipping)"""
    clip_rewards: bool = False
    """clip rewards to [-1, 1] in the TD target (Atari protocol); logged returns stay unclipped"""
    exploration_initial: float = 1.0
    """epsilon at the first step"""
    exploration_final: float = 0.05
    """epsilon after exploration_env_steps"""
    exploration_env_steps: int = 10_000
    """env steps over which epsilon falls linearly from exploration_initial to exploration_final"""


class DQNLearner(Learner):
    """Q-learning with a neural network over a discrete action set. See the module docstring for the targets.

    Shapes:
        act: obs (B, ...) -> actions (B,) int64
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: DQNConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise HrlkitError(
                f"DQN needs a Discrete action space, got {action_space}: use sac or td3 for continuous actions"
            )
        if config.loss not in ("huber", "mse"):
            raise HrlkitError(f"unknown DQN loss {config.loss!r}: use huber or mse")
        if not 0.0 < config.tau <= 1.0:
            raise HrlkitError(f"tau must lie in (0, 1], got {config.tau}")
        self.config = cfg = config
        self.n_actions = int(action_space.n)
        self.q = QNetwork(make_encoder(obs_space, cfg.encoder), self.n_actions, cfg.hidden, cfg.dueling, cfg.activation)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False) if cfg.target_update_interval > 0 else None
        self.to(self.device)
        self.optimizers = {"q": make_adam(self.q.parameters(), cfg.lr)}
        self._params = list(self.q.parameters())

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions; exploration is the agent's (epsilon-greedy around these)."""
        return self.q(obs).argmax(dim=-1)

    @torch.no_grad()
    def target(self, batch: ReplayBatch) -> torch.Tensor:
        """y (B,): the TD target of the configured variant (module docstring)."""
        cfg = self.config
        bootstrap_net = self.q_target if self.q_target is not None else self.q
        next_q = bootstrap_net(batch.next_obs)  # (B, n)
        if cfg.double:
            next_actions = self.q(batch.next_obs).argmax(dim=-1, keepdim=True)  # (B, 1) chosen by the online net
            next_value = next_q.gather(1, next_actions).squeeze(1)  # (B,) valued by the target net
        else:
            next_value = next_q.max(dim=-1).values  # (B,)
        rewards = batch.rewards.clamp(-1.0, 1.0) if cfg.clip_rewards else batch.rewards
        return td_target(rewards, batch.terminated, next_value, cfg.gamma)

    def critic_loss(self, batch: ReplayBatch) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """(loss, stats, |TD error| per sample (B,), the new priorities under PER)."""
        target = self.target(batch)  # (B,)
        q = self.q(batch.obs).gather(1, batch.actions.long().reshape(-1, 1)).squeeze(1)  # (B,) Q(s, a)
        if self.config.loss == "huber":
            per_sample = nn.functional.smooth_l1_loss(q, target, reduction="none")  # (B,)
        else:
            per_sample = (q - target).pow(2)
        loss = (per_sample * batch.weights).mean()
        td_errors = (q.detach() - target).abs()  # (B,)
        return loss, {"loss": loss.item(), "q_mean": q.detach().mean().item()}, td_errors

    def update(self, batch: ReplayBatch) -> UpdateResult:
        loss, stats, td_errors = self.critic_loss(batch)
        opt = self.optimizers["q"]
        opt.zero_grad()
        loss.backward()
        if self.config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self._params, self.config.max_grad_norm)
        opt.step()
        self.n_updates += 1
        if self.q_target is not None and self.n_updates % self.config.target_update_interval == 0:
            polyak_update(self.q.parameters(), self.q_target.parameters(), self.config.tau)
        return UpdateResult(stats, td_errors)
