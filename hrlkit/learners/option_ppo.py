"""Option learners on PPO: PPOC (Klissarov et al. 2017) and DAC (Zhang & Whiteson 2019).

Both use one `OptionActorCritic` (K intra-option policies pi_w, terminations beta_w, a policy over options pi_Omega and
a critic Q_Omega; `hrlkit.nn.options`) and the same rollouts (`OptionRolloutBuffer`: options drawn call-and-return,
an option w- running on into s unless beta_{w-}(s) fires, then w ~ pi_Omega(.|s)). They differ in how they learn.

PPOC, "Learnings Options End-to-End for Continuous Action Tasks" (Klissarov, Bacon, Harb & Precup 2017,
arXiv:1712.00004): Option-Critic's gradients, with PPO's clipped objective for the intra-option policies. Per
minibatch, one Adam step on the sum

    intra   = -mean min(r A, clip(r, 1 - eps, 1 + eps) A),  r = pi_w(a|s) / pi_w,old(a|s),  A = GAE of the low MDP
    critic  = vf_coef mean (Q_Omega(s, w) - R)^2                                              R = its TD(lambda) return
    term    = mean (1 - start) beta_{w-}(s) [Q_Omega(s, w-) - V_Omega(s) + termination_reg]   (detached bracket)
    master  = -sum(chose log pi_Omega(w|s) A_Omega) / max(1, sum chose) - master_ent_coef mean H[pi_Omega(.|s)]

with V_Omega(s) = sum_w pi_Omega(w|s) Q_Omega(s, w) and A_Omega = R - V_Omega,old(s), the advantage of having picked w
at s, standardised once per update over the rollout's rows where the master chose (with `normalize_advantage`; not per
minibatch as the intra-option advantages are: a minibatch of 64 rows holds a few choices when options last long, and
standardising over one or two rows would leave a raw-scale advantage or turn any two into -0.71 and +0.71). The termination term is
Option-Critic's termination gradient (Bacon et al. 2017, Theorem 2) at the state where the running option decides
whether to stop; termination_reg (xi) keeps options from ending as soon as another looks as good.

Deviation (PPOC's master): the reference implementation (S. Zhang's DeepRL, `PPOC_agent.py`) trains pi_Omega at every
step with the low MDP's advantage R - Q_Omega(s, w), whose expectation given (s, w) is zero, so it carries no signal
about which option to pick; and at steps where the running option went on, pi_Omega did not choose. Here pi_Omega learns
only where it chose (`chose`), from R - V_Omega(s).

DAC, "The Double Actor-Critic Architecture for Learning Options" (Zhang & Whiteson 2019, arXiv:1904.12691): the
call-and-return model is two augmented MDPs, each an ordinary MDP for an ordinary policy-gradient learner, here PPO:

    high: state (s, w-), action w ~ pi_hat(w|s, w-) = (1 - beta_{w-}(s)) 1[w = w-] + beta_{w-}(s) pi_Omega(w|s)
          loss = -L^CLIP(pi_hat, A_high) - ent_coef_high mean H[pi_hat(.|s, w-)]
                 + vf_coef mean (sum_w' pi_hat,old(w'|s, w-) Q_Omega(s, w') - R_high)^2
    low:  state (s, w),  action a ~ pi_w(a|s)
          loss = -L^CLIP(pi_w, A) - ent_coef mean H[pi_w(.|s)] + vf_coef mean (Q_Omega(s, w) - R)^2

Each update runs `n_epochs` PPO epochs on the high MDP and `n_epochs` on the low one over the same rollout, in an order
drawn per update (the paper's "all" learning mode), so beta and pi_Omega learn only through the high MDP and pi_w only
through the low one (their towers are separate weight tensors, `hrlkit.nn.options`); the critic, and an image encoder
where there is one, learn in both.

Shared with PPO (`hrlkit.learners.ppo`): shuffled minibatches from torch's global generator, advantages standardised
per minibatch, the gradient clipped to max_grad_norm, Adam with epsilon 1e-5, optional learning-rate annealing.
Deviation (both): returns are TD(lambda) (GAE advantages + values, as in our PPO) rather than the reference code's
Monte-Carlo returns bootstrapped at the rollout's end; log-probabilities are exact, without the reference's 1e-5 inside
the log.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch

from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.on_policy import (
    OnPolicyConfig,
    clip_grad_norm,
    explained_variance,
    make_adam_eps,
    set_learning_rate,
    shuffled_minibatches,
    zero_grad,
)
from hrlkit.learners.ppo import ppo_terms
from hrlkit.nn.options import (
    OptionActorCritic,
    OptionOutputs,
    action_entropy,
    action_log_prob,
    high_log_probs,
    select,
)
from hrlkit.types import OptionRolloutBatch, TensorObs, UpdateResult


@dataclass
class OptionPPOConfig(OnPolicyConfig):
    """What PPOC and DAC share: PPO's settings and the options'."""

    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes of each of the 2K + 2 towers (K intra-option policies, K terminations, the policy over
    options, the critic)"""
    shared_encoder: bool = False
    """must stay false: the option network has one encoder, which all its towers read, and no tower to share"""
    ortho_init: bool = True
    """orthogonal initialisation: gain sqrt(2) for hidden layers, 0.01 for the policy, termination and master heads, 1
    for the critic head"""
    n_options: int = 4
    """number of options K (DAC's paper: 4)"""
    learning_rate: float = 3e-4
    """learning rate (Adam) of all parameters"""
    batch_size: int = 64
    """minibatch size"""
    n_epochs: int = 10
    """PPO passes over the rollout per update (DAC: per MDP)"""
    clip_range: float = 0.2
    """clip of the probability ratio to [1 - clip_range, 1 + clip_range]"""
    ent_coef: float = 0.0
    """entropy bonus of the intra-option policies"""
    vf_coef: float = 0.5
    """weight of the critic's squared error"""
    max_grad_norm: float = 0.5
    """clip gradients to this global norm (0: no clipping)"""
    adam_eps: float = 1e-5
    """Adam epsilon"""

    def check(self) -> None:
        if isinstance(self.n_options, bool) or not isinstance(self.n_options, int) or self.n_options < 1:
            raise HrlkitError(f"n_options = {self.n_options!r}: it must be an integer >= 1")
        if self.shared_encoder:
            raise HrlkitError("shared_encoder does not apply to option learners: every tower reads the one encoder")


