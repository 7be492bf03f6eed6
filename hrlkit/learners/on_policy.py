"""What the on-policy learners (PPO, TRPO, NPG, VPG) share: the base config, the policy factory, small helpers.

The learners receive the WHOLE rollout as one `RolloutBatch`, flattened over (steps, envs), with GAE advantages and
TD(lambda) returns already computed by the agent (Schulman et al. 2016, arXiv:1506.02438). The fields `n_steps`,
`gamma`, `gae_lambda`, `normalize_obs`, `normalize_reward`, `obs_clip` and `reward_clip` of `OnPolicyConfig` are read
by the agent, not by the learners; they live here because they belong to the algorithm's configuration.

The agent's side of the contract:
* collect with `learner.policy(obs)` under `torch.no_grad()`, which returns (actions, values, log_probs) with Box
  actions unclipped; clip to [-1, 1] only when scaling the action to env bounds, and store the unclipped sample;
* bootstrap truncated episodes and the last step with `learner.policy.value(obs)`;
* call `learner.set_progress(1 - env_steps / total_env_steps)` before each `update` (learning-rate annealing).

With `shared_encoder`, PPO trains the shared tower with its one combined loss; TRPO, NPG and VPG give the tower to the
policy step and fit only the value head with the value loss (as sb3-contrib's TRPO does), so the value fit never moves
the policy after its step.

Each learner exposes its network as `self.policy` (an `hrlkit.nn.ActorCritic`) and its optimizers in
`self.optimizers`; minibatch permutations come from `torch.randperm` on the global generator, which checkpoints save.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import gymnasium as gym
import torch
from torch import nn

from hrlkit.nn.policies import ActorCritic
from hrlkit.types import OptionRolloutBatch, RolloutBatch, TensorObs

B = TypeVar("B", RolloutBatch, OptionRolloutBatch)


@dataclass
class OnPolicyConfig:
    """Fields every on-policy learner has (the network, the rollout, normalisation)."""

    # network
    hidden: tuple[int, ...] = (64, 64)
    """hidden layer sizes after the encoder, for the policy and for the value network each"""
    activation: str = "tanh"
    """activation between hidden layers: tanh, relu, elu or gelu"""
    encoder: str = "auto"
    """observation encoder: auto (Nature CNN for uint8 image observations, else flat), mlp or nature_cnn"""
    shared_encoder: bool = False
    """one tower (encoder and hidden layers) feeds both the policy and the value head (the Atari setting, with
    hidden=()); false: separate policy and value networks"""
    log_std_init: float = 0.0
    """initial log standard deviation of the Gaussian policy (Box actions, in the normalised [-1, 1] space)"""
    ortho_init: bool = True
    """orthogonal initialisation: gain sqrt(2) for hidden layers, 0.01 for the policy head, 1 for the value head"""
    # rollout (read by the agent)
    n_steps: int = 2048
    """vector steps per env per rollout: a rollout holds n_steps x n_envs transitions"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda: 0 gives one-step TD advantages, 1 Monte-Carlo returns minus V"""
    normalize_advantage: bool = True
    """standardise advantages (zero mean, unit std) before the policy loss"""
    # normalisation (read by the agent)
    normalize_obs: bool = False
    """normalise observations by running mean and std (VecNormalize)"""
    normalize_reward: bool = False
    """scale rewards by the running std of the discounted return (VecNormalize)"""
    obs_clip: float = 10.0
    """clip normalised observations to [-obs_clip, obs_clip]"""
    reward_clip: float = 10.0
    """clip scaled rewards to [-reward_clip, reward_clip]"""
    anneal_lr: bool = False
    """anneal the learning rate(s) linearly to 0 over the run"""


def make_policy(obs_space: gym.Space, action_space: gym.Space, cfg: OnPolicyConfig) -> ActorCritic:
    """The `ActorCritic` a config describes."""
    return ActorCritic(
        obs_space, action_space, cfg.hidden, cfg.activation, cfg.encoder, cfg.shared_encoder, cfg.log_std_init,
        cfg.ortho_init,
    )  # fmt: skip


