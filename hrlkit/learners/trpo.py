"""Natural Policy Gradient and Trust Region Policy Optimization: a KL-sized natural-gradient step on the surrogate.

Kakade 2001, "A Natural Policy Gradient" (NeurIPS); Schulman et al. 2015, "Trust Region Policy Optimization"
(arXiv:1502.05477), Eq. 14 and Appendix C; the KL-normalised NPG step of Rajeswaran et al. 2017 (arXiv:1703.02660).

    L(theta)  = mean r(theta) A~,  r = pi_theta(a|s) / pi_old(a|s)          (the surrogate; A~ standardised)
    KL(theta) = mean_s KL(pi_old(.|s) || pi_theta(.|s))                      (TRPO's constraint, Eq. 12)
    F         = Hessian of KL(theta) at theta_old + damping I               (the Fisher matrix of pi, damped)
    s         = F^-1 g,  g = grad L(theta_old)                              (conjugate gradient, F v by double backprop)
    step      = beta s,  beta = sqrt(2 target_kl / (s^T F s))               (so that 1/2 step^T F step = target_kl)

NPG takes `step` as it is. TRPO backtracks: it tries theta_old + shrink^k step for k = 0 .. line_search_max_iter - 1
and keeps the first candidate whose measured mean KL is <= target_kl and whose surrogate beats L(theta_old); if none
qualifies, the parameters are restored (Appendix C).

Non-obvious details:
* F v never builds F: g_KL = grad KL(theta) is computed once with `create_graph=True`; each CG iteration
  differentiates g_KL . v, which is F v (the KL's gradient vanishes at theta_old, so its Hessian is the Fisher).
* The gradient and the Fisher cover the parameters pi depends on (`ActorCritic.policy_parameters()`, the shared
  tower included when `shared_encoder`); the value function has its own Adam (learning_rate) over the value-only
  parameters, `n_critic_updates` passes of minibatches of `batch_size`, after the policy step (sb3-contrib).
* One policy step per rollout, on the full batch.

Deviation: KL(pi_old || pi_theta), the paper's direction, where sb3-contrib measures KL(pi_theta || pi_old); the
    two have the same Hessian at theta_old, so the step is the same and only the line search's KL check differs, at
    third order in the step.
Deviation: the acceptance test is KL <= target_kl (Spinning Up); sb3-contrib uses a strict <.
Deviation: `kl_divergence_loss` is the KL of the parameters kept after the update (0 when the line search fails);
    sb3-contrib logs the KL of the last candidate it tried.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

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
from hrlkit.nn.policies import PolicyParams
from hrlkit.types import RolloutBatch, TensorObs, UpdateResult


# ------------------------------------------------------------------------------------------------ pure functions
def flat_grad(
    output: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool | None = None, create_graph: bool = False
) -> torch.Tensor:
    """d output / d params as one flat vector; parameters `output` does not depend on get zeros.

    `retain_graph` defaults to `create_graph`, as in `torch.autograd.grad`: a gradient that will be differentiated
    again needs the graph it came from.

    Shapes:
        output: () scalar -> (P,), P = total number of elements in `params`
    """
    grads = torch.autograd.grad(output, params, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params, strict=True)]
    )


def fisher_vector_product(
    kl_grad: torch.Tensor, params: Sequence[torch.Tensor], vector: torch.Tensor, damping: float = 0.0
) -> torch.Tensor:
    """(F + damping I) v with F the Hessian of the mean KL, by differentiating (grad KL) . v once more.

    `kl_grad` must come from `flat_grad(kl, params, create_graph=True)`; its graph is kept, so the product can be
    taken again for each conjugate-gradient iteration.

    Shapes:
        kl_grad, vector: (P,) -> (P,)
    """
    return flat_grad((kl_grad * vector.detach()).sum(), params, retain_graph=True) + damping * vector


def conjugate_gradient(
    fvp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, max_steps: int, residual_tol: float = 1e-10
) -> torch.Tensor:
    """x ~= A^-1 b for a symmetric positive-definite A given only as v -> A v (Nocedal & Wright, Algorithm 5.2).

    Starts from x = 0 and stops after `max_steps` products or once the squared residual |b - A x|^2 < residual_tol.

    Shapes:
        b: (P,) -> (P,)
    """
    x = torch.zeros_like(b)
    residual = b.clone()  # r = b - A x with x = 0
    direction = b.clone()
    residual_sq = residual @ residual
    for _ in range(max_steps):
        if residual_sq < residual_tol:
            break
        a_dir = fvp(direction)  # (P,)
        alpha = residual_sq / (direction @ a_dir)  # exact minimiser along `direction` of 1/2 x^T A x - b^T x
        x = x + alpha * direction
        residual = residual - alpha * a_dir
        new_residual_sq = residual @ residual
        # The next direction is A-conjugate to all previous ones (Gram-Schmidt on the residual in the A inner product).
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


@torch.no_grad()
def _set_flat(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    for p, chunk in zip(params, flat.split([p.numel() for p in params]), strict=True):
        p.copy_(chunk.view_as(p))


# --------------------------------------------------------------------------------------------------------- configs
@dataclass
class NPGConfig(OnPolicyConfig):
    """Natural Policy Gradient with the step sized to a KL radius; defaults are sb3-contrib's TRPO's."""

    learning_rate: float = 1e-3
    """value-function learning rate (Adam); the policy step size comes from target_kl"""
    batch_size: int = 128
    """value-function minibatch size"""
    n_critic_updates: int = 10
    """value-function passes over the rollout per update"""
    cg_max_steps: int = 15
    """conjugate-gradient iterations to solve F s = g"""
    cg_damping: float = 0.1
    """damping added to the Fisher matrix: (F + cg_damping I) s = g"""
    target_kl: float = 0.01
    """KL radius of the step: 1/2 step^T F step = target_kl (delta in the TRPO paper)"""


@dataclass
class TRPOConfig(NPGConfig):
    """Trust Region Policy Optimization (Schulman et al. 2015); defaults are sb3-contrib's."""

    line_search_shrinking_factor: float = 0.8
    """backtracking line search: each rejected step is shrunk by this factor"""
    line_search_max_iter: int = 10
    """backtracking line search: candidate steps tried before the old parameters are kept"""