@dataclass
class PPOCConfig(OptionPPOConfig):
    """PPOC (Klissarov et al. 2017); defaults follow the reference implementation (S. Zhang's DeepRL)."""

    termination_reg: float = 0.01
    """xi, added to the termination advantage Q_Omega(s, w-) - V_Omega(s): a margin against options that end too soon"""
    master_ent_coef: float = 0.01
    """entropy bonus of the policy over options"""


@dataclass
class DACConfig(OptionPPOConfig):
    """DAC with PPO at both levels (Zhang & Whiteson 2019); defaults are the paper's MuJoCo settings."""

    n_epochs: int = 5
    """PPO passes over the rollout per update, for each of the two MDPs (the paper: 5)"""
    ent_coef_high: float = 0.01
    """entropy bonus of pi_hat, the high MDP's policy (the paper: 0.01)"""


# --------------------------------------------------------------------------------------------- the pure functions
def termination_loss(
    termination_logits: torch.Tensor,
    q: torch.Tensor,
    master_log_probs: torch.Tensor,
    prev_options: torch.Tensor,
    starts: torch.Tensor,
    termination_reg: float,
) -> torch.Tensor:
    """mean (1 - start) beta_{w-}(s) [Q_Omega(s, w-) - V_Omega(s) + termination_reg], bracket detached.

    V_Omega(s) = sum_w pi_Omega(w|s) Q_Omega(s, w). Minimising lowers beta where the running option is at least as good
    as the master's average (minus the margin) and raises it where it has fallen behind (Bacon et al. 2017, Theorem 2).
    An episode's first step has no running option: masked.

    Worked example: Q = (2, 0), pi_Omega = (1/2, 1/2), w- = 0, beta_0 = 0.5, xi = 0.01: V = 1, bracket 1.01, loss 0.505.

    Shapes:
        termination_logits, q, master_log_probs: (B, K); prev_options: (B,) int64; starts: (B,) bool -> ()
    """
    with torch.no_grad():
        v = (master_log_probs.exp() * q).sum(-1)  # (B,)
        advantage = select(q, prev_options) - v + termination_reg  # (B,)
    beta = torch.sigmoid(select(termination_logits, prev_options))  # (B,)
    return ((~starts).float() * beta * advantage).mean()


