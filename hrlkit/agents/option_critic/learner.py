"""Option-Critic's learner: the critic from replay, the intra-option policies and terminations from fresh experience.

Bacon, Harb & Precup 2017, "The Option-Critic Architecture" (AAAI; arXiv:1609.05140), Algorithm 1 with the deep
variant of section 5 (experience replay and a target network for the critic, as in their reference code):

    U(w, s')   = (1 - beta_w(s')) Q_Omega(s', w) + beta_w(s') (V_Omega(s') - eta)  value of arriving in s' with w
    y          = r + gamma (1 - terminated) [(1 - beta_w(s')) Q'(s', w) + beta_w(s') (max_w' Q'(s', w') - eta)]
    critic     = mean huber(Q_Omega(s, w) - y)                                   from uniform replay, Q' the target net
    policy     = -mean log pi_w(a|s) (y - Q_Omega(s, w)) - entropy_coef mean H(pi_w(.|s))      (Theorem 1)
                 (with `actor_n_step` > 1, the n-step return R along the fresh window stands in for y: A2OC's)
    termination= mean (1 - terminated) beta_w(s') (Q_Omega(s', w) - V_Omega(s') + termination_reg + eta)  (Theorem 2)

with V_Omega(s') = max_w' Q_Omega(s', w'), the value of the greedy policy over options (the reference code's choice;
the epsilon-greedy expectation differs from it by epsilon times the mean advantage, which only rescales the
termination gradient's baseline while epsilon decays). The three losses are summed and take one Adam step: all heads
share phi(s). eta is the deliberation cost of Harb, Bacon, Klissarov & Precup 2018, "When Waiting is Not an Option:
Learning Options with a Deliberation Cost" (AAAI; arXiv:1709.04571), 0 by default (Bacon et al.'s algorithm).

The actor's transitions are the ones just collected with the current policies (on-policy, as the theorems require);
the critic's come from replay. Each loss is a pure function below so that tests can check it on hand-built numbers.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import gymnasium as gym
import torch
from torch import nn

from hrlkit.agents.option_critic.config import OptionCriticConfig
from hrlkit.agents.option_critic.networks import OptionCriticNetwork, select
from hrlkit.learners.base import Learner
from hrlkit.learners.common import make_adam
from hrlkit.types import ReplayBatch, TensorObs, UpdateResult


class OptionBatch(NamedTuple):
    """Transitions together with the option that was executing in s (the one that chose the action).

    Shapes:
        transitions: a `ReplayBatch` of B transitions; options: (B,) int64
    """

    transitions: ReplayBatch
    options: torch.Tensor


class ActorWindow(NamedTuple):
    """How the fresh rows of an actor batch follow one another, for n-step returns (`actor_n_step` > 1).

    The actor batch holds T consecutive vector steps of n_envs envs, row-major (step, env), oldest first.

    Shapes:
        n_envs: int; continues: (T * n_envs,) float, 1 where the env's next row (step t + 1) continues the episode of
        this one (the episode did not end at step t, and t is not the window's last step); fired: (T * n_envs,) float,
        1 where the option that arrived in this row's s terminated there (so a new one was picked: the deliberation
        cost is paid)
    """

    n_envs: int
    continues: torch.Tensor
    fired: torch.Tensor


class OptionUpdate(NamedTuple):
    """What one Option-Critic update learns from: replayed transitions for the critic, and the fresh on-policy
    transitions (None on updates that take no actor step) for the intra-option policies and terminations, with their
    window (None: one-step targets, Bacon et al.'s estimate)."""

    critic: OptionBatch
    actor: OptionBatch | None = None
    window: ActorWindow | None = None


# --------------------------------------------------------------------------------------------- the pure functions
def option_critic_target(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    next_q_target: torch.Tensor,
    next_termination_prob: torch.Tensor,
    options: torch.Tensor,
    gamma: float,
    deliberation_cost: float = 0.0,
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) [(1 - beta_w(s')) Q'(s', w) + beta_w(s') (max_w' Q'(s', w') - eta)].

    The option w goes on in s' with probability 1 - beta_w(s') (value Q'(s', w)) and ends with beta_w(s'), after which
    the greedy policy over options picks the best one (value max_w' Q'(s', w')): U(w, s') of the paper, eq. (2).
    Ending costs eta = `deliberation_cost` (Harb et al. 2018): the critic learns the value of the options *including*
    what their switching costs, so a policy over options that switches often is worth less.

    Shapes:
        rewards, terminated: (B,); next_q_target, next_termination_prob: (B, K); options: (B,) int64 -> (B,)
    """
    assert next_q_target.shape == next_termination_prob.shape and next_q_target.shape[0] == rewards.shape[0]
    beta = select(next_termination_prob, options)  # (B,)
    u_next = (1.0 - beta) * select(next_q_target, options) + beta * (next_q_target.max(1).values - deliberation_cost)
    return rewards + gamma * (1.0 - terminated) * u_next


def option_n_step_returns(
    rewards: torch.Tensor,
    one_step_targets: torch.Tensor,
    continues: torch.Tensor,
    fired: torch.Tensor,
    gamma: float,
    deliberation_cost: float = 0.0,
) -> torch.Tensor:
    """The n-step estimate of Q_U(s_t, w_t, a_t) along a window of fresh transitions (A2OC's returns, Harb et al. 2018):

        R_t = r_t + gamma (R_{t+1} - eta fired_{t+1})     where the episode goes on into step t + 1 of the window
        R_t = y_t                                         at the window's last step and where the episode ended at t

    with y_t the one-step target, r_t + gamma U(w_t, s_{t+1}) (r_t alone when s_{t+1} is terminal). The window follows
    the agent's call-and-return choices, so R_{t+1} is a sample of U(w_t, s_{t+1}): the option goes on, or it ends
    (paying eta) and the policy over options picks the next one. On-policy, as the actor's transitions are.

    Shapes:
        rewards, one_step_targets, continues, fired: (T, n) -> (T, n)
    """
    assert rewards.shape == one_step_targets.shape == continues.shape == fired.shape
    returns = one_step_targets.clone()
    for t in range(rewards.shape[0] - 2, -1, -1):
        chained = rewards[t] + gamma * (returns[t + 1] - deliberation_cost * fired[t + 1])  # (n,)
        returns[t] = torch.where(continues[t] > 0, chained, one_step_targets[t])
    return returns


def critic_loss_fn(q_option: torch.Tensor, target: torch.Tensor, kind: str = "huber") -> torch.Tensor:
    """mean huber(Q_Omega(s, w) - y) (delta 1) or mean squared error; `target` carries no gradient.

    Shapes:
        q_option, target: (B,) -> ()
    """
    if kind == "huber":
        return nn.functional.smooth_l1_loss(q_option, target.detach(), beta=1.0)
    return nn.functional.mse_loss(q_option, target.detach())


def intra_option_policy_loss(
    log_prob: torch.Tensor,
    entropy: torch.Tensor,
    target: torch.Tensor,
    q_option: torch.Tensor,
    entropy_coef: float,
) -> torch.Tensor:
    """-mean log pi_w(a|s) (y - Q_Omega(s, w)) - entropy_coef mean H(pi_w(.|s)).

    Theorem 1 (intra-option policy gradient) weights grad log pi_w(a|s) by Q_U(s, w, a); the one-step estimate
    y = r + gamma U(w, s') stands in for Q_U, and Q_Omega(s, w) is subtracted as a baseline. The advantage is detached:
    it is the critic's estimate that *weights* the score function, as in the theorem, not a quantity to optimise --
    letting its gradient flow would push phi(s) and Q_Omega to make the advantage large, which is no policy gradient.

    Shapes:
        log_prob, entropy, target, q_option: (B,) -> ()
    """
    advantage = (target - q_option).detach()  # (B,)
    return -(log_prob * advantage).mean() - entropy_coef * entropy.mean()


def termination_loss_fn(
    next_termination_prob: torch.Tensor,
    next_q: torch.Tensor,
    options: torch.Tensor,
    terminated: torch.Tensor,
    termination_reg: float,
    deliberation_cost: float = 0.0,
) -> torch.Tensor:
    """mean (1 - terminated) beta_w(s') (Q_Omega(s', w) - V_Omega(s') + termination_reg + eta), V = max_w' Q(s', w').

    Why s' and not s: an option decides whether to stop on *arriving* in a state. The termination gradient theorem
    (Theorem 2) differentiates U(w, s') = (1 - beta_w(s')) Q_Omega(s', w) + beta_w(s') V_Omega(s') with respect to the
    termination parameters: dU/dtheta = -dbeta_w(s')/dtheta (Q_Omega(s', w) - V_Omega(s')). So the gradient is taken
    at the next state, with the option that was executing when s' was reached.

    Why detached: the advantage A(s', w) + termination_reg is the critic's estimate weighting dbeta/dtheta, as in the
    theorem; gradients through it would train phi(s) and Q_Omega to shrink the advantage, not the terminations.

    Direction: minimising beta * A lowers beta where Q_Omega(s', w) > V(s') - termination_reg (the option is still as
    good as the best one, up to the margin: keep going) and raises it where the option has fallen behind. With
    V = max, A <= 0 always, so termination_reg is what stops the best option from being pushed to terminate too.

    The deliberation cost eta enters as the margin does: with U(w, s') = Q(s', w) - beta (Q(s', w) - V(s') + eta),
    its termination gradient is -dbeta/dtheta (A + eta). The two differ in the critic only: termination_reg is a
    regulariser of the gradient (Bacon et al.), eta a cost the critic also pays (Harb et al.).

    A terminated s' has no future and no decision to make: those rows are masked out (a truncated s' is a real state
    and keeps its gradient).

    Shapes:
        next_termination_prob: (B, K) with gradient; next_q: (B, K); options, terminated: (B,) -> ()
    """
    next_q = next_q.detach()
    advantage = select(next_q, options) - next_q.max(1).values + termination_reg + deliberation_cost  # (B,)
    beta = select(next_termination_prob, options)  # (B,)
    return ((1.0 - terminated) * beta * advantage).mean()


# ------------------------------------------------------------------------------------------------------ learner
class Evaluated(NamedTuple):
    """One forward pass over a batch: what every loss needs.

    Shapes:
        features: (B, H) phi(s); q, next_q: (B, K) online Q_Omega at s and s'; next_termination_prob: (B, K) online
        beta(s') with gradient; target: (B,) y, without gradient.
    """

    features: torch.Tensor
    q: torch.Tensor
    next_q: torch.Tensor
    next_termination_prob: torch.Tensor
    target: torch.Tensor


def cat_obs(a: TensorObs, b: TensorObs) -> TensorObs:
    """Rows of `a` then rows of `b` (Dict observations key by key)."""
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return {k: torch.cat([a[k], b[k]]) for k in a}
    assert isinstance(b, torch.Tensor)
    return torch.cat([a, b])


def cat_batches(a: OptionBatch, b: OptionBatch) -> OptionBatch:
    ta, tb = a.transitions, b.transitions
    transitions = ReplayBatch(
        *(cat_obs(x, y) for x, y in zip(ta, tb, strict=True))  # every field is a tensor or a dict of tensors
    )
    return OptionBatch(transitions, torch.cat([a.options, b.options]))


class OptionCriticLearner(Learner[OptionUpdate]):
    """The network, its target copy and the optimizer; batches in, stats out (no env, no buffer).

    `update(OptionUpdate(batch, actor_batch))` evaluates both batches in one forward pass (s and s' rows stacked) and
    takes one Adam step on critic_loss(batch) + actor_loss(actor_batch).
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        config: OptionCriticConfig,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(obs_space, action_space, device)
        config.check()
        self.config = cfg = config
        self.net = OptionCriticNetwork(
            obs_space, action_space, cfg.n_options, cfg.hidden, cfg.activation, cfg.temperature, cfg.log_std_init,
            cfg.shared_features,
        )  # fmt: skip
        self.net_target = copy.deepcopy(self.net).requires_grad_(False)
        self.to(self.device)
        self.optimizers = {"net": make_adam(self.net.parameters(), cfg.lr)}

    # ---------------------------------------------------------------------------------------------------- losses
    def evaluate(self, batch: OptionBatch) -> Evaluated:
        """phi(s) and phi(s') in one pass of the online network, Q'(s') from the target network, and y.

        y takes beta_w(s') from the online network without gradient and Q' from the target network (as the reference
        code does); its gradient never flows.
        """
        tr = batch.transitions
        B = batch.options.shape[0]
        both = self.net.features(cat_obs(tr.obs, tr.next_obs))  # (2B, H): s rows, then s' rows
        q_both = self.net.q(both)  # (2B, K)
        features, next_features = both[:B], both[B:]
        next_beta = self.net.termination_prob(next_features)  # (B, K)
        with torch.no_grad():
            next_q_target = self.net_target.q_of(tr.next_obs)  # (B, K)
            target = option_critic_target(
                tr.rewards,
                tr.terminated,
                next_q_target,
                next_beta,
                batch.options,
                self.config.gamma,
                self.config.deliberation_cost,
            )  # (B,)
        return Evaluated(features, q_both[:B], q_both[B:], next_beta, target)

    def critic_loss(self, batch: OptionBatch, ev: Evaluated | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Huber (or MSE) between Q_Omega(s, w) and y on replayed transitions."""
        ev = self.evaluate(batch) if ev is None else ev
        q_option = select(ev.q, batch.options)  # (B,)
        loss = critic_loss_fn(q_option, ev.target, self.config.critic_loss)
        return loss, {"critic_loss": loss.item(), "q_mean": q_option.detach().mean().item()}

    def actor_loss(
        self, batch: OptionBatch, ev: Evaluated | None = None, window: ActorWindow | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Intra-option policy loss at s plus termination loss at s', on fresh on-policy transitions. The policy's
        estimate of Q_U is the one-step target y, or the n-step return along `window` when given."""
        cfg, tr = self.config, batch.transitions
        ev = self.evaluate(batch) if ev is None else ev
        q_option = select(ev.q, batch.options)  # (B,)
        target = ev.target
        if window is not None:
            shape = (-1, window.n_envs)  # (T, n): the batch is row-major (step, env)
            target = option_n_step_returns(
                tr.rewards.view(shape), ev.target.view(shape), window.continues.view(shape), window.fired.view(shape),
                cfg.gamma, cfg.deliberation_cost,
            ).reshape(-1)  # fmt: skip
        features = self.net.actor_features(ev.features)
        log_prob, entropy = self.net.policy.log_prob_entropy(features, batch.options, tr.actions)  # (B,) each
        policy_loss = intra_option_policy_loss(log_prob, entropy, target, q_option, cfg.entropy_coef)
        term_loss = termination_loss_fn(
            ev.next_termination_prob,
            ev.next_q,
            batch.options,
            tr.terminated,
            cfg.termination_reg,
            cfg.deliberation_cost,
        )
        loss = cfg.policy_loss_coef * policy_loss + cfg.termination_loss_coef * term_loss
        return loss, {
            "policy_loss": policy_loss.item(),
            "termination_loss": term_loss.item(),
            "entropy": entropy.detach().mean().item(),
            "termination_prob": select(ev.next_termination_prob.detach(), batch.options).mean().item(),
        }

    # ---------------------------------------------------------------------------------------------------- update
    def update(self, update: OptionUpdate) -> UpdateResult:
        """One Adam step on critic_loss(critic batch) (+ actor_loss(actor batch) when given); hard target copy on
        schedule."""
        batch, actor_batch, window = update
        B = batch.options.shape[0]
        both = batch if actor_batch is None else cat_batches(batch, actor_batch)
        ev = self.evaluate(both)  # one forward for both batches: rows [:B] replayed, rows [B:] fresh
        loss, stats = self.critic_loss(batch, Evaluated(*(x[:B] for x in ev)))
        if actor_batch is not None:
            actor, info = self.actor_loss(actor_batch, Evaluated(*(x[B:] for x in ev)), window)
            loss = loss + actor
            stats.update(info)
        opt = self.optimizers["net"]
        opt.zero_grad()
        loss.backward()
        if self.config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.config.max_grad_norm)
        opt.step()
        self.n_updates += 1
        if self.n_updates % self.config.target_update_interval == 0:
            self.net_target.load_state_dict(self.net.state_dict())
        return UpdateResult(stats)
