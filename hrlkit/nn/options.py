"""The network of the option learners on PPO (PPOC, DAC): K intra-option policies, K terminations, a policy over
options and an option-value critic, all read from one observation encoder.

    pi_w(a|s)        intra-option policy of option w          K towers   -> (B, K, A) Gaussian means or (B, K, n) logits
    beta_w(s)        termination of option w on arriving in s K towers   -> (B, K) logits, beta = sigmoid(logit)
    pi_Omega(w|s)    policy over options (the master)          1 tower   -> (B, K) log-probabilities
    Q_Omega(s, w)    value of running option w from s          1 tower   -> (B, K)

Each of the 2K + 2 towers is its own MLP (`hidden`, as the reference implementation of DAC gives every option its own
policy and termination body). The towers share their input, so they run as three ensembles (`EnsembleLinear`): the K
intra-option policies, the K terminations with the master, and the critic, each hidden layer one batched matmul per
ensemble rather than 2K + 2 small layers. Three and not one: a loss that does not reach an ensemble leaves its
weights without a gradient, so DAC's pass on one MDP cannot move the other MDP's actor (not even through Adam's
momentum, which a shared weight tensor would carry over). The observation encoder (a Nature CNN on images; flat
observations have none with weights) is shared by all towers and learns in both passes, as in the reference.

The high-level policy of the call-and-return model (Zhang & Whiteson 2019, "DAC: The Double Actor-Critic Architecture
for Learning Options", arXiv:1904.12691, eq. for pi^H): with the previous option w- still running,

    pi_hat(w | s, w-) = (1 - beta_{w-}(s)) 1[w = w-] + beta_{w-}(s) pi_Omega(w|s),     and pi_Omega(w|s) at an episode's start

`high_log_probs` computes log pi_hat for every w from the termination logits without forming beta (logsigmoid and
logaddexp), so probabilities near 0 or 1 keep their precision.

Box actions: a Gaussian with a state-independent log-std per option and dimension, in the normalised space [-1, 1]^A,
unsquashed (the agent clips to [-1, 1] when it sends the action to the env and stores the unclipped sample, as PPO's
`ActorCritic`). Discrete actions: a categorical distribution per option.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn

from hrlkit.errors import HrlkitError
from hrlkit.nn.encoders import FlatEncoder, make_encoder
from hrlkit.nn.mlp import EnsembleLinear
from hrlkit.nn.mlp import activation as activation_class
from hrlkit.nn.policies import HALF_LOG_2PI, _sample_categorical, action_head_size
from hrlkit.types import TensorObs


class OptionOutputs(NamedTuple):
    """Everything the network says about a batch of states.

    Shapes:
        loc: (B, K, A) Gaussian means, or (B, K, n) log-probabilities (log_softmax applied) of each option's policy.
        log_std: (K, A) Gaussian log-stds, or None for Discrete actions.
        termination_logits: (B, K), beta_w(s) = sigmoid(logit).
        master_log_probs: (B, K) log pi_Omega(w|s).
        q: (B, K) Q_Omega(s, w).
    """

    loc: torch.Tensor
    log_std: torch.Tensor | None
    termination_logits: torch.Tensor
    master_log_probs: torch.Tensor
    q: torch.Tensor


def select(values: torch.Tensor, options: torch.Tensor) -> torch.Tensor:
    """Each row's entry for its option: values (B, K, ...), options (B,) int64 -> (B, ...).

    Worked example: values [[1, 2], [3, 4]] and options [1, 0] -> [2, 3].
    """
    # a gather, not values[arange(B), options]: the same entries without building the row index (collection calls this
    # several times per env step)
    index = options.view(-1, 1, *([1] * (values.dim() - 2))).expand(-1, 1, *values.shape[2:])  # (B, 1, ...)
    return values.gather(1, index).squeeze(1)


def action_log_prob(out: OptionOutputs, options: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi_w(a|s) of each row's option w, (B,). Box: log N(a; mean_w, std_w^2) summed over the A dimensions."""
    loc = select(out.loc, options)  # (B, A) means or (B, n) log-probabilities
    if out.log_std is None:
        return loc.gather(-1, actions.long().reshape(-1, 1)).squeeze(-1)
    log_std = out.log_std[options]  # (B, A)
    z = (actions - loc) * torch.exp(-log_std)  # (B, A)
    return (-0.5 * z.pow(2) - log_std - HALF_LOG_2PI).sum(-1)