def make_adam_eps(params: Iterable[nn.Parameter], lr: float, eps: float) -> torch.optim.Adam:
    """Adam with a chosen epsilon (PPO uses 1e-5), fused when the build has the kernel."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):  # older builds or devices without a fused kernel
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / (std + eps) with the unbiased std, as SB3 and CleanRL; a single element is left as it is.

    Shapes:
        x: (N,) -> (N,)
    """
    if x.numel() <= 1:  # the std of one sample is undefined (NaN)
        return x
    return (x - x.mean()) / (x.std() + eps)


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var[returns - values] / Var[returns]: 1 is a perfect fit, 0 no better than a constant, NaN if Var = 0.

    Shapes:
        values, returns: (N,)
    """
    var_returns = returns.var(unbiased=False)
    if var_returns == 0:
        return float("nan")
    return float(1.0 - (returns - values).var(unbiased=False) / var_returns)


def minibatches(n: int, batch_size: int | None, device: torch.device) -> Iterator[torch.Tensor]:
    """Index tensors (M,) that cover a random permutation of range(n) in chunks of `batch_size`.

    The last chunk is smaller when batch_size does not divide n (SB3 keeps it too). batch_size None: one full batch.
    The permutation uses the global torch generator (checkpoints save its state), drawn on the CPU for
    device-independent results.
    """
    perm = torch.randperm(n).to(device)
    step = n if batch_size is None else batch_size
    for start in range(0, n, step):
        yield perm[start : start + step]


def shuffled_minibatches(batch: B, batch_size: int | None, device: torch.device) -> Iterator[B]:
    """The minibatches `batch.take(index)` for each `index` of `minibatches(batch.size, batch_size, device)`, the same
    rows in the same order from the same permutation, but gathered once per pass: the whole batch is permuted with one
    index per field, and each minibatch is a run of consecutive rows of it (views, no copies).

    Worked example: n = 6, batch_size 4, perm = [3, 0, 5, 1, 4, 2]: the shuffled batch holds rows 3, 0, 5, 1, 4, 2,
    and the minibatches are its rows [0:4] (original rows 3, 0, 5, 1) and [4:6] (4, 2), as `minibatches` gives them.
    A PPO update takes hundreds of minibatches, and six gathers per minibatch cost about twice these six slices.
    """
    n = batch.size
    perm = torch.randperm(n).to(device)  # the same draw from the global generator as `minibatches`
    shuffled = batch.take(perm)
    step = n if batch_size is None else batch_size
    if step >= n:
        yield shuffled
        return
    for start in range(0, n, step):
        rows = slice(start, start + step)
        obs = shuffled.obs
        obs = {k: v[rows] for k, v in obs.items()} if isinstance(obs, dict) else obs[rows]
        yield type(shuffled)(obs, *(t[rows] for t in shuffled[1:]))


def zero_grad(params: Sequence[torch.Tensor]) -> None:
    """`optimizer.zero_grad()` (set_to_none, the default) for a known list of parameters, without the optimizer's
    per-call bookkeeping."""
    for p in params:
        p.grad = None


@torch.no_grad()
def clip_grad_norm(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_(params, max_norm)` (2-norm, foreach) for parameters on one device with one
    dtype, as every `ActorCritic` has: the same ops in the same order, so the same gradients bit for bit, without the
    per-call grouping by device and dtype, which costs as much as the arithmetic for a 64-64 network.

        total = || (||g_1||, ..., ||g_k||) ||,   g_i <- g_i * min(max_norm / (total + 1e-6), 1)
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads, 2.0)  # one 0-d norm per parameter
    total = torch.linalg.vector_norm(torch.stack(norms), 2.0)  # ()
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def clip_box_actions(policy: ActorCritic, obs: TensorObs, deterministic: bool) -> torch.Tensor:
    """`Learner.act`: actions in the learner's normalised space, so Box actions are clipped to [-1, 1]."""
    actions = policy.act(obs, deterministic)
    return actions if policy.is_discrete else actions.clamp(-1.0, 1.0)


def policy_std(policy: ActorCritic) -> dict[str, float]:
    """{"std": mean Gaussian standard deviation} for Box policies (SB3's `train/std`), {} for categorical ones."""
    return {} if policy.log_std is None else {"std": policy.log_std.detach().exp().mean().item()}


def value_loss(policy: ActorCritic, batch: RolloutBatch) -> torch.Tensor:
    """mean (V(s) - R)^2 against the TD(lambda) returns (SB3's `F.mse_loss`, without a 1/2)."""
    return (policy.value(batch.obs) - batch.returns).pow(2).mean()


def fit_value_function(
    policy: ActorCritic, optimizer: torch.optim.Optimizer, batch: RolloutBatch, epochs: int, batch_size: int | None
) -> float:
    """`epochs` passes of `value_loss` steps over shuffled minibatches; the mean loss (NaN when epochs is 0).

    Only the parameters in `optimizer` receive gradients (`backward(inputs=...)`), so with a shared tower the policy's
    weights are neither stepped nor left with stale `.grad`s.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    losses = []
    for _ in range(epochs):
        for minibatch in shuffled_minibatches(batch, batch_size, params[0].device):
            loss = value_loss(policy, minibatch)
            zero_grad(params)
            loss.backward(inputs=params)
            optimizer.step()
            losses.append(loss.detach())
    return torch.stack(losses).mean().item() if losses else float("nan")
