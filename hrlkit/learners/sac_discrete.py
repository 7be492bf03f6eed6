"""Soft Actor-Critic for discrete action sets (SAC-Discrete).

Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings" (arXiv:1910.07207), section 3. With a finite
action set the policy is a categorical pi(.|s) given by logits, each critic outputs Q(s, .) for every action at once,
and every expectation over actions that continuous SAC estimates with one reparameterised sample is computed exactly,
as a sum weighted by pi:

    V(s')    = sum_a pi(a|s') [min_j Q'_j(s', a) - entropy_coef log pi(a|s')]
    y        = r + gamma (1 - terminated) V(s')
    critic   = 0.5 sum_j mean_i w_i (Q_j(s_i, a_i) - y_i)^2         (w: PER importance weights, all 1 for uniform replay)
    actor    = mean_s sum_a pi(a|s) [entropy_coef log pi(a|s) - min_j Q_j(s, a)]
    entropy  = -log_entropy_coef mean_s (sum_a pi(a|s) log pi(a|s) + target_entropy)
             =  log_entropy_coef mean_s (H(pi(.|s)) - target_entropy),        target_entropy = ratio x log |A|

Non-obvious details:
* No sampling anywhere in the update: the actor gradient is the exact gradient of the expectation, so there is no
  reparameterisation (or Gumbel-softmax) and no score-function estimator. The critics are evaluated under `no_grad`
  in the actor loss: its gradient reaches the policy through pi alone.
* The temperature is optimised in log space, as in Stable-Baselines3 and in the original SAC code: the gradient with
  respect to log(entropy_coef) is H - target, independent of the coefficient's current size, and the coefficient stays
  positive without clipping. (CleanRL's `sac_atari.py` writes the loss with exp(log_alpha), whose gradient
  entropy_coef x (H - target) moves a small coefficient very slowly.)
* Sign check: when the policy's entropy H falls below the target, the gradient H - target is negative and gradient
  descent raises the coefficient, which pushes the policy back towards uniform; above the target it falls.
* The target entropy is a fraction of the maximum, log |A| (a uniform policy). The paper uses 0.98 x log |A|. With
  |A| = 2 that is 0.679 of at most 0.693 nats: a policy whose likelier action has probability 0.58 or less. A task like
  CartPole needs a more decided policy than that, so the entropy stays below the target and the coefficient grows
  without bound while the sampled policy stays near uniform. In our CartPole-v1 runs (40k env steps, lr 3e-4) the
  coefficient reached 2.9e4 with 0.98 and 3.0e3 with 0.89, with mean Q values of 3.0e5 and 4.2e4 (an undiscounted
  return is at most 500): the soft values are almost all entropy bonus. With 0.7 it settled near 1 and with 0.5 near
  0.2-0.3. The greedy action can still be right, so a deterministic evaluation hides the problem. The authors of the
  common implementations report the same (p-christ/Deep-Reinforcement-Learning-Algorithms-with-PyTorch#54, where
  0.7-0.8 x log |A| is found to work on CartPole; toshikwa/sac-discrete.pytorch#15); twni2016/pomdp-baselines#1 uses
  0.7 on CartPole and LunarLander, and CleanRL's `sac_atari.py` lowers it to 0.89 for Atari (|A| up to 18). Zhou et
  al. 2022, "Revisiting Discrete Soft Actor-Critic" (arXiv:2209.10081), trace the instability of vanilla SAC-Discrete
  to this entropy term and to the min over twin critics. The default here is 0.7 (`SACDiscreteConfig`).
* The entropy coefficient used in the targets and the actor loss is the value before this update's temperature step
  (as in `hrlkit.learners.sac`). The temperature step uses the entropies of the policy before its own step.
* Targets: Polyak averaging with `tau` every `target_update_interval` gradient updates (default 0.005 every update,
  continuous SAC's setting). tau = 1.0 is a hard copy: the Atari implementations (toshikwa/sac-discrete.pytorch,
  CleanRL's `sac_atari.py`) copy every 8000 env steps, i.e. every 2000 updates at one update per 4 env steps.

Deviation: the critic loss is 0.5 x the sum of the critics' mean squared errors (the Stable-Baselines3 and
`hrlkit.learners.sac` convention), i.e. half of CleanRL's sum of MSEs: the same minimiser, gradients scaled by 0.5.
Deviation: importance weights (prioritized replay) weight the critic loss only, as in `hrlkit.learners.sac`;
toshikwa/sac-discrete.pytorch also weights the actor and temperature losses.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam, polyak_update, td_target
from hrlkit.nn import QNetwork, make_encoder, mlp
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult


@dataclass
class SACDiscreteConfig:
    """Soft Actor-Critic for discrete actions (Christodoulou 2019, arXiv:1910.07207)."""

    # ---- networks
    hidden: tuple[int, ...] = (256, 256)
    """hidden layer sizes between the encoder and the output of the policy and of each critic"""
    activation: str = "relu"
    """activation between hidden layers: relu, tanh, elu or gelu"""
    encoder: str = "auto"
    """observation encoder of the policy and of each critic (none is shared): auto (Nature CNN for uint8 image
    observations, else flat), mlp or nature_cnn"""
    dueling: bool = False
    """dueling critic heads: Q = V + A - mean(A)"""
    n_critics: int = 2
    """critics; targets and the actor loss use their minimum"""
    # ---- optimisation
    actor_lr: float = 3e-4
    """policy learning rate (Adam)"""
    critic_lr: float = 3e-4
    """critic learning rate (Adam)"""
    entropy_lr: float = 3e-4
    """learning rate of log(entropy_coef) when it is tuned"""
    batch_size: int = 64
    """transitions per gradient step"""
    gamma: float = 0.99
    """discount factor"""
    # ---- target critics
    tau: float = 0.005
    """target update: target <- (1 - tau) target + tau online; 1.0 is a hard copy (the Atari setting)"""
    target_update_interval: int = 1
    """gradient updates between target updates (Atari: tau 1.0 every 2000 updates = 8000 env steps)"""
    # ---- entropy
    entropy_coef_init: float = 1.0
    """initial entropy coefficient (alpha)"""
    learn_entropy_coef: bool = True
    """tune the entropy coefficient towards the target entropy; if false it stays at entropy_coef_init"""
    target_entropy_ratio: float = 0.7
    """target entropy as a fraction of the maximum log|A|; the paper's 0.98 makes the coefficient diverge on small
    action sets (CartPole), see the module docstring"""


class SACDiscreteLearner(Learner[ReplayBatch]):
    """SAC-Discrete for Discrete action spaces. See the module docstring for the losses.

    Networks: `critic` and `critic_target` are `nn.ModuleList`s of `n_critics` `QNetwork`s, each with its own encoder;
    `actor` is encoder -> MLP -> logits, with an encoder of its own (sharing one with the critics would let the actor
    loss reshape the critics' features; CleanRL's `sac_atari.py` keeps them apart for the same reason).

    Shapes:
        act: obs (B, ...) -> actions (B,) int64
        q_values: obs (B, ...) -> (n_critics, B, A)
        log_probs: obs (B, ...) -> (B, A)
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        config: SACDiscreteConfig,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(obs_space, action_space, device)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise HrlkitError(
                f"SAC-Discrete needs a Discrete action space, got {action_space}: use sac for Box actions"
            )
        if not 0.0 < config.tau <= 1.0:
            raise HrlkitError(f"tau must lie in (0, 1], got {config.tau}")
        if config.target_update_interval < 1 or config.n_critics < 1:
            raise HrlkitError("target_update_interval and n_critics must be >= 1")
        if not 0.0 <= config.target_entropy_ratio <= 1.0:
            raise HrlkitError(
                f"target_entropy_ratio must lie in [0, 1] (a fraction of the maximum entropy log|A|), got "
                f"{config.target_entropy_ratio}"
            )
        if config.entropy_coef_init <= 0.0:
            raise HrlkitError(f"entropy_coef_init must be > 0, got {config.entropy_coef_init}")
        self.config = cfg = config
        self.n_actions = n = int(action_space.n)
        self.critic = nn.ModuleList(
            QNetwork(make_encoder(obs_space, cfg.encoder), n, cfg.hidden, cfg.dueling, cfg.activation)
            for _ in range(cfg.n_critics)
        )
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        encoder = make_encoder(obs_space, cfg.encoder)
        self.actor = nn.Sequential(encoder, mlp(int(encoder.dim), cfg.hidden, n, cfg.activation))  # obs -> logits
        self.log_entropy_coef = nn.Parameter(torch.tensor(float(cfg.entropy_coef_init)).log())
        self.target_entropy = cfg.target_entropy_ratio * math.log(n)
        self.to(self.device)
        self.optimizers = {
            "actor": make_adam(self.actor.parameters(), cfg.actor_lr),
            "critic": make_adam(self.critic.parameters(), cfg.critic_lr),
        }
        if cfg.learn_entropy_coef:
            self.optimizers["entropy_coef"] = make_adam([self.log_entropy_coef], cfg.entropy_lr)

    @property
    def entropy_coef(self) -> torch.Tensor:
        """alpha = exp(log_entropy_coef), detached: a constant inside the critic and actor losses."""
        return self.log_entropy_coef.detach().exp()

    # ---------------------------------------------------------------------------------------------------- networks
    @staticmethod
    def q_values(critics: nn.ModuleList, obs: TensorObs) -> torch.Tensor:
        """Q_j(s, .) of every critic in `critics` (the online or the target list), stacked: (n_critics, B, A)."""
        return torch.stack([q(obs) for q in critics])

    def log_probs(self, obs: TensorObs) -> torch.Tensor:
        """log pi(.|s), (B, A). log_softmax keeps log pi finite where pi underflows to 0, so pi log pi stays 0."""
        return torch.log_softmax(self.actor(obs), dim=-1)

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        """argmax_a pi(a|s) when deterministic, else a ~ pi(.|s) drawn with torch's global generator: (B,) int64."""
        logits = self.actor(obs)  # (B, A)
        if deterministic:
            return logits.argmax(dim=-1)
        return torch.multinomial(torch.softmax(logits, dim=-1), 1).squeeze(-1)

    # ------------------------------------------------------------------------------------------------------ losses
    def critic_loss(
        self, batch: ReplayBatch, entropy_coef: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """0.5 sum_j mean_i w_i (Q_j(s_i, a_i) - y_i)^2 with the exact soft value V(s') of the module docstring.

        Returns:
            (loss, stats {critic_loss, q_mean}, td_errors): td_errors (B,) = mean_j |Q_j(s, a) - y|, before any step
            (the new priorities under prioritized replay).

        Shapes:
            batch.actions: (B,) int64 (or (B, 1)); rewards, terminated, weights: (B,); entropy_coef: () -> loss ()
        """
        actions = batch.actions.long().reshape(-1)  # (B,)
        batch_size = actions.shape[0]
        with torch.no_grad():
            next_log_pi = self.log_probs(batch.next_obs)  # (B, A)
            next_q = self.q_values(self.critic_target, batch.next_obs).min(0).values  # (B, A) min over critics
            # E_{a ~ pi}[min_j Q'_j(s', a) - alpha log pi(a|s')], summed exactly over the A actions
            next_value = (next_log_pi.exp() * (next_q - entropy_coef * next_log_pi)).sum(-1)  # (B,)
            target = td_target(batch.rewards, batch.terminated, next_value, self.config.gamma)  # (B,)
        q_all = self.q_values(self.critic, batch.obs)  # (E, B, A)
        # worked index example: actions [1, 0] -> q[j] = [q_all[j, 0, 1], q_all[j, 1, 0]] for every critic j
        q = q_all.gather(2, actions.view(1, -1, 1).expand(q_all.shape[0], -1, 1)).squeeze(-1)  # (E, B)
        assert q.shape == (len(self.critic), batch_size) and target.shape == (batch_size,)
        loss = 0.5 * ((q - target).pow(2) * batch.weights).mean(1).sum()
        td_errors = (q.detach() - target).abs().mean(0)  # (B,)
        return loss, {"critic_loss": loss.item(), "q_mean": q.detach().mean().item()}, td_errors

    def actor_loss(
        self, obs: TensorObs, entropy_coef: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """mean_s sum_a pi(a|s) [alpha log pi(a|s) - min_j Q_j(s, a)], the critics held fixed.

        Returns:
            (loss, stats {actor_loss, entropy}, entropy (B,) = H(pi(.|s)) detached, for `entropy_coef_loss`).

        Shapes:
            obs: (B, ...) or a dict of such; entropy_coef: () -> loss (), entropy (B,)
        """
        log_pi = self.log_probs(obs)  # (B, A)
        pi = log_pi.exp()
        with torch.no_grad():  # the gradient reaches the policy through pi only; no critic gradients are computed
            min_q = self.q_values(self.critic, obs).min(0).values  # (B, A)
        loss = (pi * (entropy_coef * log_pi - min_q)).sum(-1).mean()
        entropy = -(pi * log_pi).sum(-1).detach()  # (B,)
        return loss, {"actor_loss": loss.item(), "entropy": entropy.mean().item()}, entropy

    def entropy_coef_loss(self, entropy: torch.Tensor) -> torch.Tensor:
        """-log(alpha) mean_s (sum_a pi log pi + target) = log(alpha) (mean H - target).

        d/d log(alpha) = mean H - target: negative when the entropy is below the target, so descent raises alpha.

        Shapes:
            entropy: (B,) H(pi(.|s)) per state, detached -> ()
        """
        assert not entropy.requires_grad, "pass detached entropies: the temperature step must not move the policy"
        return self.log_entropy_coef * (entropy.mean() - self.target_entropy)

    # ------------------------------------------------------------------------------------------------------ update
    def update(self, batch: ReplayBatch) -> UpdateResult:
        """One critic, actor and temperature step, then the target update when due."""
        entropy_coef = self.entropy_coef
        stats: dict[str, float] = {"entropy_coef": entropy_coef.item()}

        critic_loss, info, td_errors = self.critic_loss(batch, entropy_coef)
        self.optimizers["critic"].zero_grad()
        critic_loss.backward()
        self.optimizers["critic"].step()
        stats.update(info)

        actor_loss, info, entropy = self.actor_loss(batch.obs, entropy_coef)
        self.optimizers["actor"].zero_grad()
        actor_loss.backward()
        self.optimizers["actor"].step()
        stats.update(info)

        if "entropy_coef" in self.optimizers:
            ent_loss = self.entropy_coef_loss(entropy)
            self.optimizers["entropy_coef"].zero_grad()
            ent_loss.backward()
            self.optimizers["entropy_coef"].step()
            stats["entropy_coef_loss"] = ent_loss.item()

        self.n_updates += 1
        if self.n_updates % self.config.target_update_interval == 0:
            polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.config.tau)
        return UpdateResult(stats, td_errors)