def action_entropy(out: OptionOutputs, options: torch.Tensor) -> torch.Tensor:
    """H[pi_w(.|s)] of each row's option, (B,)."""
    if out.log_std is None:
        log_p = select(out.loc, options)  # (B, n)
        return -(log_p.exp() * log_p).sum(-1)
    return (0.5 + HALF_LOG_2PI + out.log_std[options]).sum(-1)  # (B,)


def high_log_probs(
    termination_logits: torch.Tensor, master_log_probs: torch.Tensor, prev_options: torch.Tensor, starts: torch.Tensor
) -> torch.Tensor:
    """log pi_hat(w | s, w-) for every option w, (B, K) (the module docstring's formula).

        w = w-:  log((1 - beta) + beta pi_Omega(w-|s)) = logaddexp(log(1 - beta), log beta + log pi_Omega(w-|s))
        w != w-: log beta + log pi_Omega(w|s)
        start:   log pi_Omega(w|s)   (no option runs yet)

    with beta = beta_{w-}(s), log beta = logsigmoid(logit) and log(1 - beta) = logsigmoid(-logit).

    Worked example (K = 2, w- = 0, beta = 0.5, pi_Omega = (0.2, 0.8)): pi_hat = (0.5 + 0.5 * 0.2, 0.5 * 0.8) = (0.6, 0.4).

    Shapes:
        termination_logits, master_log_probs: (B, K); prev_options: (B,) int64; starts: (B,) bool -> (B, K)
    """
    logit = select(termination_logits, prev_options)  # (B,) of the option that brought the env to s
    switched = F.logsigmoid(logit)[:, None] + master_log_probs  # (B, K) terminate, then pick w
    stay = torch.logaddexp(F.logsigmoid(-logit), select(switched, prev_options))  # (B,) continue, or re-pick w-
    is_prev = F.one_hot(prev_options, master_log_probs.shape[1]).bool()  # (B, K)
    mixed = torch.where(is_prev, stay[:, None], switched)  # (B, K)
    return torch.where(starts[:, None], master_log_probs, mixed)


def _orthogonal_(weight: torch.Tensor, bias: torch.Tensor, gain: float) -> None:
    """Orthogonal init of each ensemble member's (in, out) weight, zero bias."""
    with torch.no_grad():
        for w in weight if weight.dim() == 3 else [weight]:
            nn.init.orthogonal_(w, gain)
        bias.zero_()