# -------------------------------------------------------------------------------------------------------- learners
class NPGLearner(Learner[RolloutBatch]):
    """Natural policy gradient: the full KL-sized natural step, no line search. See the module docstring.

    The agent calls `set_progress(1 - env_steps / total_env_steps)` before each `update` (annealing the value-function
    learning rate when `anneal_lr`; the policy step is sized by target_kl, not by a learning rate), and `update` with
    the whole rollout. `n_updates` counts policy steps (one per update).

    Shapes:
        act: obs (B, ...) -> actions (B, A) in [-1, 1], or (B,) int64
        update: a RolloutBatch of N = n_steps x n_envs rows
    """

    config: NPGConfig
    _line_search = False  # whether the stats carry line-search keys (TRPOLearner)

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, config: NPGConfig, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(obs_space, action_space, device)
        self.config = cfg = config
        self.policy = make_policy(obs_space, action_space, cfg)
        self.to(self.device)
        self._pi_params: list[nn.Parameter] = self.policy.policy_parameters()
        self.optimizers = {"value": make_adam(self.policy.value_parameters(), cfg.learning_rate)}
        self.learning_rate = cfg.learning_rate

    def set_progress(self, remaining: float) -> None:
        """With `anneal_lr`, the value learning rate = learning_rate x remaining (1 at the start, 0 at the end)."""
        if self.config.anneal_lr:
            self.learning_rate = self.config.learning_rate * remaining
            set_learning_rate(self.optimizers["value"], self.learning_rate)

    @torch.no_grad()
    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        return clip_box_actions(self.policy, obs, deterministic)

    # ------------------------------------------------------------------------------------------------------ losses
    def surrogate(self, params: PolicyParams, batch: RolloutBatch, advantages: torch.Tensor) -> torch.Tensor:
        """L = mean exp(log pi(a|s) - log pi_old(a|s)) A~ (arXiv:1502.05477, Eq. 14), to be maximised."""
        log_probs = self.policy.log_prob(params, batch.actions)  # (N,)
        return ((log_probs - batch.log_probs).exp() * advantages).mean()

    def _evaluate(
        self, batch: RolloutBatch, advantages: torch.Tensor, old: PolicyParams
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(surrogate, mean KL from `old`) at the current parameters, without gradients."""
        with torch.no_grad():
            params = self.policy.pi_params(batch.obs)
            return self.surrogate(params, batch, advantages), self.policy.kl(old, params).mean()

    def _apply_step(
        self,
        batch: RolloutBatch,
        advantages: torch.Tensor,
        old: PolicyParams,
        objective: torch.Tensor,
        old_flat: torch.Tensor,
        full_step: torch.Tensor,
    ) -> tuple[float, dict[str, float]]:
        """Move to theta_old + c full_step; return c (0: step rejected) and extra stats. NPG: always c = 1."""
        _set_flat(self._pi_params, old_flat + full_step)
        return 1.0, {}

    # ------------------------------------------------------------------------------------------------------ update
    def update(self, batch: RolloutBatch) -> UpdateResult:
        cfg = self.config
        params = self._pi_params
        advantages = normalize(batch.advantages) if cfg.normalize_advantage else batch.advantages
        pi = self.policy.pi_params(batch.obs)
        # Clone, not just detach: log_std IS a parameter, and the step below overwrites parameters in place.
        old = PolicyParams(pi.loc.detach(), None if pi.log_std is None else pi.log_std.detach().clone())
        objective = self.surrogate(pi, batch, advantages)
        kl = self.policy.kl(old, pi).mean()  # 0 at theta_old, but its graph carries the curvature

        grad = flat_grad(objective, params, retain_graph=True)  # (P,) g
        kl_grad = flat_grad(kl, params, create_graph=True)  # (P,) grad KL, differentiable once more
        fvp = functools.partial(fisher_vector_product, kl_grad, params, damping=cfg.cg_damping)
        direction = conjugate_gradient(fvp, grad, cfg.cg_max_steps)  # (P,) s ~= F^-1 g
        curvature = (direction @ fvp(direction)).item()  # s^T F s
        del fvp, kl_grad  # frees the double-backprop graph before the value fit

        # s^T F s = 0 happens when g = 0 (e.g. all advantages equal): there is no direction to move in.
        if curvature > 0 and math.isfinite(curvature):
            max_step = math.sqrt(2.0 * cfg.target_kl / curvature)  # beta
            old_flat = torch.cat([p.detach().reshape(-1) for p in params])  # (P,)
            coeff, extra = self._apply_step(batch, advantages, old, objective.detach(), old_flat, max_step * direction)
        else:
            max_step, coeff = 0.0, 0.0
            extra = {"is_line_search_success": 0.0, "line_search_iterations": 0.0} if self._line_search else {}
        new_objective, new_kl = self._evaluate(batch, advantages, old)
        self.n_updates += 1

        value_loss = fit_value_function(
            self.policy, self.optimizers["value"], batch, cfg.n_critic_updates, cfg.batch_size
        )
        return UpdateResult(
            {
                "policy_objective": objective.item(),
                "policy_objective_improvement": (new_objective - objective).item(),
                "kl_divergence_loss": new_kl.item(),
                "step_size": coeff * max_step,
                **extra,
                "value_loss": value_loss,
                "explained_variance": explained_variance(batch.values, batch.returns),
                "learning_rate": self.learning_rate,
                **policy_std(self.policy),
            }
        )


class TRPOLearner(NPGLearner):
    """TRPO: NPG's step, shrunk by a backtracking line search on the KL limit and the surrogate (Appendix C).

    Same contract as `NPGLearner`; stats add `is_line_search_success` (1 or 0) and `line_search_iterations`.
    """

    config: TRPOConfig
    _line_search = True

    def _apply_step(
        self,
        batch: RolloutBatch,
        advantages: torch.Tensor,
        old: PolicyParams,
        objective: torch.Tensor,
        old_flat: torch.Tensor,
        full_step: torch.Tensor,
    ) -> tuple[float, dict[str, float]]:
        cfg = self.config
        coeff = 1.0
        for k in range(cfg.line_search_max_iter):
            _set_flat(self._pi_params, old_flat + coeff * full_step)
            new_objective, new_kl = self._evaluate(batch, advantages, old)
            if new_kl <= cfg.target_kl and new_objective > objective:
                return coeff, {"is_line_search_success": 1.0, "line_search_iterations": float(k + 1)}
            coeff *= cfg.line_search_shrinking_factor
        _set_flat(self._pi_params, old_flat)  # no acceptable step: keep the old policy
        return 0.0, {"is_line_search_success": 0.0, "line_search_iterations": float(cfg.line_search_max_iter)}
