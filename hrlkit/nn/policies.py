"""The actor-critic network of the on-policy learners (PPO, TRPO, NPG, VPG): a stochastic policy and a state value.

Box actions get a diagonal Gaussian with a state-independent log-std (Schulman et al. 2015, arXiv:1502.05477,
Section 8, "the standard deviations ... are state-independent parameters"), in the learner's normalised action space
[-1, 1]^A. The sample is *not* squashed or clipped here: the agent clips to [-1, 1] when it sends the action to the
env, and the rollout stores the unclipped sample, so the log-probs the learner recomputes are those of the sample
actually drawn (Stable-Baselines3 does the same). Discrete actions get a categorical distribution over logits.

Gaussian log-probs, entropies and KL divergences are written out by hand rather than through `torch.distributions`:
they are exact, avoid the per-call argument checks, and let the log-std stay one (A,) vector instead of a (B, A) copy.

Speed: a PPO update is hundreds of minibatch steps of a 64-64 network and collection is one forward pass per vector
step, so what each call costs besides the arithmetic matters as much as the arithmetic. The forward passes therefore
call each layer's `forward` directly (`_run`: the same ops as `nn.Sequential`, without the per-module `__call__` and its
hook checks), compute flat features once for both towers (a flat encoder has no weights), and draw categorical actions
with the exponential-race form of `torch.multinomial` (`_sample_categorical`) without its input checks. All of it
computes exactly what the plain module calls would, bit for bit, from the same random draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from hrlkit.errors import HrlkitError
from hrlkit.nn.encoders import FlatEncoder, make_encoder
from hrlkit.nn.mlp import activation
from hrlkit.types import TensorObs

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class PolicyParams(NamedTuple):
    """The parameters of pi(.|s) for a batch of states.

    Shapes:
        loc: (B, A) Gaussian means, or (B, n) *normalised* logits (log-probabilities, log_softmax applied).
        log_std: (A,) state-independent Gaussian log-std, or None for categorical policies.
    """

    loc: torch.Tensor
    log_std: torch.Tensor | None


def _trunk(in_dim: int, hidden: Sequence[int], act: str) -> nn.Sequential:
    """Linear + activation per hidden size (an activation after the last one too: heads follow)."""
    layers: list[nn.Module] = []
    for out_dim in hidden:
        layers += [nn.Linear(in_dim, out_dim), activation(act)()]
        in_dim = out_dim
    return nn.Sequential(*layers)


def _linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)` for an `nn.Linear`: `F.linear` on its parameters, read from `_parameters` directly (`layer.weight`
    goes through `Module.__getattr__`, a Python fallback that costs as much as a small op)."""
    params = layer._parameters
    return F.linear(x, params["weight"], params["bias"])