def master_loss(
    master_log_probs: torch.Tensor,
    options: torch.Tensor,
    chose: torch.Tensor,
    advantages: torch.Tensor,
    ent_coef: float,
) -> torch.Tensor:
    """-sum(chose log pi_Omega(w|s) A) / max(1, sum chose) - ent_coef mean H[pi_Omega(.|s)].

    The policy gradient of pi_Omega over the steps where it picked w; the entropy over all rows.

    Shapes:
        master_log_probs: (B, K); options: (B,) int64; chose: (B,) bool; advantages: (B,) -> ()
    """
    picked = select(master_log_probs, options)  # (B,)
    weight = chose.float()
    pg = -(weight * picked * advantages.detach()).sum() / weight.sum().clamp(min=1.0)
    entropy = -(master_log_probs.exp() * master_log_probs).sum(-1).mean()
    return pg - ent_coef * entropy


def normalize_where(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / (std + eps) with the mean and unbiased std of the rows in `mask` only (the rows a loss reads);
    x unchanged when fewer than two rows are in it.

    Worked example: x = (2, 2, 0, 4), mask = (F, F, T, T): mean 2, std sqrt(8) -> (0, 0, -0.707, 0.707) on the masked
    rows (the others are not read).

    Shapes:
        x: (B,), mask: (B,) bool -> (B,)
    """
    picked = x[mask]
    if picked.numel() < 2:
        return x
    return (x - picked.mean()) / (picked.std() + eps)


# ------------------------------------------------------------------------------------------------------ learners
class OptionPPOLearner(Learner[OptionRolloutBatch]):
    """The network, its optimizer and the PPO machinery PPOC and DAC share; `update` is theirs.

    Shapes:
        act: obs (B, ...) -> the greedy option's actions: (B, A) in [-1, 1] or (B,) int64
    """

    config: OptionPPOConfig

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        config: OptionPPOConfig,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(obs_space, action_space, device)
        config.check()
        self.config = cfg = config
        self.policy = OptionActorCritic(
            obs_space, action_space, cfg.n_options, cfg.hidden, cfg.activation, cfg.encoder, cfg.log_std_init,
            cfg.ortho_init,
        )  # fmt: skip
        self.to(self.device)
        self.optimizers = {"policy": make_adam_eps(self.policy.parameters(), cfg.learning_rate, cfg.adam_eps)}
        self.learning_rate = cfg.learning_rate

    def set_progress(self, remaining: float) -> None:
        """With `anneal_lr`, learning rate = learning_rate x remaining."""
        if self.config.anneal_lr:
            self.learning_rate = self.config.learning_rate * remaining
            set_learning_rate(self.optimizers["policy"], self.learning_rate)

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        """Actions of the greedy option of pi_Omega (a stateless view; the agent runs options call-and-return)."""
        out = self.policy(obs)
        actions = self.policy.sample_actions(out, out.master_log_probs.argmax(-1), deterministic)
        return actions if self.policy.is_discrete else actions.clamp(-1.0, 1.0)

    def low_loss(self, out: OptionOutputs, batch: OptionRolloutBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """PPO's clipped loss of the intra-option policies, their entropy bonus and the critic's Q_Omega(s, w) error."""
        cfg = self.config
        log_probs = action_log_prob(out, batch.options, batch.actions)  # (B,)
        entropy = action_entropy(out, batch.options).mean()
        value_loss = (select(out.q, batch.options) - batch.returns).pow(2).mean()
        return ppo_terms(log_probs, batch.log_probs, batch.advantages, entropy, value_loss, cfg)

    def _step(self, loss: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        zero_grad(params)
        loss.backward()
        if self.config.max_grad_norm > 0:
            clip_grad_norm(params, self.config.max_grad_norm)
        self.optimizers["policy"].step()
        self.n_updates += 1

    def _run_epochs(self, batch: OptionRolloutBatch, loss_fn, prefix: str) -> dict[str, float]:  # noqa: ANN001
        """`n_epochs` passes of `loss_fn(out, minibatch)` steps; the mean of each stat under `prefix`."""
        params = list(self.policy.parameters())
        history: dict[str, list[torch.Tensor]] = {}
        for _ in range(self.config.n_epochs):
            for minibatch in shuffled_minibatches(batch, self.config.batch_size, self.device):
                loss, info = loss_fn(self.policy(minibatch.obs), minibatch)
                for key, value in info.items():
                    history.setdefault(prefix + key, []).append(value)
                self._step(loss, params)
        return {key: torch.stack(values).mean().item() for key, values in history.items()}

    def _option_stats(self, batch: OptionRolloutBatch) -> dict[str, float]:
        """learning_rate, std (Box), and options/*: usage_k (fraction of the rollout's steps option k ran),
        termination_rate (terminations per step with a running option), mean_duration (steps per choice of the
        master)."""
        running = ~batch.starts
        terminated = batch.chose & running
        usage = torch.bincount(batch.options, minlength=self.config.n_options).float() / batch.size
        stats = {
            "learning_rate": self.learning_rate,
            "explained_variance": explained_variance(batch.values, batch.returns),
            "options/termination_rate": terminated.sum().item() / max(1, int(running.sum().item())),
            "options/mean_duration": batch.size / max(1, int(batch.chose.sum().item())),
            **{f"options/usage_{k}": u for k, u in enumerate(usage.tolist())},
        }
        if self.policy.log_std is not None:
            stats["std"] = self.policy.log_std.detach().exp().mean().item()
        return stats


class PPOCLearner(OptionPPOLearner):
    """PPOC: one loss per minibatch, the sum of the module docstring's four terms."""

    config: PPOCConfig

    def minibatch_loss(
        self, out: OptionOutputs, batch: OptionRolloutBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        loss, info = self.low_loss(out, batch)
        term = termination_loss(
            out.termination_logits, out.q.detach(), out.master_log_probs.detach(), batch.prev_options, batch.starts,
            cfg.termination_reg,
        )  # fmt: skip
        master = master_loss(
            out.master_log_probs, batch.options, batch.chose, batch.advantages_master, cfg.master_ent_coef
        )
        info.update(termination_loss=term.detach(), master_loss=master.detach())
        return loss + term + master, info

    def update(self, batch: OptionRolloutBatch) -> UpdateResult:
        if self.config.normalize_advantage:  # over the whole rollout's choices, before the minibatches
            batch = batch._replace(advantages_master=normalize_where(batch.advantages_master, batch.chose))
        stats = self._run_epochs(batch, self.minibatch_loss, "")
        stats.update(self._option_stats(batch))
        return UpdateResult(stats)


class DACLearner(OptionPPOLearner):
    """DAC: PPO on the high MDP and PPO on the low MDP over the same rollout, in an order drawn per update."""

    config: DACConfig

    def high_loss(self, out: OptionOutputs, batch: OptionRolloutBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """PPO's clipped loss of pi_hat over options, its entropy bonus, and the critic's error against R_high."""
        cfg = self.config
        log_pi_hat = high_log_probs(out.termination_logits, out.master_log_probs, batch.prev_options, batch.starts)
        log_probs = select(log_pi_hat, batch.options)  # (B,)
        entropy = -(log_pi_hat.exp() * log_pi_hat).sum(-1).mean()
        value_loss = ((batch.pi_hat * out.q).sum(-1) - batch.returns_high).pow(2).mean()
        return ppo_terms(
            log_probs, batch.log_probs_high, batch.advantages_high, entropy, value_loss, cfg, cfg.ent_coef_high
        )

    def update(self, batch: OptionRolloutBatch) -> UpdateResult:
        # The order of the two MDPs, from torch's global generator (checkpointed) like the minibatches.
        high_first = bool(torch.randint(2, ()).item())
        passes = [(self.high_loss, "high/"), (self.low_loss, "")]
        stats: dict[str, float] = {}
        for loss_fn, prefix in passes if high_first else passes[::-1]:
            stats.update(self._run_epochs(batch, loss_fn, prefix))
        stats.update(self._option_stats(batch))
        return UpdateResult(stats)