class OptionActorCritic(nn.Module):
    """pi_w, beta_w, pi_Omega and Q_Omega (see the module docstring) over Box or Discrete actions.

    Args:
        obs_space: observation space (Box, Dict of Boxes, Discrete, or uint8 images for the Nature CNN).
        action_space: 1-D Box (normalised to [-1, 1]^A by the agent) or Discrete.
        n_options: K.
        hidden: hidden layer sizes of every tower (empty: the heads read the encoder's features).
        activation: tanh, relu, elu or gelu.
        encoder: `make_encoder` kind (auto, mlp or nature_cnn), shared by all towers.
        log_std_init: initial log-std of every option's Gaussian.
        ortho_init: orthogonal init, gain sqrt(2) for hidden layers, 0.01 for the policy, termination and master heads
            (near-uniform policies, beta near 1/2 at the start), 1 for the critic head; zero biases. False: PyTorch's
            defaults.

    Shapes:
        forward: obs (B, ...) -> OptionOutputs (see there)
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        n_options: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        encoder: str = "auto",
        log_std_init: float = 0.0,
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        self.is_discrete, out_dim = action_head_size(action_space, "option learners")
        if n_options < 1:
            raise HrlkitError(f"n_options must be >= 1, got {n_options}")
        K = self.n_options = int(n_options)
        self.out_dim = out_dim
        self.encoder = make_encoder(obs_space, encoder)
        self._flat = isinstance(self.encoder, FlatEncoder)
        # Three stacks of towers, one weight tensor per stack and layer: the K intra-option policies (the low MDP's
        # actor), the K terminations and the master (the high MDP's actor), the critic. A loss that does not reach a
        # stack leaves its gradient None, so Adam leaves it alone too (no step from momentum): DAC's high pass never
        # moves the intra-option policies and its low pass never moves beta or pi_Omega.
        dims = [self.encoder.dim, *hidden]
        layers = list(zip(dims[:-1], dims[1:], strict=False))
        self.stack_sizes = {"policy": K, "high": K + 1, "critic": 1}
        self.towers = nn.ModuleDict({
            name: nn.ModuleList(EnsembleLinear(size, a, b) for a, b in layers)
            for name, size in self.stack_sizes.items()
        })  # fmt: skip
        self.act_fn = activation_class(activation)()
        latent = dims[-1]
        self.policy_head = EnsembleLinear(K, latent, out_dim)
        self.termination_head = EnsembleLinear(K, latent, 1)
        self.master_head = nn.Linear(latent, K)
        self.q_head = nn.Linear(latent, K)
        self.log_std = None if self.is_discrete else nn.Parameter(torch.full((K, out_dim), float(log_std_init)))
        if ortho_init:
            for module in self.encoder.modules():
                if isinstance(module, nn.Linear | nn.Conv2d):
                    _orthogonal_(module.weight, module.bias, math.sqrt(2.0))
            for stack in self.towers.values():
                for layer in stack:
                    _orthogonal_(layer.weight, layer.bias, math.sqrt(2.0))
            for head, gain in ((self.policy_head, 0.01), (self.termination_head, 0.01), (self.master_head, 0.01)):
                _orthogonal_(head.weight, head.bias, gain)
            _orthogonal_(self.q_head.weight, self.q_head.bias, 1.0)

    def features(self, obs: TensorObs) -> torch.Tensor:
        """The encoder's output, (B, F) float."""
        if self._flat:
            return self.encoder.flatten(obs)  # type: ignore[union-attr,operator]
        return self.encoder(obs)

    def _stack(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A stack's towers on the features: (B, F) -> (E, B, H), one batched matmul per layer (E: its towers; with no
        hidden layers, E copies of the features). Each layer's `forward` is called directly, without the module call's
        hook checks (as `hrlkit.nn.policies._run`; hrlkit registers no hooks)."""
        h = x.unsqueeze(0).expand(self.stack_sizes[name], *x.shape)  # (E, B, F), a view
        act = self.act_fn.forward
        for layer in self.towers[name]._modules.values():
            h = act(layer.forward(h))  # (E, B, H)
        return h

    def forward(self, obs: TensorObs) -> OptionOutputs:
        K = self.n_options
        x = self.features(obs)  # (B, F)
        h_policy, h_high, h_critic = (self._stack(name, x) for name in ("policy", "high", "critic"))
        modules = self._modules
        loc = modules["policy_head"].forward(h_policy).transpose(0, 1)  # (B, K, A)
        if self.is_discrete:
            loc = torch.log_softmax(loc, dim=-1)
        termination_logits = modules["termination_head"].forward(h_high[:K]).squeeze(-1).transpose(0, 1)  # (B, K)
        master_log_probs = torch.log_softmax(modules["master_head"].forward(h_high[K]), dim=-1)  # (B, K)
        q = modules["q_head"].forward(h_critic[0])  # (B, K)
        return OptionOutputs(loc, self.log_std, termination_logits, master_log_probs, q)

    def sample_actions(
        self, out: OptionOutputs, options: torch.Tensor, deterministic: bool, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Actions of each row's option: (B, A) unclipped Gaussian samples (the mean when deterministic) or (B,)
        int64 (the argmax when deterministic), drawn from `generator` (default: torch's global one)."""
        loc = select(out.loc, options)
        if out.log_std is None:
            return loc.argmax(-1) if deterministic else sample_categorical(loc.exp(), generator)
        if deterministic:
            return loc
        noise = torch.randn(loc.shape, dtype=loc.dtype, device=loc.device, generator=generator)
        return loc + out.log_std[options].exp() * noise


def sample_categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row of probs (B, n) -> (B,) int64; from torch's global generator, the draw of PPO's policy
    (`hrlkit.nn.policies._sample_categorical`), otherwise the same exponential race on `generator`."""
    if generator is None:
        return _sample_categorical(probs)
    return torch.argmax(probs / torch.empty_like(probs).exponential_(1, generator=generator), dim=-1)