def _run(seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`seq(x)` for an `nn.Sequential` of linear layers and activations: the same ops, without the per-module
    `__call__` (hook checks), which at batch 1-64 costs about a fifth of a 64-unit layer. Hooks on the layers are not
    run; hrlkit registers none."""
    for layer in seq._modules.values():
        kind = type(layer)
        if kind is nn.Linear:
            x = _linear(layer, x)
        elif kind is nn.Tanh:
            x = torch.tanh(x)  # nn.Tanh.forward
        else:
            x = layer.forward(x)
    return x


def _sample_categorical(probs: torch.Tensor) -> torch.Tensor:
    """One draw per row of `probs` (B, n), bit for bit what `torch.multinomial(probs, 1).squeeze(-1)` draws.

    For one sample, `torch.multinomial` takes the exponential race: with q_i ~ Exp(1) drawn by `exponential_` from the
    same generator, argmax_i p_i / q_i is distributed as Categorical(p) (argmax_i log p_i + Gumbel_i after a monotone
    transform). Here without its input checks (a min, a max and a sum over the probabilities, each synced to Python),
    which cost twice the draw itself; log_softmax probabilities are valid by construction.

    Shapes:
        probs: (B, n) -> (B,) int64
    """
    return torch.argmax(probs / torch.empty_like(probs).exponential_(1), dim=-1)


def action_head_size(action_space: gym.Space, who: str) -> tuple[bool, int]:
    """(is_discrete, outputs of the policy head): (False, A) for a 1-D Box, (True, n) for Discrete(n); any other space
    is refused in one line naming `who` (e.g. "on-policy learners")."""
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return False, int(action_space.shape[0])
    if isinstance(action_space, gym.spaces.Discrete):
        return True, int(action_space.n)
    raise HrlkitError(
        f"{who} support 1-D Box or Discrete action spaces, got {action_space}: flatten the action space with a wrapper "
        "or pick another env"
    )


def _orthogonal_init(module: nn.Module, gain: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


class ActorCritic(nn.Module):
    """pi(a|s) and V(s) for the on-policy learners, in the style of Stable-Baselines3's `ActorCriticPolicy`.

    Architecture:
        shared=False (default; SB3 `MlpPolicy`): two towers, encoder -> `hidden` MLP -> head, one for the policy and
            one for the value. No parameter is shared, so a value update never moves the policy.
        shared=True (SB3 `CnnPolicy` / the Atari PPO of Schulman et al. 2017): ONE tower, encoder -> `hidden` MLP,
            feeds both heads. Unlike SB3, which shares only the features extractor and keeps separate pi/vf MLPs, we
            share the hidden layers too: for flat observations the encoder has no weights, so sharing only it would
            make the flag a no-op. For the Atari setting use `hidden=()`: Nature CNN (512 features) -> two linear heads.

    Orthogonal init (`ortho_init`, Engstrom et al. 2020 arXiv:2005.12729 and SB3/CleanRL): gain sqrt(2) for the
    encoder and hidden layers, 0.01 for the policy head (near-uniform initial policy), 1.0 for the value head, zero
    biases.

    Args:
        obs_space: observation space (Box, Dict of Boxes, Discrete, or uint8 images for the Nature CNN).
        action_space: Box (1-D, normalised to [-1, 1]^A by the agent) or Discrete.
        hidden: hidden layer sizes after the encoder, per tower.
        activation: activation of the hidden layers: tanh (SB3 default for on-policy), relu, elu or gelu.
        encoder: `hrlkit.nn.encoders.make_encoder` kind: auto, mlp or nature_cnn.
        shared: one tower for both heads (see above).
        log_std_init: initial log-std of the Gaussian (0: std 1 in the normalised action space).
        ortho_init: orthogonal initialisation (see above); False keeps PyTorch's default init.

    Shapes:
        forward: obs (B, ...) -> actions (B, A) float32 or (B,) int64, values (B,), log_probs (B,)
        value: obs (B, ...) -> (B,)
        evaluate_actions: obs (B, ...), actions (B, A) or (B,) -> values (B,), log_probs (B,), entropy (B,)
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        encoder: str = "auto",
        shared: bool = False,
        log_std_init: float = 0.0,
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        self.is_discrete, out_dim = action_head_size(action_space, "on-policy learners")
        self.shared = shared
        self.pi_encoder = make_encoder(obs_space, encoder)
        # A flat encoder has no weights: both towers read the same features, computed once per forward pass. For a
        # 1-D Box the features of a (B, D) batch are the batch itself as float (the flattening reshape is a no-op).
        self._flat = isinstance(self.pi_encoder, FlatEncoder)
        self._flat_box = self._flat and isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1
        self.pi_net = _trunk(self.pi_encoder.dim, hidden, activation)
        if shared:
            self.vf_encoder: nn.Module | None = None
            self.vf_net: nn.Module | None = None
        else:
            self.vf_encoder = make_encoder(obs_space, encoder)
            self.vf_net = _trunk(self.vf_encoder.dim, hidden, activation)
        latent_dim = hidden[-1] if len(hidden) else self.pi_encoder.dim
        self.action_net = nn.Linear(latent_dim, out_dim)
        self.value_net = nn.Linear(latent_dim, 1)
        self.log_std = None if self.is_discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))
        if ortho_init:
            for tower in (self.pi_encoder, self.pi_net, self.vf_encoder, self.vf_net):
                if tower is not None:
                    _orthogonal_init(tower, math.sqrt(2.0))
            _orthogonal_init(self.action_net, 0.01)
            _orthogonal_init(self.value_net, 1.0)

    # -------------------------------------------------------------------------------------------- parameter groups
    def value_parameters(self) -> list[nn.Parameter]:
        """Parameters that only the value depends on: the value tower and head (only the head when `shared`)."""
        towers = [] if self.shared else [self.vf_encoder, self.vf_net]
        return [p for m in (*towers, self.value_net) if m is not None for p in m.parameters()]

    def policy_parameters(self) -> list[nn.Parameter]:
        """Parameters pi depends on: its tower (the shared one when `shared`), the action head and the log-std."""
        value_ids = {id(p) for p in self.value_parameters()}
        return [p for p in self.parameters() if id(p) not in value_ids]

    # ----------------------------------------------------------------------------------------------- the networks
    # Submodules are read from `_modules` below for the reason `_linear` gives.
    def _features(self, obs: TensorObs, encoder: str) -> torch.Tensor:
        """The encoder's output (`encoder`: "pi_encoder" or "vf_encoder"), (B, F) float."""
        if self._flat_box and obs.dim() == 2:  # type: ignore[union-attr]
            return obs.float()  # type: ignore[union-attr]
        if self._flat:
            return self._modules[encoder].flatten.forward(obs)  # type: ignore[union-attr]
        return self._modules[encoder](obs)  # type: ignore[misc]

    def _latents(self, obs: TensorObs) -> tuple[torch.Tensor, torch.Tensor]:
        modules = self._modules
        features = self._features(obs, "pi_encoder")
        pi_latent = _run(modules["pi_net"], features)  # (B, H)
        if self.shared:
            return pi_latent, pi_latent
        vf_features = features if self._flat else self._features(obs, "vf_encoder")
        return pi_latent, _run(modules["vf_net"], vf_features)  # (B, H) each

    def _params_from_latent(self, pi_latent: torch.Tensor) -> PolicyParams:
        out = _linear(self._modules["action_net"], pi_latent)  # (B, A) means or (B, n) logits
        if self.is_discrete:
            return PolicyParams(torch.log_softmax(out, dim=-1), None)
        return PolicyParams(out, self._parameters["log_std"])

    def _value_from_latent(self, vf_latent: torch.Tensor) -> torch.Tensor:
        return _linear(self._modules["value_net"], vf_latent).squeeze(-1)  # (B,)

    def pi_params(self, obs: TensorObs) -> PolicyParams:
        """The distribution parameters only (the value tower is skipped when it is separate)."""
        return self._params_from_latent(_run(self._modules["pi_net"], self._features(obs, "pi_encoder")))

    def value(self, obs: TensorObs) -> torch.Tensor:
        """V(s), shape (B,)."""
        tower = "pi" if self.shared else "vf"
        return self._value_from_latent(_run(self._modules[f"{tower}_net"], self._features(obs, f"{tower}_encoder")))

    # --------------------------------------------------------------------------------------- distribution algebra
    def log_prob(self, params: PolicyParams, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a|s), shape (B,). Box: log N(a; mean, std^2) summed over the A dimensions of the unclipped sample."""
        if params.log_std is None:
            return params.loc.gather(-1, actions.long().reshape(-1, 1)).squeeze(-1)  # (B,)
        z = (actions - params.loc) * torch.exp(-params.log_std)  # (B, A) standardised sample
        return (-0.5 * z.pow(2) - params.log_std - HALF_LOG_2PI).sum(-1)  # (B,)

    def entropy(self, params: PolicyParams) -> torch.Tensor:
        """H[pi(.|s)], shape (B,). Gaussian: sum_i (1/2 + log(2 pi)/2 + log_std_i), the same for every state."""
        if params.log_std is None:
            return -(params.loc.exp() * params.loc).sum(-1)  # (B,)
        return (0.5 + HALF_LOG_2PI + params.log_std).sum().expand(params.loc.shape[0])  # (B,)

    def kl(self, old: PolicyParams, new: PolicyParams) -> torch.Tensor:
        """KL(pi_old(.|s) || pi_new(.|s)) per state, shape (B,): the TRPO constraint (arXiv:1502.05477, Eq. 12).

        Gaussian, per dimension: log(std_new / std_old) + (std_old^2 + (mean_old - mean_new)^2) / (2 std_new^2) - 1/2.
        Categorical: sum_a p_old(a) (log p_old(a) - log p_new(a)).
        """
        if old.log_std is None or new.log_std is None:
            return (old.loc.exp() * (old.loc - new.loc)).sum(-1)  # (B,)
        var_ratio = torch.exp(2.0 * (old.log_std - new.log_std))  # (A,) std_old^2 / std_new^2
        mean_term = (old.loc - new.loc).pow(2) * torch.exp(-2.0 * new.log_std)  # (B, A)
        return (new.log_std - old.log_std + 0.5 * (var_ratio + mean_term) - 0.5).sum(-1)  # (B,)

    def sample(self, params: PolicyParams, deterministic: bool = False) -> torch.Tensor:
        """A draw from pi(.|s), or its mode (the mean / the argmax) when deterministic. (B, A) float or (B,) int64."""
        if params.log_std is None:
            if deterministic:
                return params.loc.argmax(-1)
            return _sample_categorical(params.loc.exp())  # (B,)
        if deterministic:
            return params.loc
        return params.loc + params.log_std.exp() * torch.randn_like(params.loc)  # (B, A)

    def distribution(self, obs: TensorObs) -> Distribution:
        """pi(.|s) as a `torch.distributions` object: Independent(Normal, 1) for Box, Categorical for Discrete."""
        params = self.pi_params(obs)
        if params.log_std is None:
            return Categorical(logits=params.loc, validate_args=False)
        std = params.log_std.exp().expand_as(params.loc)  # (B, A)
        return Independent(Normal(params.loc, std, validate_args=False), 1, validate_args=False)

    # --------------------------------------------------------------------------------------------- the interface
    def forward(self, obs: TensorObs, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(actions, values, log_probs) for collecting a rollout; actions are unclipped (see the module docstring)."""
        pi_latent, vf_latent = self._latents(obs)
        params = self._params_from_latent(pi_latent)
        actions = self.sample(params, deterministic)
        return actions, self._value_from_latent(vf_latent), self.log_prob(params, actions)

    def evaluate_actions(
        self, obs: TensorObs, actions: torch.Tensor, entropy_grad: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(values, log_probs, entropy) of stored actions under the current parameters, each (B,).

        `entropy_grad=False` computes the entropy without autograd (a detached diagnostic): for a loss whose entropy
        coefficient is 0, whose backward would only add zeros through it.
        """
        pi_latent, vf_latent = self._latents(obs)
        params = self._params_from_latent(pi_latent)
        # Values, log-probs, entropy in this order: autograd sums the gradients that meet at a tensor in the order the
        # ops were recorded, so another order would change the gradients in the last bit.
        values, log_probs = self._value_from_latent(vf_latent), self.log_prob(params, actions)
        if entropy_grad:
            return values, log_probs, self.entropy(params)
        with torch.no_grad():
            return values, log_probs, self.entropy(params)

    def act(self, obs: TensorObs, deterministic: bool = False) -> torch.Tensor:
        """Actions only (unclipped for Box)."""
        return self.sample(self.pi_params(obs), deterministic)
